"""Transport and hostile input: body size and media type, malformed JSON,
odd HTTP that evhttp would accept, pipelining, slow clients (slowloris,
handshakes never finished, idle keep-alives), the connection cap, running
out of descriptors, and the submission queue's bound."""

import json
import re
import socket
import ssl
import threading
import time
import uuid

from .lib import (Client, Daemon, TableLock, check, closed_within, counts, error_code,
                  example, example_json, in_background, is_error, keyed_cases, new_key,
                  post_in_background, raw_tls, read_responses, responses, status_of,
                  stop_cleanly, test, tls_connect, tls_context, wait_until)


@test
def bodies_must_be_json_of_bounded_size():
    d = Daemon("small", max_body=4096).start()
    try:
        c = Client(d, "gateway")
        before = counts()
        big = example_json("reports.self-harm.valid.json")
        big["narrative"] = "测" * 1500      # about 5 KB: over the limit, under twice it
        st, h, b = c.post("/v1/reports", big, new_key())
        check(is_error(st, b, 413, "body_too_large"), "a body over max_body is 413 body_too_large",
              (st, b))
        check(h.get("connection", "").lower() == "close", "and the connection is closed", h)
        # Only the headers are sent: the announced length alone gets the answer.
        out = c.raw(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Idempotency-Key: big\r\nContent-Length: 100000\r\n\r\n")
        check(status_of(out) == 413, "a body far over the limit is 413 before it is read",
              out[:200])
        check(counts() == before, "nothing is stored", (before, counts()))
        exact = example_json("reports.self-harm.valid.json")
        exact["narrative"] = ""
        size = len(json.dumps(exact, ensure_ascii=False).encode())
        exact["narrative"] = "x" * (4096 - size)
        st, h, b = c.post("/v1/reports", exact, new_key())
        check(st == 201, "a body of exactly max_body bytes is accepted", (st, b))
        exact["narrative"] += "x"
        st, h, b = c.post("/v1/reports", exact, new_key())
        check(is_error(st, b, 413, "body_too_large"), "max_body + 1 bytes is 413", (st, b))
        for ct, want in (("text/plain", 415), ("application/jsonx", 415),
                         ("application/json; charset=latin-1", 415), ("multipart/form-data", 415),
                         (None, 415), ("application/json; charset=utf-8", 201),
                         ("Application/JSON;charset=UTF-8", 201)):
            st, h, b = c.post("/v1/reports", example("reports.self-harm.valid.json"), new_key(),
                              headers={"Content-Type": ct})
            check(st == want and (want == 201 or error_code(b) == "unsupported_media_type"),
                  "Content-Type %r is answered %d" % (ct, want), (st, b))
    finally:
        stop_cleanly(d)


MALFORMED = [
    ("NaN", b'{"a":NaN}'), ("Infinity", b'{"a":-Infinity}'), ("leading zero", b'{"a":01}'),
    ("a bare decimal point", b'{"a":2.}'), ("trailing comma", b'{"a":1,}'),
    ("single quotes", b"{'a':1}"), ("an unquoted key", b'{a:1}'),
    ("raw control character", b'{"a":"x\x01y"}'), ("raw newline in a string", b'{"a":"x\ny"}'),
    ("invalid UTF-8", b'{"a":"\xc3\x28"}'), ("overlong UTF-8", b'{"a":"\xc0\xaf"}'),
    ("UTF-8 encoded surrogate", b'{"a":"\xed\xa0\x80"}'),
    ("lone surrogate", b'{"a":"\\ud800"}'), ("lone low surrogate", b'{"a":"\\udc00x"}'),
    ("duplicate key", b'{"a":1,"a":2}'), ("duplicate key, other escapes", b'{"a":1,"\\u0061":2}'),
    ("double overflow", b'{"a":2e400}'), ("integer overflow", b'{"a":99999999999999999999}'),
    ("deep nesting", b'{"a":' + b"[" * 40 + b"]" * 40 + b"}"), ("escaped NUL", b'{"a":"\\u0000"}'),
    ("empty body", b""), ("truncated", b'{"a":'), ("byte order mark", b'\xef\xbb\xbf{"a":1}'),
    ("trailing garbage", b'{"a":1} x'), ("two values", b'{"a":1}{"a":1}'),
    ("a raw NUL after the value", b'{"a":1}\x00'), ("bad escape", b'{"a":"\\x41"}'),
]


@test
def malformed_json_is_refused_and_changes_nothing(daemon):
    c = Client(daemon, "gateway")
    before = counts()
    for what, body in MALFORMED:
        c.close()       # each on its own connection: one must not affect the next
        st, h, b = c.post("/v1/reports", body, new_key())
        check(is_error(st, b, 400, "invalid_json"),
              "malformed JSON (%s) is 400 invalid_json" % what, (st, b))
    for what, body in (("a top-level array", b"[1,2]"), ("a top-level string", b'"x"'),
                       ("a top-level null", b"null")):
        st, h, b = c.post("/v1/reports", body, new_key())
        check(is_error(st, b, 400, "not_an_object"), "%s is 400 not_an_object" % what, (st, b))
    nested = b'{"a":' + b"[" * 15 + b"]" * 15 + b"}"
    st, h, b = c.post("/v1/reports", nested, new_key())
    check(st == 400 and error_code(b) != "invalid_json",
          "nesting of 16 levels is valid JSON (refused by the schema, not the parser)", (st, b))
    st, h, b = c.post("/v1/reports", b'{"a":' + b"[" * 16 + b"]" * 16 + b"}", new_key())
    check(is_error(st, b, 400, "invalid_json"), "nesting of 17 levels is 400 invalid_json", (st, b))
    report = example("reports.self-harm.valid.json").decode()
    age = re.search(r'"age": *\d+', report).group(0)
    for value, code in (("9223372036854775807", "out_of_range"), ("-9223372036854775808",
                                                                  "out_of_range"),
                        ("9223372036854775808", "invalid_json"), ("12.0", "wrong_type"),
                        ("1.2e1", "wrong_type"), ("\"12\"", "wrong_type"), ("null", "wrong_type")):
        st, h, b = c.post("/v1/reports", report.replace(age, '"age": ' + value).encode(), new_key())
        check(is_error(st, b, 400, code), "child.age %s is 400 %s" % (value, code), (st, b))
    check(counts() == before, "malformed bodies store nothing", (before, counts()))
    check(Client(daemon, None).get("/healthz")[0] == 200, "the daemon still serves")


@test
def a_nul_byte_in_one_body_does_not_poison_the_next_request_on_the_connection(daemon):
    c = Client(daemon, "gateway")
    st, h, b = c.post("/v1/reports", b'{"a":"x"}\x00', new_key())
    check(is_error(st, b, 400, "invalid_json"), "a body with a raw NUL byte is 400 invalid_json",
          (st, b))
    reused = c.conn is not None
    st, h, b = c.post("/v1/reports", example("reports.self-harm.valid.json"), new_key())
    check(st == 201, "the next, valid request on the same keep-alive connection is stored (201)"
          " (connection %s)" % ("reused" if reused else "closed by the daemon"), (st, b))
    st, h, b = c.get("/healthz")
    check(st == 200, "and so is the one after", (st, b))


def raw_post(headers, body=b"{}", path=b"/v1/reports"):
    """A POST request in bytes with these extra header lines and body."""
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + headers + b"\r\n" + body)


VALID_REPORT = example("reports.self-harm.valid.json")
N = len(VALID_REPORT)


def hostile(headers, body=VALID_REPORT, line=b"POST /v1/reports HTTP/1.1", host=b"Host: x\r\n"):
    """A POST of a VALID report under a fresh Idempotency-Key, with one thing wrong in its
    framing: only the check of that thing can refuse it."""
    return (line + b"\r\n" + host + b"Content-Type: application/json\r\nIdempotency-Key: hostile-"
            + uuid.uuid4().hex.encode() + b"\r\n" + headers + b"\r\n" + body)


def chunked(size):
    """The valid report as one chunk whose size is written as size (bytes), then the end."""
    return size + b"\r\n" + VALID_REPORT + b"\r\n0\r\n\r\n"


CL = b"Content-Length: %d\r\n" % N

# (what, request, strict): strict ones are the contract's 400 bad_request
# (or a closed connection); the others must at least not succeed.
RAW = [
    ("an absurd HTTP version", hostile(CL, line=b"POST /v1/reports HTTP/4294967295.255"), True),
    ("HTTP/2.0 on the request line", hostile(CL, line=b"POST /v1/reports HTTP/2.0"), True),
    ("two different Content-Lengths", hostile(CL + b"Content-Length: %d\r\n" % (N + 7)), True),
    ("two equal Content-Lengths", hostile(CL + CL), True),
    ("Content-Length: +N", hostile(b"Content-Length: +%d\r\n" % N), True),
    ("Content-Length: 0x2", hostile(b"Content-Length: 0x%x\r\n" % N), True),
    ("Content-Length: -1", hostile(b"Content-Length: -1\r\n"), True),
    ("Transfer-Encoding: chunked", hostile(b"Transfer-Encoding: chunked\r\n",
                                           chunked(b"%x" % N)), True),
    ("a chunk size 0x2", hostile(b"Transfer-Encoding: chunked\r\n", chunked(b"0x%x" % N)), True),
    ("a chunk size +N", hostile(b"Transfer-Encoding: chunked\r\n", chunked(b"+%x" % N)), True),
    ("Transfer-Encoding: identity with a length",
     hostile(b"Transfer-Encoding: identity\r\n" + CL), True),
    ("HTTP/1.1 without Host", hostile(CL, host=b""), True),
    ("two Host headers", hostile(CL, host=b"Host: x\r\nHost: y\r\n"), True),
    ("a NUL byte in a header value", hostile(CL + b"X-A: a\x00b\r\n"), True),
    ("an Idempotency-Key with a NUL byte in it", raw_post(
        b"Idempotency-Key: nul-" + uuid.uuid4().hex.encode() + b"\x00tail\r\n" + CL,
        VALID_REPORT), True),
    ("headers over 16 KiB", hostile(CL + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000)
                                                  for i in range(20))), True),
    ("a lower-case method", hostile(CL, line=b"post /v1/reports HTTP/1.1"), False),
    ("a garbage request line", b"\x16\x03 nonsense\r\n\r\n", True),
]


def refused(out, strict):
    """No reply at all, or a well-formed 400 (strict) or 4xx/5xx reply."""
    if not out:
        return True
    pattern = rb"HTTP/1\.[01] 400 " if strict else rb"HTTP/1\.[01] [45]\d\d "
    return re.match(pattern, out) is not None


def json_error_reply(out):
    """True if a raw reply is a JSON error body with an X-Request-Id."""
    got = responses(out)
    head = out.partition(b"\r\n\r\n")[0].lower()
    try:
        return (bool(got) and b"x-request-id:" in head
                and error_code(json.loads(got[0][1])) is not None)
    except ValueError:
        return False


# Refused by evhttp's own parser before the daemon sees the request: evhttp 2.1 answers these
# with its small HTML page and closes the connection (daemon/DESIGN.md records the limit).
EVHTTP_REFUSES = {"HTTP/2.0 on the request line", "Content-Length: 0x2", "Content-Length: -1",
                  "Transfer-Encoding: identity with a length", "headers over 16 KiB",
                  "a lower-case method", "a garbage request line"}


@test
def odd_http_is_refused_and_the_daemon_keeps_serving(daemon):
    before = counts()
    not_json, not_closed = [], []
    for what, data, strict in RAW:
        out = raw_tls(daemon.port, data, "gateway")
        if what in EVHTTP_REFUSES:
            check(refused(out, strict), "%s is refused (%s or connection closed)"
                  % (what, "400" if strict else "4xx/5xx"), out[:300])
        else:
            got = responses(out)
            code = None
            try:
                code = error_code(json.loads(got[0][1])) if got else None
            except ValueError:
                pass
            check(status_of(out) == 400 and code == "bad_request",
                  "a valid report with %s is refused 400 bad_request" % what, out[:300])
        head = out.partition(b"\r\n\r\n")[0].lower()
        if what in EVHTTP_REFUSES:
            if out and b"connection: close" not in head:
                not_closed.append("%s: %r" % (what, out[:60]))
        elif out and not json_error_reply(out):
            not_json.append("%s: %r" % (what, out[:60]))
        check(Client(daemon, None).get("/healthz")[0] == 200,
              "the daemon still serves after %s" % what)
    check(not not_json, "every refusal the daemon makes is a JSON error with X-Request-Id",
          "\n".join(not_json))
    check(not not_closed, "refusals by the HTTP parser itself close the connection",
          "\n".join(not_closed))
    check(counts() == before, "none of them stored anything", (before, counts()))
    out = raw_tls(daemon.port, b"GET /healthz HTTP/1.0\r\n\r\n", "gateway")
    check(status_of(out) == 200, "HTTP/1.0 without Host is served", out[:200])
    st, h, b = Client(daemon, "console").get("/v1/nothing-here")
    check(is_error(st, b, 404, "not_found"), "an unknown /v1/ path is 404 not_found", (st, b))
    st, h, b = Client(daemon, None).get("/etc/passwd")
    check(st == 404, "an unknown path outside /v1/ is 404", (st, b))
    for method, path in (("GET", "/v1/calls"), ("GET", "/v1/reports"), ("PUT", "/v1/calls"),
                         ("DELETE", "/v1/cases/2026-320102-00000001"), ("POST", "/healthz")):
        st, h, b = Client(daemon, "console").request(method, path)
        check(is_error(st, b, 405, "method_not_allowed"), "%s %s is 405" % (method, path), (st, b))


@test
def pipelined_requests_are_answered_in_order(daemon):
    body = example("reports.self-harm.valid.json")
    k = new_key()
    post = (b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Idempotency-Key: " + k.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body)
    s = tls_connect(daemon.port, "gateway")
    try:
        s.sendall(post + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + post)
        got = read_responses(s, 3)
    finally:
        s.close()
    st = [g[0] for g in got]
    check(st == [201, 200, 201], "a POST, a GET and the POST again on one write are answered"
          " 201, 200, 201 in order", got)
    if len(got) == 3:
        check(got[0][1] == got[2][1], "the repeated POST replays the first", got)
    check(keyed_cases("gateway", k) == "1", "one case for the key")


def trickle(sock, data, interval, stop):
    """Send data one byte at a time until stopped or refused."""
    for ch in data:
        if stop.is_set():
            return
        try:
            sock.send(bytes([ch]))
        except OSError:
            return
        time.sleep(interval)


@test
def a_slowloris_is_cut_off_at_the_request_deadline_and_never_starves_others():
    d = Daemon("slowloris", request_timeout=3, handshake_timeout=2).start()
    try:
        loris = tls_connect(d.port)
        t0 = time.monotonic()
        stop = threading.Event()
        t = threading.Thread(target=trickle, daemon=True, args=(
            loris, b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 1.0, stop))
        t.start()
        time.sleep(1.2)
        s0 = time.monotonic()
        st, h, b = Client(d, "gateway").post("/v1/reports", example("reports.self-harm.valid.json"),
                                             new_key())
        check(st == 201 and time.monotonic() - s0 < 1.5,
              "a normal client is served promptly while a slowloris trickles (%.2fs)"
              % (time.monotonic() - s0), (st, b))
        cut = closed_within(loris, 3 + 2 + 1 - (time.monotonic() - t0))
        elapsed = time.monotonic() - t0
        stop.set()
        t.join(5)
        loris.close()
        check(cut and elapsed <= 3 + 2, "a client sending its headers one byte a second is"
              " disconnected within request_timeout + 2 s (%.1fs)" % elapsed)
        # The same for a body that trickles in.
        body = example("reports.self-harm.valid.json")
        slow = tls_connect(d.port)
        t0 = time.monotonic()
        stop = threading.Event()
        slow.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Idempotency-Key: " + new_key().encode() + b"\r\nContent-Length: %d\r\n\r\n"
                     % len(body))
        t = threading.Thread(target=trickle, args=(slow, body, 0.5, stop), daemon=True)
        t.start()
        cut = closed_within(slow, 6)
        elapsed = time.monotonic() - t0
        stop.set()
        t.join(5)
        slow.close()
        check(cut and elapsed <= 3 + 2, "a body trickling in is cut off at the request deadline too"
              " (%.1fs)" % elapsed)
        # And for a second request trickling in on a keep-alive connection.
        kept = tls_connect(d.port)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check([r[0] for r in read_responses(kept, 1)] == [200], "a keep-alive connection is served")
        t0 = time.monotonic()
        stop = threading.Event()
        t = threading.Thread(target=trickle, daemon=True, args=(
            kept, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 1.0, stop))
        t.start()
        cut = closed_within(kept, 3 + 2 + 1)
        elapsed = time.monotonic() - t0
        stop.set()
        t.join(5)
        kept.close()
        check(cut and elapsed <= 3 + 2, "a second request trickled on a keep-alive connection is cut"
              " off within request_timeout + 2 s of its first byte (%.1fs)" % elapsed)
    finally:
        stop_cleanly(d)


@test
def a_client_that_never_starts_tls_is_dropped_after_the_handshake_deadline():
    d = Daemon("handshake", request_timeout=3, handshake_timeout=2).start()
    try:
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        t0 = time.monotonic()
        s0 = time.monotonic()
        st = Client(d, None).get("/healthz")[0]
        check(st == 200 and time.monotonic() - s0 < 1,
              "others are served while it sits there", st)
        cut = closed_within(raw, 6)
        elapsed = time.monotonic() - t0
        raw.close()
        check(cut and 1.5 <= elapsed <= 2 + 2,
              "a TCP client that never starts TLS is dropped after handshake_timeout (%.1fs)"
              % elapsed)
        half = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        half.sendall(b"\x16\x03\x01\x00\xff\x01")   # the start of a ClientHello, then nothing
        t0 = time.monotonic()
        cut = closed_within(half, 6)
        elapsed = time.monotonic() - t0
        half.close()
        check(cut and elapsed <= 2 + 2, "a half-sent handshake is dropped too (%.1fs)" % elapsed)
    finally:
        stop_cleanly(d)


@test
def an_idle_keep_alive_connection_is_closed_after_idle_timeout():
    d = Daemon("idle", idle_timeout=2).start()
    try:
        s = tls_connect(d.port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check([r[0] for r in read_responses(s, 1)] == [200], "the connection served a request")
        t0 = time.monotonic()
        cut = closed_within(s, 8)
        elapsed = time.monotonic() - t0
        s.close()
        check(cut and 1.5 <= elapsed <= 2 + 2,
              "then, idle, it is closed after idle_timeout (%.1fs)" % elapsed)
    finally:
        stop_cleanly(d)


@test
def connections_are_capped():
    d = Daemon("capped", max_connections=8).start()
    try:
        held = [tls_connect(d.port) for _ in range(8)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(all([r[0] for r in read_responses(s, 1)] == [200] for s in held),
              "eight keep-alive connections are served")
        ninth = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        result = []

        def handshake_and_ask():
            try:
                t = tls_context("gateway").wrap_socket(ninth, server_hostname="localhost")
                t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                result.append((time.monotonic(), read_responses(t, 1, 10)))
                t.close()
            except (ssl.SSLError, OSError) as e:
                result.append((time.monotonic(), e))
        t = threading.Thread(target=handshake_and_ask, daemon=True)
        t.start()
        t.join(2)
        check(not result, "a ninth connection is not served while eight are open", result)
        held[0].close()
        closed_at = time.monotonic()
        t.join(10)
        ok = result and isinstance(result[0][1], list) and [r[0] for r in result[0][1]] == [200]
        check(ok, "once one of them closes, the waiting ninth is served (%.2fs)"
              % (result[0][0] - closed_at if result else -1), result)
        for s in held[1:]:
            s.close()
        ok = wait_until(lambda: Client(d, None).get("/healthz")[0] == 200, 5, 0.2)
        check(ok, "after they all close, new connections are served")
    finally:
        stop_cleanly(d)


@test
def a_daemon_short_of_descriptors_caps_connections_below_them_and_recovers():
    d = Daemon("fdlimit").start(max_files=(48, 48))
    sockets = []
    try:
        log = d.logtext()
        check("event=descriptors limit=48 max_connections=12" in log,
              "it logs its descriptor limit and caps connections below it (48 - 32 kept - 4 for"
              " the pool = 12)", [ln for ln in log.splitlines() if "descriptors" in ln])
        for _ in range(60):
            sockets.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        time.sleep(1)
        check(d.running(), "the daemon survives more connections than it has descriptors",
              d.logtail())
        check("event=accept_paused" not in d.logtext(),
              "the cap stops accepting before the descriptors run out (no EMFILE)", d.logtail())
        t, got = in_background(lambda: Client(d, None, 10).get("/healthz")[0])
        for s in sockets:
            s.close()
        t.join(10)
        check(got[0] == 200, "a client waiting meanwhile is served once connections free up",
              got)
    finally:
        for s in sockets:
            s.close()
        stop_cleanly(d)
    d = Daemon("fdraise").start(max_files=(256, 4096))
    try:
        check("event=descriptors limit=4096 " in d.logtext(),
              "a daemon started with a soft limit below the hard one raises it to the hard limit",
              [ln for ln in d.logtext().splitlines() if "descriptors" in ln])
    finally:
        stop_cleanly(d)


@test
def more_waiting_submissions_than_queue_max_get_503_at_once():
    d = Daemon("queue", queue_max=2, db_pool_size=1, retry_after=3).start()
    try:
        body = example("reports.self-harm.valid.json")
        with TableLock(2):
            posts = [post_in_background(d, "gateway", "/v1/reports", body, new_key())
                     for _ in range(8)]
            time.sleep(1)
            early = [r[0] for _, r in posts if r[0] is not None]
            for t, _ in posts:
                t.join(20)
        res = [r[0] for _, r in posts]
        statuses = sorted(r[0] if isinstance(r, tuple) else repr(r) for r in res)
        busy = [r for r in res if isinstance(r, tuple) and r[0] == 503]
        check(busy and all(error_code(r[2]) == "unavailable" and r[1].get("retry-after") == "3"
                           for r in busy),
              "submissions beyond queue_max are 503 unavailable with Retry-After", statuses)
        check(len(early) >= len(busy) and all(r[0] == 503 for r in early),
              "they are refused at once, not after the database frees up",
              [r[0] if isinstance(r, tuple) else r for r in early])
        check(set(statuses) <= {201, 503} and statuses.count(201) >= 2,
              "the queued ones complete with 201 when the database frees up", statuses)
    finally:
        stop_cleanly(d)


@test
def a_connection_without_a_certificate_gets_one_answer_and_its_own_small_budget():
    d = Daemon("anon", max_anon_connections=4, anon_timeout=2,
               max_handshakes_per_address=5, handshake_timeout=3).start()
    held = []
    try:
        s = tls_connect(d.port, None)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        got = read_responses(s, 1)
        check([r[0] for r in got] == [200] and closed_within(s, 1)
              and time.monotonic() - t0 < 1.5,
              "without a certificate /healthz is answered, then the connection is closed at once"
              " (not at anon_timeout)", got)
        s.close()
        out = raw_tls(d.port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", None)
        check(status_of(out) == 200 and b"connection: close" in out.lower(),
              "its answer says Connection: close", out[:300])
        out = raw_tls(d.port, b"GET /v1/cases/2026-320102-00000001 HTTP/1.1\r\nHost: x\r\n\r\n",
                      None)
        check(status_of(out) == 401 and b"connection: close" in out.lower(),
              "a /v1/ request without one is 401 with Connection: close", out[:200])
        check(b"strict-transport-security: max-age=" in out.lower(),
              "an error carries Strict-Transport-Security too", out[:300])
        s = tls_connect(d.port, None)
        t0 = time.monotonic()
        cut = closed_within(s, 6)
        check(cut and time.monotonic() - t0 <= 2 + 1.5,
              "an idle connection without a certificate is closed after anon_timeout (%.1fs)"
              % (time.monotonic() - t0))
        s.close()
        for _ in range(6):
            held.append(tls_connect(d.port, None))
        time.sleep(0.3)
        closed = sum(1 for s in held if closed_within(s, 0.3))
        check(closed == 2, "beyond max_anon_connections (4) they are closed at once (%d of 6)"
              % closed)
        st, h, b = Client(d, "gateway").post("/v1/reports", example("reports.self-harm.valid.json"),
                                             new_key())
        check(st == 201, "a certified client is served meanwhile", (st, b))
        for s in held:
            s.close()
        held = []
        for _ in range(8):
            held.append(source_connect(d.port, "127.0.0.2"))
        time.sleep(0.5)
        closed = sum(1 for s in held if closed_within(s, 0.3))
        check(closed == 3, "more than max_handshakes_per_address (5) handshakes from one address:"
              " the others are closed at once (%d of 8)" % closed)
        other = source_connect(d.port, "127.0.0.3")
        check(not closed_within(other, 0.5), "another address may still start a handshake")
        other.close()
        st = Client(d, "console").get("/v1/cases/2026-320102-00000001")[0]
        check(st in (200, 404), "and so may a certified client from its own", st)
        check("event=conn_refused reason=handshakes_per_address" in d.logtext()
              and "event=conn_refused reason=max_anon_connections" in d.logtext(),
              "refusals are logged (counted, at most once a second)", d.logtail())
    finally:
        for s in held:
            s.close()
        stop_cleanly(d)


def source_connect(port, source, timeout=10):
    """A plain TCP connection to the daemon from a given loopback address."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def percentile(values, p):
    """The p-th percentile (0-100) of some numbers, nearest rank."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))] if v else None


def certified_submissions(d, n):
    """n reports filed one after another, each on a new connection of a certified client;
    (statuses, latencies in seconds)."""
    statuses, took = [], []
    for _ in range(n):
        t0 = time.monotonic()
        try:
            st = Client(d, "gateway", timeout=10).post(
                "/v1/reports", example("reports.self-harm.valid.json"), new_key())[0]
        except (OSError, ssl.SSLError) as e:
            st = repr(e)[:60]
        statuses.append(st)
        took.append(time.monotonic() - t0)
    return statuses, took


@test(limit=150)
def a_flood_of_unauthenticated_connections_never_crowds_out_certified_clients():
    d = Daemon("flood").start()
    stop = threading.Event()
    slow, idle = [], []

    def open_slow():
        # Slow: TCP connections that never start TLS, from 50 addresses.
        for i in range(2500):
            if stop.is_set():
                return
            try:
                slow.append(source_connect(d.port, "127.0.1.%d" % (1 + i % 50), 5))
            except OSError:
                pass

    def open_idle():
        # Idle: TLS without a certificate, then nothing; reopened as they are closed.
        while not stop.is_set():
            try:
                idle.append(tls_connect(d.port, None, 5))
            except (OSError, ssl.SSLError):
                time.sleep(0.01)
            if len(idle) > 600:
                for s in idle[:300]:
                    s.close()
                del idle[:300]
    try:
        quiet, quiet_took = certified_submissions(d, 30)
        flooders = [threading.Thread(target=open_slow, daemon=True),
                    threading.Thread(target=open_idle, daemon=True)]
        for t in flooders:
            t.start()
        time.sleep(2)
        loud, loud_took = certified_submissions(d, 40)
        n_slow, n_idle = len(slow), len(idle)
        stop.set()
        for t in flooders:
            t.join(30)
        print("# certified submissions, each on a new connection: quiet p50=%.1fms p99=%.1fms;"
              " under a flood of %d slow and %d+ idle unauthenticated connections p50=%.1fms"
              " p99=%.1fms" % (1000 * percentile(quiet_took, 50), 1000 * percentile(quiet_took, 99),
                               n_slow, n_idle, 1000 * percentile(loud_took, 50),
                               1000 * percentile(loud_took, 99)))
        check(n_slow >= 2000, "the flood held %d slow connections open" % n_slow)
        check(all(s == 201 for s in quiet + loud),
              "every certified submission succeeds, with and without the flood",
              [s for s in quiet + loud if s != 201][:5])
        check(percentile(loud_took, 99) < 5.0,
              "and none waits anywhere near a timeout (p99 %.2fs < 5s)" % percentile(loud_took, 99))
        check(d.running(), "the daemon survives the flood", d.logtail())
    finally:
        stop.set()
        for s in slow + idle:
            s.close()
        stop_cleanly(d)
