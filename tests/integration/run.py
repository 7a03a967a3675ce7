#!/usr/bin/env python3
"""Integration tests for hotlined against the real daemon, real TLS and a
real PostgreSQL.  Prints one TAP line per check; exits 1 if any failed.

    run.py --binary build/hotlined --var <dir made by daemon/dev/setup.sh>
           [--sanitizers] [-k substring]
"""

import argparse
import glob
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import Client, Daemon, counts, example, psql, scalar, wait_until  # noqa: E402

TESTS = []
RESULTS = {"passed": 0, "failed": 0}
CASE_NUMBER = re.compile(r"^(\d{4})-(\d{6})-(\d{8})$")
RECEIPT = re.compile(r"^R[A-Z2-7]{20}$")


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, name, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print("ok - " + name)
    else:
        RESULTS["failed"] += 1
        print("not ok - " + name)
        for line in str(detail).splitlines()[:20]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def key():
    return "it-" + uuid.uuid4().hex


D = None   # the shared daemon with the default configuration


# ---------------------------------------------------------------- basics

@test
def health_needs_no_certificate():
    c = Client(D, None)
    st, h, body = c.get("/healthz")
    check(st == 200 and body == {"status": "ok"}, "GET /healthz without a certificate answers 200",
          (st, body))
    st, h, body = c.get("/readyz")
    check(st == 200 and body == {"status": "ready"}, "GET /readyz answers 200 with the database up",
          (st, body))
    check(re.match(r"^[0-9a-f]{16}$", h.get("x-request-id", "")) is not None,
          "every response carries an X-Request-Id", h)


@test
def operator_logs_a_silent_call():
    before = counts()
    st, h, body = Client(D, "console").post("/v1/calls", example("calls.silent.valid.json"), key())
    check(st == 201 and "call_id" in body and "case_number" not in body,
          "a silent call is stored without a case", (st, body))
    after = counts()
    check(after[0] == before[0] + 1 and after[1] == before[1],
          "one call row and no case row were written", (before, after))
    row = psql("select disposition, caller_type, case_id is null from hotline.calls where call_id = :'a0'",
               body.get("call_id"))
    check(row == [["silent", "unknown", "t"]], "the stored call matches what was sent", row)


@test
def operator_opens_a_case_from_a_call():
    c = Client(D, "console")
    st, h, body = c.post("/v1/calls", example("calls.case-opened.valid.json"), key())
    m = CASE_NUMBER.match(body.get("case_number", "") if isinstance(body, dict) else "")
    check(st == 201 and m is not None and m.group(2) == "320102",
          "a call that opens a case gets a case number with the child's region", (st, body))
    if not m:
        return
    number = body["case_number"]
    row = psql("select c.source, c.risk_level, c.region_code, h.region_code, k.disposition,"
               " (select count(*) from hotline.case_categories where case_id = c.id),"
               " (select kind from hotline.case_events where case_id = c.id and seq = 1)"
               " from hotline.cases c join hotline.children h on h.case_id = c.id"
               " join hotline.calls k on k.case_id = c.id where c.case_number = :'a0'", number)
    check(row == [["call", "2", "320102", "320102", "case_opened", "1", "created"]],
          "the case, child, call link and first history event are stored together", row)
    st, h, view = c.get("/v1/cases/" + number)
    check(st == 200 and view["case_number"] == number and view["source"] == "call"
          and view["calls"][0]["call_id"] == body["call_id"]
          and view["history"][0]["kind"] == "created",
          "its creator sees the case with its call and history", (st, view))


@test
def gateway_files_a_mandatory_report():
    g = Client(D, "gateway")
    st, h, body = g.post("/v1/reports", example("reports.missing-immediate-danger.valid.json"), key())
    ok = check(st == 201 and CASE_NUMBER.match(body.get("case_number", ""))
               and RECEIPT.match(body.get("receipt_id", "")),
               "a report gets a case number and an unguessable receipt id", (st, body))
    if not ok:
        return
    check(body["risk_level"] == 1, "immediate danger makes the report risk level 1", body)
    row = psql("select r.situations::text, r.immediate_danger, c.risk_level,"
               " (select string_agg(category || '/' || subcategory, ',' order by subcategory)"
               "  from hotline.case_categories where case_id = c.id)"
               " from hotline.reports r join hotline.cases c on c.id = r.case_id"
               " where r.receipt_id = :'a0'", body["receipt_id"])
    check(row == [["{7,9}", "t", "1", "abuse/other_serious,abuse/trafficking_missing"]],
          "situations map to categories and are stored", row)
    st, h, body2 = g.post("/v1/reports", example("reports.sexual-abuse.valid.json"), key())
    check(st == 201 and body2["risk_level"] == 2, "situations 1-3 make a report at least level 2",
          body2)
    st, h, view = g.get("/v1/cases/" + body["case_number"])
    check(st == 200 and view["report"]["receipt_id"] == body["receipt_id"]
          and view["report"]["situations"] == [7, 9],
          "the gateway that filed it sees the case", (st, view))
    for who in ("admin",):
        st, h, v = Client(D, who).get("/v1/cases/" + body["case_number"])
        check(st == 200 and v["case_number"] == body["case_number"], "an admin sees any case", st)
    for who in ("gateway2", "console", "console2", "police-320102"):
        st, h, v = Client(D, who).get("/v1/cases/" + body["case_number"])
        check(st == 404 and v["error"]["code"] == "not_found",
              "%s gets 404 for a case it did not create" % who, (st, v))
    for bad in ("2026-320102-1", "..%2F..%2Fetc", "2026-320102-00000001x"):
        st, h, v = g.get("/v1/cases/" + bad)
        check(st == 404, "malformed case number %r is simply not found" % bad, (st, v))


@test
def curl_files_a_report():
    path = os.path.join(lib.EXAMPLES, "reports.neglect-community.valid.json")
    out = subprocess.run(
        ["curl", "-sS", "--cacert", lib.pki("ca.crt"), "--cert", lib.pki("gateway.crt"),
         "--key", lib.pki("gateway.key"), "-H", "Content-Type: application/json",
         "-H", "Idempotency-Key: " + key(), "--data-binary", "@" + path,
         "-w", "\n%{http_code}", "https://127.0.0.1:%d/v1/reports" % D.port],
        capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    ok = check(code == "201", "curl files a report and gets 201", out.stdout + out.stderr)
    if ok:
        number = json.loads(body)["case_number"]
        check(scalar("select count(*) from hotline.cases where case_number = :'a0'", number) == "1",
              "the case filed with curl is in the database", number)


# ---------------------------------------------------------------- the contract's examples

@test
def every_proto_example_behaves_as_documented():
    with open(os.path.join(lib.EXAMPLES, "expected.json")) as f:
        expected = json.load(f)
    clients = {"calls": Client(D, "console"), "reports": Client(D, "gateway")}
    for path in sorted(glob.glob(os.path.join(lib.EXAMPLES, "*.json"))):
        name = os.path.basename(path)
        if name == "expected.json":
            continue
        endpoint = name.split(".")[0]
        before = counts()
        st, h, body = clients[endpoint].post("/v1/" + endpoint, example(name), key())
        after = counts()
        if name.endswith(".valid.json"):
            check(st == 201 and after[1:] != before[1:] or (st == 201 and after[0] > before[0]),
                  "valid example %s is stored (201)" % name, (st, body))
        else:
            exp = expected[name]
            err = body.get("error", {}) if isinstance(body, dict) else {}
            check(st == exp["status"] and err.get("code") == exp["code"]
                  and err.get("field") == exp.get("field"),
                  "invalid example %s gets %s %s %s" % (name, exp["status"], exp["code"],
                                                        exp.get("field", "")), (st, body))
            check(after == before, "invalid example %s stores nothing" % name, (before, after))


def schema_validator(name):
    """A validator for proto/schemas/<name>, resolving references between the files."""
    import jsonschema
    sdir = os.path.join(lib.ROOT, "proto", "schemas")
    docs = {}
    for f in glob.glob(os.path.join(sdir, "*.json")):
        with open(f) as fh:
            d = json.load(fh)
        docs[d["$id"]] = d
    schema = docs["https://hotlined.invalid/schemas/" + name]
    try:
        from referencing import Registry, Resource
        reg = Registry().with_resources([(k, Resource.from_contents(v)) for k, v in docs.items()])
        return jsonschema.Draft202012Validator(schema, registry=reg)
    except ImportError:
        resolver = jsonschema.RefResolver.from_schema(schema, store=docs)
        return jsonschema.Draft202012Validator(schema, resolver=resolver)


@test
def bodies_conform_to_the_published_schemas():
    try:
        v = {n: schema_validator(n + ".schema.json") for n in
             ("calls.request", "calls.response", "reports.request", "reports.response",
              "case.response", "error", "health.response")}
    except ImportError as e:
        check(False, "jsonschema is installed (daemon/dev/deps.sh installs python3-jsonschema)", e)
        return
    for path in sorted(glob.glob(os.path.join(lib.EXAMPLES, "*.valid.json"))):
        name = os.path.basename(path)
        errs = list(v[name.split(".")[0] + ".request"].iter_errors(json.loads(example(name))))
        check(not errs, "valid example %s conforms to its request schema" % name,
              [e.message[:200] for e in errs[:3]])
    g, o = Client(D, "gateway"), Client(D, "console")
    st, h, rep = g.post("/v1/reports", example("reports.full-child-record.valid.json"), key())
    check(st == 201 and not list(v["reports.response"].iter_errors(rep)),
          "a report's 201 conforms to reports.response", rep)
    st, h, call = o.post("/v1/calls", example("calls.case-opened.valid.json"), key())
    check(st == 201 and not list(v["calls.response"].iter_errors(call)),
          "a call's 201 conforms to calls.response", call)
    for who, number in ((g, rep["case_number"]), (o, call["case_number"])):
        st, h, view = who.get("/v1/cases/" + number)
        errs = list(v["case.response"].iter_errors(view))
        check(st == 200 and not errs, "the case view of %s conforms to case.response" % number,
              [e.message[:200] for e in errs[:3]])
    st, h, err = g.post("/v1/reports", example("reports.age-eighteen.invalid.json"), key())
    check(st == 400 and not list(v["error"].iter_errors(err)), "an error conforms to error", err)
    st, h, hz = Client(D, None).get("/healthz")
    check(not list(v["health.response"].iter_errors(hz)), "/healthz conforms to health.response")


# ---------------------------------------------------------------- idempotency

@test
def idempotent_retries_replay_the_original_answer():
    g = Client(D, "gateway")
    k = key()
    body = example("reports.self-harm.valid.json")
    st1, h1, b1 = g.post("/v1/reports", body, k)
    before = counts()
    st2, h2, b2 = g.post("/v1/reports", body, k)
    check(st1 == 201 and st2 == 201 and b1 == b2, "the same key and body replay the same response",
          (b1, b2))
    check(h2.get("idempotent-replayed") == "true" and "idempotent-replayed" not in h1,
          "a replay is marked Idempotent-Replayed: true", (h1, h2))
    check(counts() == before, "a replay stores nothing new", (before, counts()))
    st3, h3, b3 = g.post("/v1/reports", example("reports.sexual-abuse.valid.json"), k)
    check(st3 == 422 and b3["error"]["code"] == "idempotency_key_reused",
          "the same key with a different body is 422 idempotency_key_reused", (st3, b3))
    st4, h4, b4 = Client(D, "gateway2").post("/v1/reports", body, k)
    check(st4 == 201 and b4["case_number"] != b1["case_number"],
          "the same key from another client is an independent submission", (st4, b4))
    st5, h5, b5 = g.post("/v1/reports", body)
    check(st5 == 400 and b5["error"]["code"] == "missing_idempotency_key",
          "a POST without Idempotency-Key is 400", (st5, b5))
    for bad in ("has space", "k" * 129, "é"):
        try:
            st6, h6, b6 = g.post("/v1/reports", body, headers={"Idempotency-Key": bad})
        except Exception as e:     # http.client refuses to send some header values
            st6, b6 = None, str(e)
        if st6 is not None:
            check(st6 == 400 and b6["error"]["code"] == "invalid_idempotency_key",
                  "Idempotency-Key %r is 400 invalid_idempotency_key" % bad[:20], (st6, b6))
    # The reused key and the errors changed nothing: one idempotency row for k from gateway.
    n = scalar("select count(*) from hotline.idempotency i join hotline.clients c on c.id = i.client_id"
               " where i.key = :'a0' and c.name = 'gateway'", k)
    check(n == "1", "exactly one record is kept for the key", n)


class TableLock:
    """Holds an exclusive lock on hotline.cases from a psql session."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("begin; lock table hotline.cases in exclusive mode;"
                              " select 'locked'; select pg_sleep(%s); commit;\n" % self.seconds)
        self.proc.stdin.close()
        wait_until(lambda: scalar("select count(*) from pg_locks l join pg_class c on c.oid ="
                                  " l.relation where c.relname = 'cases' and l.mode ="
                                  " 'ExclusiveLock' and l.granted") == "1", 10)
        return self

    def __exit__(self, *exc):
        self.proc.wait(30)


def post_async(client, path, body, k, results, idx):
    def run():
        try:
            results[idx] = client.post(path, body, k)
        except Exception as e:
            results[idx] = e
    t = threading.Thread(target=run)
    t.start()
    return t


@test
def a_retry_while_the_first_is_in_flight_is_409():
    body = example("reports.organised-begging.valid.json")
    k = key()
    res = [None, None]
    with TableLock(2):
        t = post_async(Client(D, "gateway"), "/v1/reports", body, k, res, 0)
        time.sleep(0.5)
        st, h, b = Client(D, "gateway").post("/v1/reports", body, k)
        check(st == 409 and b["error"]["code"] == "idempotency_in_flight",
              "a second request with the key still in flight is 409", (st, b))
        t.join(20)
    check(res[0] is not None and not isinstance(res[0], Exception) and res[0][0] == 201,
          "the first request completes with 201 once the database frees up", res[0])
    # Across two daemons the database's advisory lock gives the same answer.
    other = Daemon("second").start()
    try:
        k2 = key()
        with TableLock(2):
            t = post_async(Client(D, "gateway"), "/v1/reports", body, k2, res, 1)
            time.sleep(0.5)
            st, h, b = Client(other, "gateway").post("/v1/reports", body, k2)
            check(st == 409 and b["error"]["code"] == "idempotency_in_flight",
                  "the same key in flight in another daemon is 409", (st, b))
            t.join(20)
        check(not isinstance(res[1], Exception) and res[1] and res[1][0] == 201,
              "and the first daemon's request completes", res[1])
    finally:
        check(other.stop() == 0, "the second daemon stops cleanly")


# ---------------------------------------------------------------- authentication

def attempt(cert, method="GET", path="/v1/cases/2026-320102-00000001", body=None, k=None):
    try:
        c = Client(D, cert, timeout=5)
        if method == "GET":
            return c.get(path)
        return c.post(path, body, k)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return ("refused", str(e), None)


@test
def clients_are_identified_by_certificate():
    st, h, b = attempt(None, "POST", "/v1/calls", example("calls.silent.valid.json"), key())
    check(st == 401 and b["error"]["code"] == "certificate_required",
          "no certificate on /v1/ is 401 certificate_required", (st, b))
    before = counts()
    r = attempt("stranger", "POST", "/v1/calls", example("calls.silent.valid.json"), key())
    check(r[0] == "refused" or r[0] in (401, 403),
          "a certificate from another CA is refused", r)
    check(counts() == before, "and nothing is stored")
    st, h, b = attempt("unregistered")
    check(st == 403 and b["error"]["code"] == "client_unknown",
          "a CA-signed but unregistered certificate is 403 client_unknown", (st, b))
    st, h, b = attempt("revoked")
    check(st == 403 and b["error"]["code"] == "client_revoked",
          "a revoked client is 403 client_revoked", (st, b))
    st, h, b = attempt("gateway", "POST", "/v1/calls", example("calls.silent.valid.json"), key())
    check(st == 403 and b["error"]["code"] == "forbidden", "a gateway may not log calls", (st, b))
    st, h, b = attempt("console", "POST", "/v1/reports", example("reports.self-harm.valid.json"),
                       key())
    check(st == 403 and b["error"]["code"] == "forbidden", "an operator may not file reports",
          (st, b))
    st, h, b = attempt("police-320102", "POST", "/v1/reports",
                       example("reports.self-harm.valid.json"), key())
    check(st == 403, "an agency may not file reports", (st, b))
    check(counts() == before, "refused requests store nothing")


@test
def a_revocation_takes_effect_at_once():
    fpr = subprocess.run(["bash", os.path.join(lib.ROOT, "daemon/dev/fingerprint.sh"),
                          lib.pki("console2.crt")], capture_output=True, text=True).stdout.strip()
    c = Client(D, "console2")
    st, h, b = c.post("/v1/calls", example("calls.hang-up.valid.json"), key())
    check(st == 201, "console2 can log a call", (st, b))
    psql("select hotline.client_revoke('console2')")
    try:
        got = wait_until(lambda: Client(D, "console2").post(
            "/v1/calls", example("calls.hang-up.valid.json"), key())[0] == 403, 3, 0.1)
        check(got, "within moments of revocation its requests get 403")
        st, h, b = c.post("/v1/calls", example("calls.hang-up.valid.json"), key())
        check(st == 403 and b["error"]["code"] == "client_revoked",
              "even on a connection opened before the revocation", (st, b))
    finally:
        psql("select hotline.client_upsert('console2', 'operator', null, :'a0')", fpr)
    got = wait_until(lambda: Client(D, "console2").post(
        "/v1/calls", example("calls.hang-up.valid.json"), key())[0] == 201, 3, 0.1)
    check(got, "re-registering the certificate restores access")


# ---------------------------------------------------------------- hostile HTTP

@test
def bodies_must_be_json_of_bounded_size():
    d = Daemon("small", max_body=4096).start()
    try:
        c = Client(d, "gateway")
        before = counts()
        big = json.loads(example("reports.self-harm.valid.json"))
        big["narrative"] = "测" * 1500      # about 5 KB: over the limit, under twice it
        st, h, b = c.post("/v1/reports", big, key())
        check(st == 413 and isinstance(b, dict) and b["error"]["code"] == "body_too_large",
              "a body over max_body is 413 body_too_large", (st, b))
        # Only the headers are sent: the announced length alone gets the answer.
        out = lib.raw_tls(d.port, b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nIdempotency-Key: big\r\nContent-Length: 100000"
                          b"\r\n\r\n", "gateway")
        check(lib.status_of(out) == 413, "a body far over the limit is 413 before it is read",
              out[:200])
        check(counts() == before, "nothing is stored")
        st, h, b = Client(d, "gateway").request(
            "POST", "/v1/reports", body=example("reports.self-harm.valid.json"),
            headers={"Content-Type": "text/plain", "Idempotency-Key": key()})
        check(st == 415 and b["error"]["code"] == "unsupported_media_type",
              "a wrong Content-Type is 415", (st, b))
        st, h, b = Client(d, "gateway").request(
            "POST", "/v1/reports", body=example("reports.self-harm.valid.json"),
            headers={"Content-Type": "application/json; charset=utf-8",
                     "Idempotency-Key": key()})
        check(st == 201, "application/json; charset=utf-8 is accepted", (st, b))
    finally:
        check(d.stop() == 0, "the small-body daemon stops cleanly")


MALFORMED = [
    ("NaN", b'{"a":NaN}'), ("Infinity", b'{"a":Infinity}'), ("leading zero", b'{"a":01}'),
    ("trailing comma", b'{"a":1,}'), ("single quotes", b"{'a':1}"),
    ("raw control character", b'{"a":"x\x01y"}'), ("invalid UTF-8", b'{"a":"\xc3\x28"}'),
    ("lone surrogate", b'{"a":"\\ud800"}'), ("duplicate key", b'{"a":1,"a":2}'),
    ("double overflow", b'{"a":2e400}'), ("integer overflow", b'{"a":99999999999999999999}'),
    ("deep nesting", b'{"a":' + b"[" * 40 + b"]" * 40 + b"}"), ("escaped NUL", b'{"a":"\\u0000"}'),
    ("empty body", b""), ("truncated", b'{"a":'),
]


@test
def malformed_json_is_refused_and_changes_nothing():
    c = Client(D, "gateway")
    before = counts()
    for what, body in MALFORMED:
        st, h, b = c.post("/v1/reports", body, key())
        check(st == 400 and b["error"]["code"] == "invalid_json",
              "malformed JSON (%s) is 400 invalid_json" % what, (st, b))
    st, h, b = c.post("/v1/reports", b"[1,2]", key())
    check(st == 400 and b["error"]["code"] == "not_an_object", "a top-level array is 400 not_an_object",
          (st, b))
    check(counts() == before, "malformed bodies store nothing", (before, counts()))


RAW = [
    ("an absurd HTTP version", b"GET /healthz HTTP/4294967295.255\r\nHost: x\r\n\r\n"),
    ("two different Content-Lengths", b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: "
     b"application/json\r\nIdempotency-Key: raw1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
    ("Content-Length: +5", b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
     b"\r\nIdempotency-Key: raw2\r\nContent-Length: +2\r\n\r\n{}"),
    ("a chunked body", b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Idempotency-Key: raw3\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n"),
    ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n"),
    ("a garbage request line", b"\x16\x03 nonsense\r\n\r\n"),
]


@test
def odd_http_is_refused_and_the_daemon_keeps_serving():
    for what, data in RAW:
        out = lib.raw_tls(D.port, data, "gateway")
        st = lib.status_of(out)
        check(st is None or st == 400, "%s is refused (400 or closed)" % what, out[:200])
    st, h, b = Client(D, "console").get("/v1/nothing-here")
    check(st == 404 and b["error"]["code"] == "not_found", "an unknown path is 404", (st, b))
    st, h, b = Client(D, "console").get("/v1/calls")
    check(st == 405 and b["error"]["code"] == "method_not_allowed", "GET /v1/calls is 405", (st, b))
    st, h, b = Client(D, "console").request("DELETE", "/v1/cases/2026-320102-00000001")
    check(st == 405, "DELETE on a case is 405", (st, b))
    check(Client(D, None).get("/healthz")[0] == 200, "the daemon still serves after all that")


# ---------------------------------------------------------------- slow and greedy clients

def tls_connect(port, cert="gateway"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return lib.tls_context(cert).wrap_socket(s, server_hostname="localhost")


def closed_within(sock, seconds):
    """True if the peer closes the connection within the time."""
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if sock.recv(4096) == b"":
                return True
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


@test
def slow_clients_are_cut_off_and_never_starve_others():
    d = Daemon("slow", request_timeout=3, handshake_timeout=2, idle_timeout=2).start()
    try:
        t0 = time.monotonic()
        loris = tls_connect(d.port)
        stop = threading.Event()

        def trickle():
            for ch in b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                if stop.is_set():
                    return
                try:
                    loris.send(bytes([ch]))
                except OSError:
                    return
                time.sleep(0.5)
        t = threading.Thread(target=trickle)
        t.start()
        time.sleep(0.5)
        st0 = time.monotonic()
        st, h, b = Client(d, None).get("/healthz")
        check(st == 200 and time.monotonic() - st0 < 2,
              "a normal client is served promptly while a slowloris trickles", st)
        cut = closed_within(loris, 8)
        elapsed = time.monotonic() - t0
        stop.set()
        t.join()
        check(cut and elapsed < 3 + 2 + 2, "a client trickling its headers is cut off after the request"
              " deadline, however steadily it sends (%.1fs)" % elapsed)
        loris.close()
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        t0 = time.monotonic()
        cut = closed_within(raw, 6)
        check(cut and time.monotonic() - t0 < 2 + 2,
              "a client that never starts TLS is dropped after the handshake deadline")
        raw.close()
    finally:
        check(d.stop() == 0, "the slow-client daemon stops cleanly")


@test
def connections_are_capped():
    d = Daemon("capped", max_connections=8).start()
    try:
        held = [tls_connect(d.port) for _ in range(8)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(4096)
        extra = socket.create_connection(("127.0.0.1", d.port), timeout=2)
        ctx = lib.tls_context("gateway")
        served = True
        try:
            t = ctx.wrap_socket(extra, server_hostname="localhost")
            t.settimeout(1.5)
            t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            served = t.recv(4096).startswith(b"HTTP/1.1 200")
        except (socket.timeout, ssl.SSLError, OSError):
            served = False
        check(not served, "the ninth connection waits while eight are open")
        for s in held:
            s.close()
        ok = wait_until(lambda: Client(d, None).get("/healthz")[0] == 200, 5, 0.2)
        check(ok, "once they close, new connections are served again")
        extra.close()
    finally:
        check(d.stop() == 0, "the capped daemon stops cleanly")


# ---------------------------------------------------------------- database failures

@test
def database_down_means_503_then_recovery():
    g = Client(D, "gateway")
    body = example("reports.self-harm.valid.json")
    k = key()
    lib.pg_stop()
    try:
        st, h, b = Client(D, "gateway").post("/v1/reports", body, k)
        check(st == 503 and b["error"]["code"] == "unavailable" and h.get("retry-after"),
              "with the database down a submission is 503 with Retry-After", (st, h, b))
        st, h, b = Client(D, None).get("/readyz")
        check(st == 503, "/readyz is 503 with the database down", (st, b))
        st, h, b = Client(D, None).get("/healthz")
        check(st == 200, "/healthz is still 200 (the process is alive)", (st, b))
    finally:
        lib.pg_start()
    got = wait_until(lambda: Client(D, "gateway").post("/v1/reports", body, k)[0] == 201, 15, 0.5)
    check(got, "after the database returns the same submission succeeds without a restart")
    check(Client(D, None).get("/readyz")[0] == 200, "/readyz is 200 again")


@test
def nothing_acknowledged_is_lost_when_the_daemon_is_killed():
    d = Daemon("victim").start()
    body = example("reports.domestic-violence-hospital.valid.json")
    run = uuid.uuid4().hex[:8]
    outcomes = {}
    lock = threading.Lock()
    stop = threading.Event()

    def stream(n):
        c = Client(d, "gateway", timeout=5)
        i = 0
        while not stop.is_set():
            k = "crash-%s-%d-%d" % (run, n, i)
            i += 1
            try:
                st, h, b = c.post("/v1/reports", body, k)
                res = (st, b.get("case_number") if isinstance(b, dict) else None)
            except Exception:
                res = (None, None)
                c.close()
                if stop.is_set() or d.proc.poll() is not None:
                    with lock:
                        outcomes[k] = res
                    return
            with lock:
                outcomes[k] = res
    threads = [threading.Thread(target=stream, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    d.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    acked = {k: v[1] for k, v in outcomes.items() if v[0] == 201}
    check(len(acked) > 10, "the stream got %d acknowledgements before the kill" % len(acked))
    stored = set(r[0] for r in psql("select case_number from hotline.cases"))
    missing = [n for n in acked.values() if n not in stored]
    check(not missing, "every acknowledged case is in the database after kill -9", missing[:5])
    d2 = Daemon("revived").start()
    try:
        c = Client(d2, "gateway")
        mismatched, failed = [], []
        for k in outcomes:
            st, h, b = c.post("/v1/reports", body, k)
            if st != 201:
                failed.append((k, st, b))
            elif k in acked and b["case_number"] != acked[k]:
                mismatched.append((k, acked[k], b["case_number"]))
        check(not failed, "every key resent after the restart gets 201", failed[:3])
        check(not mismatched, "acknowledged keys replay their original case number", mismatched[:3])
        n_keys = scalar("select count(*) from hotline.idempotency where key like :'a0'",
                        "crash-%s-%%" % run)
        n_cases = scalar("select count(distinct i.response->>'case_number') from hotline.idempotency i"
                         " join hotline.cases c on c.case_number = i.response->>'case_number'"
                         " where i.key like :'a0'", "crash-%s-%%" % run)
        check(n_keys == str(len(outcomes)) and n_cases == str(len(outcomes)),
              "one case per key, no duplicates (%s keys sent, %s records, %s cases)"
              % (len(outcomes), n_keys, n_cases))
    finally:
        check(d2.stop() == 0, "the revived daemon stops cleanly")


# ---------------------------------------------------------------- signals

@test
def sigterm_finishes_requests_in_flight():
    d = Daemon("draining").start()
    res = [None] * 4
    with TableLock(1.5):
        threads = [post_async(Client(d, "gateway"), "/v1/reports",
                              example("reports.self-harm.valid.json"), key(), res, i)
                   for i in range(4)]
        time.sleep(0.5)
        d.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(20)
    code = d.proc.wait(20)
    check(all(r is not None and not isinstance(r, Exception) and r[0] == 201 for r in res),
          "requests in flight at SIGTERM complete with 201", res)
    check(code == 0, "the daemon exits 0 after draining", code)


@test
def sighup_reloads_certificates_and_keeps_serving():
    d = Daemon("reload").start()
    try:
        d.proc.send_signal(signal.SIGHUP)
        ok = wait_until(lambda: "event=tls_reloaded" in d.logtext(), 5)
        check(ok, "SIGHUP reloads the TLS files", d.logtail())
        st, h, b = Client(d, "gateway").post("/v1/reports", example("reports.self-harm.valid.json"),
                                             key())
        check(st == 201 and d.proc.poll() is None, "the daemon keeps serving after SIGHUP", (st, b))
    finally:
        check(d.stop() == 0, "the reloaded daemon stops cleanly")


# ---------------------------------------------------------------- routing and agency work

def file_report(name, client="gateway", daemon=None, **changes):
    body = json.loads(example(name))
    for k, v in changes.items():
        body[k] = v
    st, h, b = Client(daemon or D, client).post("/v1/reports", body, key())
    assert st == 201, (st, b)
    return b


def queue(agency, daemon=None, query=""):
    st, h, b = Client(daemon or D, agency).get("/v1/queue" + query)
    assert st == 200, (st, b)
    return b["assignments"]


def assignment_of(agency, number, daemon=None):
    """The agency's live assignment on a case, as the agency sees it (None if it has none)."""
    st, h, view = Client(daemon or D, agency).get("/v1/cases/" + number)
    if st != 200:
        return None
    mine = [a for a in view["assignments"] if a["agency"] == agency and a["state"] != "transferred"]
    return mine[0] if mine else None


def history(number):
    return [dict(zip(("seq", "kind", "clock", "agency", "assignment", "at"), r)) for r in psql(
        "select e.seq, e.kind, coalesce(e.data->>'clock', ''), coalesce(e.data->>'agency', ''),"
        " coalesce(e.data->>'assignment', ''), extract(epoch from e.at) from hotline.case_events e"
        " join hotline.cases c on c.id = e.case_id where c.case_number = :'a0' order by e.seq", number)]


class ShortDeadlines:
    """Deadlines of a few seconds for the cases created inside the block."""

    def __init__(self, ack=2, action=30):
        self.ack, self.action = ack, action

    def __enter__(self):
        self.saved = psql("select risk_level, acknowledge, first_action, resolve from hotline.deadlines")
        psql("update hotline.deadlines set acknowledge = make_interval(secs => :a0),"
             " first_action = make_interval(secs => :a1), resolve = '1 hour'", self.ack, self.action)
        return self

    def __exit__(self, *exc):
        for level, a, f, r in self.saved:
            psql("update hotline.deadlines set acknowledge = :'a0', first_action = :'a1',"
                 " resolve = :'a2' where risk_level = :a3", a, f, r, level)


@test
def reports_reach_the_agencies_that_must_act():
    b = file_report("reports.missing-immediate-danger.valid.json")
    n = b["case_number"]
    roles = {}
    for agency in ("police-320104", "procuratorate-320104", "civil_affairs-320104",
                   "education-320104", "police-320102", "health-320104"):
        a = assignment_of(agency, n)
        roles[agency] = a and a["role"]
    check(roles == {"police-320104": "primary", "procuratorate-320104": "supervise",
                    "civil_affairs-320104": "inform", "education-320104": None,
                    "police-320102": None, "health-320104": None},
          "a trafficking report reaches the child's county police, procuratorate and civil affairs",
          roles)
    a = assignment_of("police-320104", n)
    kinds = sorted(c["kind"] for c in a["clocks"])
    check(kinds == ["acknowledge", "first_action", "resolve"] and a["risk_level"] == 1,
          "the primary assignment has its own acknowledge, action and resolve clocks", a)
    check(not assignment_of("procuratorate-320104", n)["clocks"],
          "supervision and inform assignments carry no service clocks")
    st, h, view = Client(D, "police-320104").get("/v1/cases/" + n)
    check(st == 200 and len(view["assignments"]) == 3 and all(
        x["clocks"] is not None for x in view["assignments"]),
          "the case view shows every assignment, its state and each clock", view.get("assignments"))
    school = file_report("reports.sexual-abuse.valid.json")
    check(assignment_of("education-320102", school["case_number"])["role"] == "inform",
          "a report from a school informs the county education bureau")
    hosp = file_report("reports.domestic-violence-hospital.valid.json")
    check(assignment_of("health-320104", hosp["case_number"])["role"] == "inform",
          "a report from a hospital informs the county health commission")


@test
def calls_route_by_category_and_risk():
    def open_case(categories, risk, region="320102"):
        body = json.loads(example("calls.case-opened.valid.json"))
        body["open_case"]["categories"] = categories
        body["open_case"]["risk_level"] = risk
        body["open_case"]["child"]["region_code"] = region
        st, h, b = Client(D, "console").post("/v1/calls", body, key())
        assert st == 201, b
        return b["case_number"]

    def agencies(n):
        return sorted(r[0] + ":" + r[1] for r in psql(
            "select g.code, a.role from hotline.assignments a join hotline.agencies g on"
            " g.id = a.agency_id join hotline.cases c on c.id = a.case_id"
            " where c.case_number = :'a0'", n))
    n = open_case([{"category": "bullying", "subcategory": "verbal"}], 3)
    check(agencies(n) == ["education-320102:primary"], "repeated bullying goes to education only",
          agencies(n))
    n = open_case([{"category": "bullying", "subcategory": "physical"}], 2)
    check(agencies(n) == ["education-320102:primary", "police-320102:primary",
                          "procuratorate-320102:supervise"],
          "serious bullying also reaches police, with the procuratorate supervising", agencies(n))
    n = open_case([{"category": "psychological", "subcategory": "suicidal"}], 1, "320104")
    check(agencies(n) == ["health-320104:primary", "police-320104:primary"],
          "a suicide in progress reaches the crisis team and police", agencies(n))
    n = open_case([{"category": "legal", "subcategory": "rights_complaint"},
                   {"category": "psychological", "subcategory": "study_pressure"}], 4)
    check(agencies(n) == ["health-320102:primary", "legal_aid-320102:primary",
                          "procuratorate-320102:inform"],
          "a case with two categories reaches every agency each needs", agencies(n))


@test
def a_long_poll_wakes_when_work_arrives_in_another_daemon():
    other = Daemon("poller").start()
    try:
        res = [None]
        t0 = time.monotonic()

        def poll():
            try:
                res[0] = Client(other, "police-320104", timeout=30).get(
                    "/v1/queue?state=open&limit=500&wait=20")
            except Exception as e:
                res[0] = e
        # Earlier tests left open work in this queue: mark it seen, so the poll waits.
        psql("update hotline.assignments set state = 'acknowledged' where state = 'open' and"
             " agency_id = (select id from hotline.agencies where code = 'police-320104')")
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(1.0)
        check(t.is_alive(), "with nothing open the long poll waits")
        b = file_report("reports.missing-immediate-danger.valid.json")
        t.join(25)
        elapsed = time.monotonic() - t0
        got = res[0]
        ok = (not isinstance(got, Exception) and got[0] == 200 and
              any(a["case_number"] == b["case_number"] for a in got[2]["assignments"]))
        check(ok and elapsed < 10, "a report filed through one daemon wakes a long poll in another"
              " (%.1fs)" % elapsed, got)
        t0 = time.monotonic()
        st, h, body = Client(other, "police-320102").get("/v1/queue?state=declined&wait=2")
        check(st == 200 and body["assignments"] == [] and 1.5 < time.monotonic() - t0 < 5,
              "a long poll with nothing new answers an empty list when the wait ends")
        st, h, body = Client(other, "police-320102").get("/v1/queue?wait=9999")
        check(st == 400 and body["error"]["field"] == "wait", "an excessive wait is refused", body)
        st, h, body = Client(other, "police-320102").get("/v1/queue?state=lost")
        check(st == 400 and body["error"]["field"] == "state", "an unknown state is refused", body)
    finally:
        check(other.stop() == 0, "the polling daemon stops cleanly")


@test
def acknowledging_in_time_prevents_escalation():
    with ShortDeadlines(ack=3, action=4):
        b = file_report("reports.self-harm.valid.json")
    n = b["case_number"]
    a = assignment_of("health-320102", n)
    st, h, r = Client(D, "health-320102").post("/v1/assignments/%s/ack" % a["assignment_id"],
                                               None, key())
    check(st == 200 and r["state"] == "acknowledged", "the crisis team acknowledges", (st, r))
    st, h, r = Client(D, "health-320102").post("/v1/cases/%s/events" % n,
                                               {"type": "outcome", "outcome": "resolved"}, key())
    check(st == 201, "and records a first action", (st, r))
    time.sleep(5)
    kinds = [e["kind"] for e in history(n)]
    check("clock_missed" not in kinds and "escalated" not in kinds,
          "no clock fires for work done in time", kinds)


@test
def a_missed_deadline_escalates_up_the_chain_in_order():
    with ShortDeadlines(ack=2, action=30):
        b = file_report("reports.self-harm.valid.json")
        n = b["case_number"]
        filed = time.time()
        ok = wait_until(lambda: any(e["kind"] == "escalated" and e["agency"] == "procuratorate-320100"
                                    for e in history(n)), 15, 0.25)
    h = history(n)
    check(ok, "nobody acts: the case climbs to the procuratorate within seconds",
          [(e["kind"], e["clock"], e["agency"]) for e in h])
    esc = [e["agency"] for e in h if e["kind"] == "escalated"]
    check(esc == ["health-320100", "coordination-320100", "procuratorate-320100"],
          "escalation goes county -> city -> coordination office -> procuratorate", esc)
    first_warn = next((e for e in h if e["kind"] == "clock_warning"), None)
    first_miss = next((e for e in h if e["kind"] == "clock_missed"), None)
    check(first_warn and first_miss and first_warn["seq"] < first_miss["seq"],
          "a warning comes before the deadline is missed")
    check(first_miss and float(first_miss["at"]) - filed < 3.5,
          "the clock fires within about a second of its due time (%.2fs after filing, due at 2s)"
          % (float(first_miss["at"]) - filed if first_miss else -1))
    st, h2, body = Client(D, "procuratorate-320100").get("/v1/supervision/overdue")
    check(st == 200 and any(a["case_number"] == n for a in body["assignments"]),
          "the city procuratorate sees it in its overdue list", st)
    st, h2, body = Client(D, "procuratorate-320104").get("/v1/supervision/overdue")
    check(st == 200 and not any(a["case_number"] == n for a in body["assignments"]),
          "another county's procuratorate does not", st)
    st, h2, body = Client(D, "police-320102").get("/v1/supervision/overdue")
    check(st == 403, "only a procuratorate has an overdue list", (st, body))
    st, h2, view = Client(D, "health-320102").get("/v1/cases/" + n)
    orig = [a for a in view["assignments"] if a["agency"] == "health-320102"]
    check(orig and orig[0]["state"] == "open" and any(c["status"] == "missed"
                                                       for c in orig[0]["clocks"]),
          "the original assignment stays visible with its missed clock", orig)
    st, h2, r = Client(D, "procuratorate-320100").post(
        "/v1/cases/%s/events" % n, {"type": "supervision", "supervision": "procuratorial_suggestion",
                                    "text": "（测试）检察建议"}, key())
    check(st == 201, "the procuratorate records a supervision record on the case", (st, r))


@test
def escalation_survives_a_daemon_outage_and_happens_once():
    D.stop()
    x = Daemon("outage").start()
    try:
        with ShortDeadlines(ack=2, action=60):
            b = file_report("reports.self-harm.valid.json", daemon=x)
        n = b["case_number"]
        x.kill9()
        time.sleep(3.5)
        check(not any(e["kind"] == "clock_missed" for e in history(n)),
              "with no daemon running nothing fires")
        x2 = Daemon("after-outage").start()
        ok = wait_until(lambda: any(e["kind"] == "escalated" for e in history(n)), 5, 0.2)
        time.sleep(1)
        missed = [e for e in history(n) if e["kind"] == "clock_missed" and e["clock"] == "acknowledge"
                  and e["agency"] == "health-320102"]
        check(ok and len(missed) == 1, "the restarted daemon catches up, exactly once", missed)
        check(x2.stop() == 0, "the catching-up daemon stops cleanly")
    finally:
        D.start()


@test
def two_daemons_never_fire_the_same_clock_twice():
    other = Daemon("rival").start()
    try:
        with ShortDeadlines(ack=2, action=60):
            numbers = [file_report("reports.self-harm.valid.json",
                                   daemon=(D if i % 2 else other))["case_number"] for i in range(6)]
            wait_until(lambda: all(any(e["kind"] == "escalated" and e["agency"] ==
                                       "procuratorate-320100" for e in history(n))
                                   for n in numbers), 20, 0.5)
        dup = psql("select e.data->>'assignment', e.data->>'clock', count(*) from hotline.case_events e"
                   " join hotline.cases c on c.id = e.case_id where e.kind = 'clock_missed'"
                   " and c.case_number = any (string_to_array(:'a0', ','))"
                   " group by 1, 2 having count(*) > 1", ",".join(numbers))
        esc = psql("select count(*) from hotline.assignments a join hotline.cases c on c.id = a.case_id"
                   " where a.escalation_level > 0 and c.case_number = any (string_to_array(:'a0', ','))"
                   " group by a.escalated_from having count(*) > 1", ",".join(numbers))
        fired = scalar("select count(*) from hotline.case_events e join hotline.cases c on"
                       " c.id = e.case_id where e.kind = 'escalated'"
                       " and c.case_number = any (string_to_array(:'a0', ','))", ",".join(numbers))
        check(not dup and not esc and fired == str(6 * 3),
              "two daemons: every clock fired once, one escalation per step (%s escalations)" % fired,
              (dup, esc))
    finally:
        check(other.stop() == 0, "the rival daemon stops cleanly")


@test
def police_outcomes_start_the_statutory_clocks():
    b = file_report("reports.sexual-abuse.valid.json")
    n = b["case_number"]
    p = Client(D, "police-320102")

    def event(body, who=p):
        return who.post("/v1/cases/%s/events" % n, body, key())

    def clocks():
        a = assignment_of("police-320102", n) or {}
        return {c["kind"]: c["status"] for c in a.get("clocks", [])}
    st, h, r = event({"type": "outcome", "outcome": "accepted"})
    check(st == 201 and clocks().get("feedback") == "running",
          "受案 starts the 3-day feedback clock", clocks())
    due = [c for c in assignment_of("police-320102", n)["clocks"] if c["kind"] == "feedback"][0]
    days = scalar("select round(extract(epoch from (:'a0'::timestamptz - now())) / 86400)", due["due_at"])
    check(days == "3", "and it is due in three days", due)
    st, h, r = event({"type": "outcome", "outcome": "case_opened"})
    check(st == 400 and r["error"]["field"] == "police_case_number",
          "立案 needs the police case number", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "case_opened",
                      "police_case_number": "A3201020000002026110001"})
    check(st == 201, "立案 with its number is recorded", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "accepted"})
    check(st == 409 and r["error"]["code"] == "invalid_transition",
          "going back from 立案 to 受案 is refused", (st, r))
    st, h, r = event({"type": "feedback"})
    check(st == 201 and clocks().get("feedback") == "stopped",
          "feedback to the reporting unit stops the feedback clock", clocks())
    st, h, r = event({"type": "outcome", "outcome": "prosecution"})
    check(st == 201 and assignment_of("police-320102", n)["state"] == "prosecution",
          "移送审查起诉 follows 立案", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "accepted"},
                     Client(D, "education-320102"))
    check(st == 403, "an informed agency cannot record outcomes", (st, r))
    b2 = file_report("reports.sexual-abuse.valid.json")
    st, h, r = Client(D, "police-320102").post("/v1/cases/%s/events" % b2["case_number"],
                                               {"type": "outcome", "outcome": "declined"}, key())
    check(st == 400 and r["error"]["field"] == "reason", "不予立案 needs a reason", (st, r))
    st, h, r = Client(D, "police-320102").post("/v1/cases/%s/events" % b2["case_number"],
                                               {"type": "outcome", "outcome": "declined",
                                                "reason": "（测试）不构成犯罪"}, key())
    row = psql("select k.kind, k.stopped_at is null from hotline.clocks k join hotline.assignments a"
               " on a.id = k.assignment_id join hotline.cases c on c.id = a.case_id"
               " where c.case_number = :'a0' and k.kind = 'decline_notice'", b2["case_number"])
    check(st == 201 and row == [["decline_notice", "t"]],
          "不予立案 starts the 3-day notice clock", (st, row))
    status = Client(D, "gateway").get("/v1/reports/%s/status" % b["receipt_id"])
    ms = [m["milestone"] for m in status[2]["milestones"]]
    check(status[0] == 200 and ms == ["received", "accepted", "case_opened", "feedback_given"],
          "the reporter's status shows the milestones in order", status)
    text = json.dumps(status[2], ensure_ascii=False)
    check(set(status[2]) == {"receipt_id", "milestones"} and "测试" not in text
          and n not in text, "and nothing of the case's content", text)
    st, h, r = Client(D, "gateway2").get("/v1/reports/%s/status" % b["receipt_id"])
    check(st == 404, "another gateway cannot read that status", (st, r))


@test
def an_assignment_can_be_transferred():
    b = file_report("reports.missing-immediate-danger.valid.json")
    n = b["case_number"]
    a = assignment_of("police-320104", n)
    c = Client(D, "police-320104")
    st, h, r = c.post("/v1/assignments/%s/transfer" % a["assignment_id"],
                      {"target_agency": "police-320102", "reason": "（测试）属地管辖"}, key())
    check(st == 201 and r["transferred"]["state"] == "transferred" and r["new"]["agency"] ==
          "police-320102" and r["new"]["state"] == "open", "the work is handed over", (st, r))
    new = assignment_of("police-320102", n)
    check(new is not None and {x["kind"] for x in new["clocks"]} >= {"acknowledge", "first_action"}
          and all(x["status"] == "running" for x in new["clocks"]),
          "the new agency gets a fresh assignment with fresh clocks", new)
    for who in ("police-320104", "police-320102"):
        st, h, v = Client(D, who).get("/v1/cases/" + n)
        check(st == 200 and any(e["kind"] == "transferred" for e in v["history"]),
              "%s sees the transfer in the history" % who, st)
    st, h, r = c.post("/v1/assignments/%s/transfer" % a["assignment_id"],
                      {"target_agency": "police-320100", "reason": "again"}, key())
    check(st == 409, "a transferred assignment cannot be transferred again", (st, r))
    st, h, r = Client(D, "police-320102").post("/v1/assignments/%s/transfer" % new["assignment_id"],
                                               {"target_agency": "nowhere", "reason": "x"}, key())
    check(st == 422 and r["error"]["code"] == "unknown_agency", "an unknown target is 422", (st, r))


@test
def nobody_sees_what_is_not_theirs():
    b = file_report("reports.sexual-abuse.valid.json")          # police-320102 primary
    n, receipt = b["case_number"], b["receipt_id"]
    own = assignment_of("police-320102", n)["assignment_id"]
    matrix = []

    def expect(who, method, path, body, want):
        c = Client(D, who)
        if method == "GET":
            st, h, r = c.get(path)
        else:
            st, h, r = c.post(path, body, key())
        matrix.append((who, method, path.split("/")[2], want, st))
        return st == want
    rows = [
        # (client, method, path, body, expected)
        ("police-320102", "GET", "/v1/cases/" + n, None, 200),
        ("police-320104", "GET", "/v1/cases/" + n, None, 404),
        ("education-320102", "GET", "/v1/cases/" + n, None, 200),
        ("education-320104", "GET", "/v1/cases/" + n, None, 404),
        ("console", "GET", "/v1/cases/" + n, None, 404),
        ("gateway2", "GET", "/v1/cases/" + n, None, 404),
        ("police-320104", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 404),
        ("console", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 403),
        ("gateway", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 403),
        ("police-320104", "POST", "/v1/assignments/%s/ack" % own, None, 404),
        ("education-320102", "POST", "/v1/assignments/%s/ack" % own, None, 404),
        ("console", "POST", "/v1/assignments/%s/ack" % own, None, 403),
        ("police-320104", "POST", "/v1/assignments/%s/transfer" % own,
         {"target_agency": "police-320104", "reason": "x"}, 404),
        ("admin", "POST", "/v1/assignments/%s/transfer" % own,
         {"target_agency": "police-320104", "reason": "x"}, 403),
        ("console", "GET", "/v1/queue", None, 403),
        ("gateway", "GET", "/v1/queue", None, 403),
        ("police-320102", "GET", "/v1/reports/%s/status" % receipt, None, 403),
        ("gateway2", "GET", "/v1/reports/%s/status" % receipt, None, 404),
        ("gateway", "GET", "/v1/reports/%s/status" % receipt, None, 200),
        ("console", "GET", "/v1/supervision/overdue", None, 403),
        ("education-320102", "GET", "/v1/supervision/overdue", None, 403),
        ("police-320102", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "（测试）"}, 201),
        ("police-320102", "POST", "/v1/assignments/%s/ack" % own, None, 200),
    ]
    bad = [r for r in rows if not expect(*r)]
    check(not bad, "the authorization matrix holds (%d role x endpoint x object cases)" % len(rows),
          [m for m in matrix if m[3] != m[4]])
    theirs = [a["case_number"] for a in queue("police-320104", query="?limit=500")]
    check(n not in theirs, "another county's police queue never lists the case")


# ---------------------------------------------------------------- logs

PERSONAL = ["测试儿童", "测试教师", "测试医生", "13800000001", "13800000002", "13800000003",
            "320102201503120", "（测试）", "测试市第一小学"]


@test
def logs_carry_no_personal_data():
    leaks = []
    for d in lib.daemons:
        text = d.logtext()
        for p in PERSONAL:
            if p in text:
                leaks.append((d.name, p))
    check(not leaks, "no daemon log contains names, phone numbers, ID numbers or narratives", leaks)
    lines = [l for l in D.logtext().splitlines() if "event=request " in l]
    check(lines and all(re.search(r"\bid=[0-9a-f]{16}\b", l) and re.search(r"\bstatus=\d{3}\b", l)
                        for l in lines),
          "every request line carries a request id and a status (%d lines)" % len(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--var", required=True)
    ap.add_argument("--sanitizers", action="store_true")
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    lib.setup(args.var, args.binary, args.sanitizers)
    global D
    D = Daemon("main")
    try:
        D.start()
    except Exception as e:
        check(False, "the daemon starts", e)
        return 1
    t0 = time.monotonic()
    for fn in TESTS:
        if args.k and args.k not in fn.__name__:
            continue
        print("# " + fn.__name__.replace("_", " "))
        try:
            fn()
        except Exception:
            check(False, fn.__name__ + " ran to completion", traceback.format_exc())
    check(D.stop() == 0, "the main daemon stops cleanly with SIGTERM")
    if args.sanitizers:
        for d in lib.daemons:
            text = d.logtext()
            bad = [l for l in text.splitlines()
                   if "AddressSanitizer" in l or "LeakSanitizer" in l or "runtime error:" in l]
            check(not bad, "daemon %s exited without sanitizer reports" % d.name, "\n".join(bad[:10]))
    print("# %d passed, %d failed in %.0fs" % (RESULTS["passed"], RESULTS["failed"],
                                              time.monotonic() - t0))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
