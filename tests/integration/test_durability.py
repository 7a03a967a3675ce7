"""Durability: the database going down and coming back (503 with
Retry-After, then recovery without a restart), submissions streamed through
a database restart, and kill -9 during a stream: nothing acknowledged is
lost or doubled; a connection string of several hosts whose first never
answers is served by the next."""

import re
import socket
import threading
import time
import uuid

from . import lib
from .lib import (Client, Daemon, check, example, is_error, keyed_cases, new_key,
                  not_stored_once, psql, scalar, stop_cleanly, test, wait_until)


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
        check(is_error(st, b, 503, "unavailable"), "/readyz is 503 with the database down", (st, b))
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
