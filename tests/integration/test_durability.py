"""Durability: the database going down and coming back (503 with
Retry-After, then recovery without a restart), submissions streamed through
a database restart, and kill -9 during a stream: nothing acknowledged is
lost or doubled; a connection string of several hosts whose first never
answers is served by the next."""

import os
import re
import signal
import socket
import threading
import time
import uuid

from . import lib
from .lib import (Client, Daemon, ShortDeadlines, TableLock, check, database_up, error_code,
                  example, is_error, keyed_cases, new_key, not_stored_once, post_in_background,
                  psql, scalar, stop_cleanly, test, wait_until)


@test
def database_down_means_503_then_recovery(daemon):
    body = example("reports.self-harm.valid.json")
    k = new_key()
    late = None
    lib.pg_stop()
    try:
        st, h, b = Client(daemon, "gateway").post("/v1/reports", body, k)
        check(is_error(st, b, 503, "unavailable") and h.get("retry-after", "").isdigit(),
              "with the database down a submission is 503 unavailable with Retry-After", (st, h, b))
        st, h, b = Client(daemon, "gateway").get("/v1/cases/2026-320102-00000001")
        check(is_error(st, b, 503, "unavailable"), "a case read is 503 too", (st, b))
        st, h, b = Client(daemon, None).get("/readyz")
        check(is_error(st, b, 503, "not_ready") and b["error"].get("field") == "database"
              and b.get("checks", {}).get("database") == "down",
              "/readyz is 503 not_ready naming the database (down) with the database down", (st, b))
        st, h, b = Client(daemon, None).get("/healthz")
        check(st == 200, "/healthz is still 200 (the process is alive)", (st, b))
        late = Daemon("late")
        late.start(wait_ready=False)
        st, h, b = Client(late, None).get("/readyz")
        check(st == 503, "a daemon started while the database is down runs, not ready", (st, b))
    finally:
        lib.pg_start()
    try:
        t0 = time.monotonic()
        got = wait_until(lambda: Client(daemon, "gateway").post("/v1/reports", body, k)[0] == 201,
                         15, 0.3)
        check(got, "after the database returns the same submission succeeds without a restart"
              " (%.1fs)" % (time.monotonic() - t0))
        check(Client(daemon, None).get("/readyz")[0] == 200, "/readyz is 200 again")
        got = wait_until(lambda: Client(late, "gateway").post(
            "/v1/reports", body, new_key())[0] == 201, 15, 0.3)
        check(got, "the daemon started while it was down serves too")
        check(keyed_cases("gateway", k) == "1", "one case for the retried key")
        name = lib.make_client_cert("it-after-restart-" + uuid.uuid4().hex[:8])
        lib.register_client(name, "gateway")
        got = wait_until(lambda: Client(daemon, name).post("/v1/reports", body,
                                                           new_key())[0] == 201, 3, 0.1)
        check(got, "a client registered after the restart is let in within moments")
        psql("select hotline.client_revoke(:'a0')", name)
        case = "/v1/cases/2026-320102-00000001"
        got = wait_until(lambda: Client(daemon, name).get(case)[0] == 403, 2, 0.05)
        check(got, "a revocation after the restart still takes effect within 2 s")
    finally:
        if late is not None:
            stop_cleanly(late)


@test
def submissions_during_a_database_restart_are_never_lost_or_doubled(daemon):
    body = example("reports.domestic-violence-hospital.valid.json")
    run = uuid.uuid4().hex[:8]
    outcomes = {}
    stop = threading.Event()

    def stream(n):
        c = Client(daemon, "gateway", timeout=10)
        i = 0
        while not stop.is_set():
            k = "dbr-%s-%d-%d" % (run, n, i)
            i += 1
            try:
                st, h, b = c.post("/v1/reports", body, k)
                outcomes[k] = (st, b.get("case_number") if isinstance(b, dict) else None)
                if st == 503:
                    time.sleep(0.1)     # a polite client backs off
            except Exception:
                outcomes[k] = (None, None)
                c.close()
                time.sleep(0.1)
    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.7)
    lib.pg_stop()
    lib.pg_start()
    time.sleep(0.7)
    stop.set()
    for t in threads:
        t.join(15)
    statuses = sorted(set(v[0] for v in outcomes.values()), key=str)
    check(set(statuses) <= {201, 503}, "every submission was answered 201 or 503 (%d sent)"
          % len(outcomes), statuses)
    acked = {k: v[1] for k, v in outcomes.items() if v[0] == 201}
    missing = not_stored_once(acked.values())
    check(not missing, "every acknowledged case is in the database once (%d acknowledged)"
          % len(acked), missing[:5])
    failed, mismatched = [], []
    c = Client(daemon, "gateway")
    wait_until(lambda: Client(daemon, None).get("/readyz")[0] == 200, 15, 0.3)
    for k in outcomes:
        st, h, b = c.post("/v1/reports", body, k)
        if st != 201:
            failed.append((k, st, b))
        elif k in acked and b.get("case_number") != acked[k]:
            mismatched.append((k, acked[k], b.get("case_number")))
    check(not failed, "every key resent afterwards gets 201", failed[:3])
    check(not mismatched, "acknowledged keys replay their case number", mismatched[:3])
    n = scalar("select count(*), count(distinct i.response->>'case_number') from"
               " hotline.idempotency i join hotline.cases c on c.case_number ="
               " i.response->>'case_number' where i.key like :'a0'", "dbr-%s-%%" % run)
    check(n == str(len(outcomes)), "one case per key (%s keys, %s cases)" % (len(outcomes), n))


@test
def nothing_acknowledged_is_lost_when_the_daemon_is_killed():
    d = Daemon("victim").start()
    body = example("reports.domestic-violence-hospital.valid.json")
    run = uuid.uuid4().hex[:8]
    outcomes = {}
    deadline = time.monotonic() + 3

    def stream(n):
        c = Client(d, "gateway", timeout=5)
        i = 0
        while time.monotonic() < deadline:
            k = "crash-%s-%d-%d" % (run, n, i)
            i += 1
            try:
                st, h, b = c.post("/v1/reports", body, k)
                outcomes[k] = (st, b.get("case_number") if isinstance(b, dict) else None)
            except Exception:
                outcomes[k] = (None, None)
                c.close()
                time.sleep(0.05)
    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    d.kill9()
    for t in threads:
        t.join(10)
    acked = {k: v[1] for k, v in outcomes.items() if v[0] == 201}
    check(len(acked) > 10 and len(acked) < len(outcomes),
          "the stream got %d acknowledgements and %d failures around the kill"
          % (len(acked), len(outcomes) - len(acked)))
    missing = not_stored_once(acked.values())
    check(not missing, "every acknowledged case is in the database after kill -9", missing[:5])
    d2 = Daemon("revived").start()
    try:
        c = Client(d2, "gateway")
        mismatched, failed = [], []
        for k in outcomes:
            st, h, b = c.post("/v1/reports", body, k)
            if st != 201:
                failed.append((k, st, b))
            elif k in acked and (b.get("case_number") != acked[k]
                                 or h.get("idempotent-replayed") != "true"):
                mismatched.append((k, acked[k], b.get("case_number")))
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
        stop_cleanly(d2)


def database_hosts(*ports):
    """The environment's database connection string naming 127.0.0.1 once per port."""
    conninfo = lib.base_settings()["database"]
    return re.sub(r"host=\S+ port=\S+", "host=%s port=%s" % (
        ",".join(["127.0.0.1"] * len(ports)), ",".join(str(p) for p in ports)), conninfo)


@test
def a_first_database_host_that_never_answers_is_passed_over():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)       # the kernel accepts; nothing ever answers
    port = silent.getsockname()[1]
    d = Daemon("hosts", database=database_hosts(port, lib.ENV["PGPORT"]) + " connect_timeout=2")
    try:
        t0 = time.monotonic()
        d.start()
        took = time.monotonic() - t0
        check(took < 12, "with host 1 silent the daemon is ready through host 2 (%.1fs)" % took)
        log = d.logtext()
        check("host=127.0.0.1:%d reason=\"connect timeout\"" % port in log
              and "event=db_ready conn=0 host=127.0.0.1:%s" % lib.ENV["PGPORT"] in log,
              "the silent host timed out after connect_timeout and the next one was used",
              d.logtail())
        check(lib.file_report(d).get("case_number"), "and it serves")
    finally:
        stop_cleanly(d)
        silent.close()
    d = Daemon("hosts-mismatch", database=database_hosts(5432, 5433).replace(
        "port=5432,5433", "port=5432,5433,5434"))
    try:
        d.start(wait_ready=False)
        started = True
    except AssertionError:
        started = False
    check(not started and "event=db_conninfo_invalid" in d.logtext(),
          "three ports for two hosts: the daemon refuses to start", d.logtail())


def post_all(daemon, bodies, cert="gateway", timeout=20):
    """POST reports from threads at once, each under its own key; [(key, thread, result)]."""
    out = []
    for b in bodies:
        k = new_key()
        t, r = post_in_background(daemon, cert, "/v1/reports", b, k, timeout)
        out.append((k, t, r))
    return out


@test
def one_submission_failing_inside_the_database_does_not_sink_its_batch():
    d = Daemon("batchfail", db_pool_size=1).start()
    try:
        with lib.FailingSubmissions(), TableLock(1.5):
            first = post_all(d, [lib.report_at("2026-11-01T09:05:00+08:00", None)])
            time.sleep(0.4)         # the first holds the one connection, waiting for the lock
            bodies = [lib.report_at("2026-11-01T09:05:%02d+08:00" % i, None) for i in range(6)]
            bodies.insert(3, lib.report_at(lib.FAIL_AT, None))
            rest = post_all(d, bodies)
            for _, t, _ in first + rest:
                t.join(20)
        got = [(k, r[0]) for k, _, r in first + rest]
        bad = [r for k, r in got if not isinstance(r, tuple)]
        check(not bad, "every submission was answered", bad)
        batches = re.findall(r"event=db_batch_retry conn=0 jobs=(\d+)", d.logtext())
        check(batches and int(batches[0]) == len(rest),
              "the seven waiting submissions went as one batch, rolled back by the one that"
              " fails inside the database and retried one by one", batches)
        marked = rest[3][2][0]
        check(isinstance(marked, tuple) and marked[0] == 500 and error_code(marked[2]) == "internal",
              "the marked submission is answered an error (500 internal)", marked)
        others = [r[0] for k, t, r in first + rest if r is not rest[3][2]]
        check(all(isinstance(r, tuple) and r[0] == 201 for r in others),
              "each of the others is answered 201", [r[0] if isinstance(r, tuple) else r
                                                       for r in others])
        answered = [r[0][2]["case_number"] for k, t, r in first + rest
                    if isinstance(r[0], tuple) and r[0][0] == 201]
        missing = not_stored_once(answered)
        check(len(answered) == 7 and not missing,
              "every submission answered 201 is stored, once (%d)" % len(answered), missing)
        check(keyed_cases("gateway", rest[3][0]) == "0"
              and scalar("select count(*) from hotline.idempotency where key = :'a0'",
                         rest[3][0]) == "0",
              "and nothing of the failing one is stored")
    finally:
        stop_cleanly(d)


@test
def batch_conns_caps_the_group_commits_in_flight_and_leaves_the_rest_to_reads():
    # batch_conns = 1 of a pool of three: while one batch waits behind a
    # locked table, submissions that arrive wait to go together as the next
    # batch (not as a second transaction at once), and a read is answered
    # by another connection meanwhile.
    d = Daemon("batchconns", db_pool_size=3, batch_conns=1, log_level="debug").start()
    try:
        with TableLock(2.5):
            first = post_all(d, [lib.report_at("2026-11-01T10:00:00+08:00", None)])
            time.sleep(0.4)         # its batch holds a connection, waiting for the lock
            rest = post_all(d, [lib.report_at("2026-11-01T10:%02d:00+08:00" % (1 + i), None)
                                for i in range(5)])
            time.sleep(0.5)
            t0 = time.monotonic()
            st, _, v = Client(d, "console").get("/v1/version")
            read_s = time.monotonic() - t0
            waiting = re.findall(r"event=db_segment conn=\d+ jobs=(\d+) batched=1",
                                 d.logtext())
            check(st == 200 and read_s < 1.5,
                  "a read is answered (%.2f s) while the batch waits for the lock" % read_s,
                  (st, v))
            check(waiting == ["1"], "the five that arrived meanwhile are not sent as a second"
                  " transaction at once: one batch is in flight", waiting)
            for _, t, _ in first + rest:
                t.join(20)
        got = [r[0] for _, _, r in first + rest]
        check(all(isinstance(r, tuple) and r[0] == 201 for r in got),
              "all six are answered 201", [r[0] if isinstance(r, tuple) else r for r in got])
        segments = re.findall(r"event=db_segment conn=\d+ jobs=(\d+) batched=1", d.logtext())
        check(segments[:2] == ["1", "5"], "the five went together as the next batch", segments)
        missing = not_stored_once([r[2]["case_number"] for r in got if isinstance(r, tuple)
                                   and r[0] == 201])
        check(not missing, "every case answered 201 is stored, once", missing)
    finally:
        stop_cleanly(d)


@test
def a_batch_answers_each_submission_with_its_own_outcome():
    # Seven reports wait together behind a locked table and go as one
    # statement (intake_reports): five new ones, one of an unknown region,
    # one replayed under a key used before.  Each client gets its own answer.
    d = Daemon("batchmix", db_pool_size=1, log_level="debug").start()
    try:
        early = lib.personal_report()
        k0 = new_key()
        st, _, before = Client(d, "gateway").post("/v1/reports", early, k0)
        check(st == 201, "a report is stored before the batch", before)
        with TableLock(1.5):
            first = post_all(d, [lib.report_at("2026-11-01T09:05:00+08:00", None)])
            time.sleep(0.4)         # the first holds the one connection, waiting for the lock
            bodies = [lib.report_at("2026-11-01T09:%02d:00+08:00" % (10 + i), None)
                      for i in range(6)]
            bodies[2]["child"]["region_code"] = "999999"
            rest = post_all(d, bodies)
            t, again = post_in_background(d, "gateway", "/v1/reports", early, k0)
            for _, th, _ in first + rest:
                th.join(20)
            t.join(20)
        segments = [int(n) for n in re.findall(r"event=db_segment conn=0 jobs=(\d+) batched=1",
                                               d.logtext())]
        check(7 in segments, "the seven waiting submissions went as one batch", segments)
        got = [r[0] for _, _, r in rest]
        check(all(isinstance(r, tuple) for r in got) and isinstance(again[0], tuple),
              "every submission was answered", got + again)
        bad = got[2]
        check(isinstance(bad, tuple) and is_error(bad[0], bad[2], 422, "unknown_region")
              and bad[2]["error"].get("field") == "child.region_code",
              "the report of an unknown region is answered 422 unknown_region", bad)
        times = []
        for i, r in enumerate(got):
            if i == 2 or not isinstance(r, tuple) or r[0] != 201:
                continue
            times.append((bodies[i]["reported_at"][11:16], scalar(
                "select to_char(r.reported_at at time zone 'Asia/Shanghai', 'HH24:MI')"
                " from hotline.reports r join hotline.cases c on c.id = r.case_id"
                " where c.case_number = :'a0'", r[2]["case_number"])))
        check(len(times) == 5 and all(a == b for a, b in times),
              "each of the five others is answered 201 with the case of its own report", times)
        r = again[0]
        check(isinstance(r, tuple) and r[0] == 201 and r[2] == before
              and r[1].get("idempotent-replayed") == "true",
              "the one under a used key is answered the stored response, replayed", r)
        missing = not_stored_once([x[2]["case_number"] for x in got if isinstance(x, tuple)
                                   and x[0] == 201] + [before["case_number"]])
        check(not missing, "every case answered 201 is stored, once", missing)
    finally:
        stop_cleanly(d)


@test
def a_connection_lost_during_a_retry_alone_answers_outcome_unknown():
    d = Daemon("soloretry", db_pool_size=1).start()
    try:
        with lib.FailingSubmissions(sleep=4), TableLock(1.5):
            first = post_all(d, [lib.report_at("2026-11-01T09:05:00+08:00", None)])
            time.sleep(0.4)
            slow = lib.report_at(lib.SLOW_AT, None)
            rest = post_all(d, [slow, lib.report_at(lib.FAIL_AT, None)], timeout=30)
            retried = wait_until(lambda: "event=db_batch_retry" in d.logtext(), 15, 0.1)
            # The batch slept, then failed; now the slow one sleeps again, alone.
            pid = wait_until(lambda: scalar(
                "select pid from pg_stat_activity where pid = any (string_to_array(:'a0', ',')"
                "::int[]) and wait_event = 'PgSleep'",
                ",".join(str(p) for p in lib.backend_pids(d)) or "0"), 10, 0.05)
            check(retried and pid, "the batch failed and the slow submission is retried alone",
                  d.logtail())
            if pid:
                psql("select pg_terminate_backend(:a0)", pid)
            for _, t, _ in first + rest:
                t.join(30)
        k, _, r = rest[0]
        r = r[0]
        check(isinstance(r, tuple) and is_error(r[0], r[2], 503, "outcome_unknown")
              and "same Idempotency-Key" in r[2]["error"]["message"],
              "its connection lost at commit, the submission retried alone is answered 503"
              " outcome_unknown (retry with the same key), not 'unavailable'", r)
        wait_until(lambda: Client(d, None).get("/readyz")[0] == 200, 15, 0.2)
        st, h, b = Client(d, "gateway").post("/v1/reports", slow, k)
        check(st == 201 and keyed_cases("gateway", k) == "1",
              "the retry with the same key stores it once", (st, b))
    finally:
        stop_cleanly(d)


def held_requests(daemon, bodies, cert="gateway"):
    """TLS connections to the daemon, handshake done, and the request bytes of each body."""
    socks = [lib.tls_connect(daemon.port, cert) for _ in bodies]
    reqs = [lib.raw_post_request("/v1/reports", b, new_key()) for b in bodies]
    return socks, reqs


@test(limit=180)
def a_pool_connection_dying_unseen_fails_its_jobs_in_the_loop_and_the_timers_go_on(daemon):
    d = Daemon("backendkill", db_pool_size=1).start()
    name = lib.make_client_cert("it-killed-" + uuid.uuid4().hex[:8])
    lib.register_client(name, "gateway")
    try:
        check(wait_until(lambda: Client(d, name).post("/v1/reports", lib.personal_report(),
                                                      new_key())[0] == 201, 5, 0.2),
              "a newly registered gateway files a report")
        big = lib.personal_report()
        big["narrative"] = "（测试）长" * 3000          # some 40 KB sealed: over libpq's 8 KiB buffer
        pair = [lib.personal_report(), lib.personal_report()]
        for b in pair:
            b["narrative"] = "（测试）" * 700         # two of some 8 KB each
        for what, bodies in (("a large report", [big]), ("a batch of two", pair)):
            socks, reqs = held_requests(d, bodies)
            pids = lib.backend_pids(d)
            # The daemon stopped, the requests arrive, then its backend dies without a
            # goodbye: the daemon meets the requests before the end of the connection.
            d.signal(signal.SIGSTOP)
            try:
                for s, q in zip(socks, reqs):
                    s.sendall(q)
                time.sleep(0.3)
                for p in pids:
                    os.kill(p, signal.SIGKILL)
                time.sleep(0.3)
            finally:
                d.signal(signal.SIGCONT)
            got = [lib.read_responses(s, 1, 15) for s in socks]
            for s in socks:
                s.close()
            check(len(pids) == 1, "%s: the pool's one backend was killed (kill -9)" % what, pids)
            statuses = [g[0][0] if g else None for g in got]
            check(d.running() and all(st in (201, 503) for st in statuses),
                  "%s sent to a backend killed without a goodbye: answered (%s), daemon alive"
                  % (what, statuses), d.logtail())
            check(wait_until(database_up, 60, 0.5), "PostgreSQL is back after its crash")
            check(wait_until(lambda: Client(d, None).get("/readyz")[0] == 200, 30, 0.3),
                  "the daemon is ready again after %s" % what, d.logtail())
        # A reset the daemon has not read yet, and a NOTIFY hotline_clients before it: the
        # identity reload it triggers is the first to meet the dead connection.
        d.signal(signal.SIGSTOP)
        try:
            psql("notify hotline_clients")
            time.sleep(0.3)
            reset = lib.reset_pool_connections(d)
            time.sleep(0.3)
        finally:
            d.signal(signal.SIGCONT)
        check(reset == 1, "the pool connection is reset under the stopped daemon", reset)
        check(wait_until(lambda: Client(d, None).get("/readyz")[0] == 200, 15, 0.3),
              "the daemon is ready again after the reset", d.logtail())
        psql("select hotline.client_revoke(:'a0')", name)
        refused = wait_until(lambda: Client(d, name).get(
            "/v1/cases/2026-320102-00000001")[0] == 403, 5, 0.1)
        check(refused, "afterwards the identity cache still reloads: a revoked client is refused"
              " within 5 s", d.logtail())
        with ShortDeadlines(ack=2, action=30):
            n = lib.file_report(d, "reports.self-harm.valid.json")["case_number"]
            fired = wait_until(lambda: any(e["kind"] in ("clock_missed", "escalated")
                                           for e in lib.history(n)), 20, 0.25)
        check(fired, "and the escalation timer still fires a short-deadline clock",
              [e["kind"] for e in lib.history(n)])
    finally:
        stop_cleanly(d)
        wait_until(lambda: Client(daemon, None).get("/readyz")[0] == 200, 30, 0.3)
