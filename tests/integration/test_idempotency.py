"""Idempotency: replays, reused keys, a key a refusal leaves unused, a retry
while the first is in flight (in one daemon and across two), a submission
that outlives its request deadline, and a client that leaves while its
submission waits."""

import json
import time

from .lib import (Client, Daemon, TableLock, check, counts, example, is_error, keyed_cases,
                  new_key, post_in_background, scalar, stop_cleanly, test, tls_connect,
                  wait_until)


@test
def idempotent_retries_replay_the_original_answer(daemon):
    g = Client(daemon, "gateway")
    k = new_key()
    body = example("reports.self-harm.valid.json")
    st1, h1, b1 = g.post("/v1/reports", body, k)
    before = counts()
    st2, h2, b2 = g.post("/v1/reports", body, k)
    check(st1 == 201 and st2 == 201 and b1 == b2,
          "the same key and body replay the same response (same case number and receipt)",
          (b1, b2))
    check(h2.get("idempotent-replayed") == "true" and "idempotent-replayed" not in h1,
          "a replay is marked Idempotent-Replayed: true, the original is not", (h1, h2))
    check(counts() == before, "a replay stores nothing new", (before, counts()))
    st3, h3, b3 = g.post("/v1/reports", example("reports.sexual-abuse.valid.json"), k)
    check(is_error(st3, b3, 422, "idempotency_key_reused"),
          "the same key with a different body is 422 idempotency_key_reused", (st3, b3))
    spaced = json.dumps(json.loads(body), ensure_ascii=False, indent=1).encode()
    st3, h3, b3 = g.post("/v1/reports", spaced, k)
    check(is_error(st3, b3, 422, "idempotency_key_reused"),
          "the same JSON with other white space is another body (compared byte for byte): 422",
          (st3, b3))
    st4, h4, b4 = Client(daemon, "gateway2").post("/v1/reports", body, k)
    check(st4 == 201 and b4.get("case_number") != b1.get("case_number")
          and "idempotent-replayed" not in h4,
          "the same key from another client is an independent submission", (st4, b4))
    st5, h5, b5 = g.post("/v1/reports", body)
    check(is_error(st5, b5, 400, "missing_idempotency_key"),
          "a POST without Idempotency-Key is 400 missing_idempotency_key", (st5, b5))
    for bad in ("has space", "k" * 129, "", "a/b", "é"):
        st6, h6, b6 = g.post("/v1/reports", body, headers={"Idempotency-Key": bad})
        check(is_error(st6, b6, 400, "invalid_idempotency_key"),
              "Idempotency-Key %r is 400 invalid_idempotency_key" % bad[:20], (st6, b6))
    st7, h7, b7 = g.post("/v1/reports", body, "K" * 100 + "az09._:-" + "k" * 20)
    check(st7 == 201, "a key of 128 allowed characters is accepted", (st7, b7))
    n = scalar("select count(*) from hotline.idempotency i join hotline.clients c on c.id = i.client_id"
               " where i.key = :'a0' and c.name = 'gateway'", k)
    check(n == "1", "exactly one record is kept for the key", n)
    o = Client(daemon, "console")
    k = new_key()
    call = example("calls.case-opened.valid.json")
    r1, r2 = o.post("/v1/calls", call, k), o.post("/v1/calls", call, k)
    check(r1[0] == r2[0] == 201 and r1[2] == r2[2] and r2[1].get("idempotent-replayed") == "true",
          "a call replays its call id and case number", (r1[2], r2[2]))


@test
def a_refused_request_does_not_use_up_its_key(daemon):
    g = Client(daemon, "gateway")
    k = new_key()
    st, h, b = g.post("/v1/reports", example("reports.age-eighteen.invalid.json"), k)
    check(st == 400, "an invalid report is refused", (st, b))
    st, h, b = g.post("/v1/reports", example("reports.unknown-region.invalid.json"), k)
    check(is_error(st, b, 422, "unknown_region"), "a report with an unknown region is 422", (st, b))
    st, h, b = g.post("/v1/reports", example("reports.self-harm.valid.json"), k)
    check(st == 201 and "idempotent-replayed" not in h,
          "the corrected report under the same key is stored (201, not 422)", (st, b))


@test
def a_retry_while_the_first_is_in_flight_is_409(daemon):
    body = example("reports.organised-begging.valid.json")
    k = new_key()
    with TableLock(2):
        t, first = post_in_background(daemon, "gateway", "/v1/reports", body, k)
        time.sleep(0.5)
        st, h, b = Client(daemon, "gateway").post("/v1/reports", body, k)
        check(is_error(st, b, 409, "idempotency_in_flight"),
              "a second request with the key still in flight is 409 idempotency_in_flight", (st, b))
        t.join(20)
    r = first[0]
    check(isinstance(r, tuple) and r[0] == 201 and "idempotent-replayed" not in r[1],
          "the first request completes with 201 once the database frees up", r)
    st, h, b = Client(daemon, "gateway").post("/v1/reports", body, k)
    check(st == 201 and h.get("idempotent-replayed") == "true"
          and isinstance(r, tuple) and b == r[2],
          "a retry after it completed replays its answer", (st, b))
    # Across two daemons the database's advisory lock gives the same answer.
    other = Daemon("second").start()
    try:
        k2 = new_key()
        with TableLock(2):
            t, first = post_in_background(daemon, "gateway", "/v1/reports", body, k2)
            time.sleep(0.5)
            st, h, b = Client(other, "gateway").post("/v1/reports", body, k2)
            check(is_error(st, b, 409, "idempotency_in_flight"),
                  "the same key in flight in another daemon is 409", (st, b))
            t.join(20)
        check(isinstance(first[0], tuple) and first[0][0] == 201,
              "and the first daemon's request completes", first[0])
        check(keyed_cases("gateway", k2) == "1", "one case for the key")
    finally:
        stop_cleanly(other)


@test
def a_submission_that_outlives_the_request_deadline_is_503_and_safe_to_retry():
    d = Daemon("deadline", request_timeout=2, retry_after=7).start()
    try:
        body = example("reports.self-harm.valid.json")
        k = new_key()
        with TableLock(4):
            t0 = time.monotonic()
            st, h, b = Client(d, "gateway", timeout=10).post("/v1/reports", body, k)
            took = time.monotonic() - t0
            check(is_error(st, b, 503, "outcome_unknown") and h.get("retry-after") == "7"
                  and "same Idempotency-Key" in b["error"]["message"] and took < 4,
                  "a submission still waiting for the database at the deadline is 503"
                  " outcome_unknown (retry with the same key) with Retry-After (%.1fs)" % took,
                  (st, h, b))
        retries = []

        def retry():
            retries.append(Client(d, "gateway").post("/v1/reports", body, k))
            return retries[-1][0] == 201
        wait_until(retry, 10, 0.3)
        check(retries[-1][0] == 201 and set(r[0] for r in retries) <= {201, 409},
              "retries with the same key get 409 while the first is still in the database,"
              " then 201", [(r[0], r[2]) for r in retries])
        check(keyed_cases("gateway", k) == "1", "and exactly one case exists for the key")
        check(d.running() and Client(d, None).get("/healthz")[0] == 200,
              "the daemon is still serving")
    finally:
        stop_cleanly(d)


@test
def a_client_that_leaves_while_its_submission_waits_changes_nothing_for_the_daemon(daemon):
    body = example("reports.self-harm.valid.json")
    k = new_key()
    request = (b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Idempotency-Key: " + k.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body)
    with TableLock(1.5):
        s = tls_connect(daemon.port, "gateway")
        s.sendall(request)
        time.sleep(0.3)
        s.close()
    time.sleep(0.5)
    check(daemon.running() and Client(daemon, None).get("/healthz")[0] == 200,
          "the daemon survives replying to a client that has gone")
    st, h, b = Client(daemon, "gateway").post("/v1/reports", body, k)
    check(st == 201 and h.get("idempotent-replayed") == "true",
          "the submission was committed, and the retry replays it", (st, h, b))
    check(keyed_cases("gateway", k) == "1", "one case for the key")


@test
def a_submission_still_queued_at_its_deadline_is_never_sent_later():
    d = Daemon("expiry", request_timeout=2, db_pool_size=1).start()
    try:
        body = example("reports.self-harm.valid.json")
        ka, kb = new_key(), new_key()
        with TableLock(4):
            ta, ra = post_in_background(d, "gateway", "/v1/reports", body, ka, 10)
            time.sleep(0.3)     # A holds the one connection; B waits in the daemon's queue
            tb, rb = post_in_background(d, "gateway", "/v1/reports", body, kb, 10)
            ta.join(10)
            tb.join(10)
        committed = wait_until(lambda: keyed_cases("gateway", ka) == "1", 10, 0.1)
        time.sleep(0.5)
        b = rb[0]
        check(isinstance(b, tuple) and is_error(b[0], b[2], 503, "outcome_unknown"),
              "both are answered 503 outcome_unknown at their deadline", b)
        check(committed and keyed_cases("gateway", kb) == "0"
              and "event=db_job_expired" in d.logtext(),
              "the one already sent commits later; the one still queued is dropped, never sent"
              " (its request was answered)", d.logtail())
        st, h, r = Client(d, "gateway").post("/v1/reports", body, kb)
        check(st == 201 and keyed_cases("gateway", kb) == "1", "its retry stores it once", (st, r))
    finally:
        stop_cleanly(d)
