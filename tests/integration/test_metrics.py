"""Metrics: GET /metrics on metrics_listen passes `promtool check metrics`,
names every family, and its counters and gauges move as requests,
connections, handshakes, long polls, reloads and clocks happen; it holds no
personal data, case number, client name or fingerprint; an empty
metrics_listen serves none."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid

from . import lib
from .lib import (Client, Daemon, ShortDeadlines, check, file_report, history,
                  personal_data_sent, psql, stop_cleanly, test, tls_connect, wait_until)

FAMILIES = [
    "hotlined_build_info", "process_start_time_seconds", "hotlined_requests_total",
    "hotlined_request_duration_seconds", "hotlined_connections",
    "hotlined_tls_handshake_failures_total", "hotlined_db_batch_size",
    "hotlined_db_roundtrip_seconds", "hotlined_db_connection_failures_total",
    "hotlined_long_poll_waiters", "hotlined_identity_reloads_total", "hotlined_identity_clients",
    "hotlined_key_reloads_total", "hotlined_escalation_passes_total",
    "hotlined_clocks_handled_total", "hotlined_clocks_escalated_total",
    "hotlined_clocks_set_aside_total",
    "hotlined_clocks_next_due_timestamp_seconds", "hotlined_db_connections",
    "hotlined_db_queue_jobs", "hotlined_escalation_last_pass_timestamp_seconds",
    "hotlined_clocks_overdue_seconds"]

# Every label the exposition may carry, and what its values may look like.
LABELS = {"route": r"[a-z_]+", "method": r"[A-Z]+", "status": r"\d{3}",
          "state": r"[a-z]+", "role": r"pool|listen", "reason": r"[a-z0-9_]+",
          "result": r"ok|failed", "le": r"[0-9.e+-]+|\+Inf", "version": r"[0-9.]+"}


def promtool(text):
    """(exit status, output) of promtool check metrics on an exposition."""
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=30)
    return out.returncode, (out.stdout + out.stderr).strip()


def value(d, name, **labels):
    """A sample's value, 0 when the series does not exist yet."""
    return d.metric(name, **labels) or 0


@test
def the_exposition_passes_promtool_and_names_every_family(daemon):
    file_report(daemon)
    Client(daemon, None).get("/v1/cases/2026-320102-00000001")
    st, h, text = daemon.metrics()
    check(st == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "GET /metrics is 200 in the text format 0.0.4", (st, h))
    if shutil.which("promtool") is None:
        check(False, "promtool is installed (daemon/dev/deps.sh test installs prometheus)")
    else:
        rc, out = promtool(text)
        check(rc == 0 and out == "", "promtool check metrics finds nothing to say", out)
    typed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    missing = [f for f in FAMILIES if f not in typed]
    check(not missing, "every family is exposed with its TYPE (%d)" % len(FAMILIES), missing)
    release = subprocess.run([lib.BINARY, "-V"], capture_output=True, text=True).stdout.split()
    check(len(release) == 2 and lib.metric_value(text, "hotlined_build_info",
                                                 version=release[1]) == 1,
          "hotlined_build_info carries the release that hotlined -V prints", release)
    st, h, _ = lib.http_get("127.0.0.1", daemon.metrics_port, "/metrics", "HEAD")
    check(st == 200, "HEAD /metrics is 200", st)
    st, h, body = lib.http_get("127.0.0.1", daemon.metrics_port, "/")
    check(st == 404, "another path on the metrics port is 404", (st, body))
    st, h, body = lib.http_get("127.0.0.1", daemon.metrics_port, "/metrics", "POST")
    check(st == 405 and h.get("allow") == "GET, HEAD", "POST /metrics is 405 with Allow",
          (st, h))


@test
def request_counters_and_latencies_move_with_requests(daemon):
    labels = dict(route="reports", method="POST")
    before = daemon.metrics()[2]
    n201 = lib.metric_value(before, "hotlined_requests_total", status="201", **labels) or 0
    n401 = lib.metric_value(before, "hotlined_requests_total", route="case", method="GET",
                            status="401") or 0
    count = lib.metric_value(before, "hotlined_request_duration_seconds_count", **labels) or 0
    inf = lib.metric_value(before, "hotlined_request_duration_seconds_bucket", le="+Inf",
                           **labels) or 0
    batch_sum = lib.metric_value(before, "hotlined_db_batch_size_sum") or 0
    trips = lib.metric_value(before, "hotlined_db_roundtrip_seconds_count") or 0
    file_report(daemon)
    file_report(daemon)
    st, h, b = Client(daemon, None).get("/v1/cases/2026-320102-00000001")
    after = daemon.metrics()[2]
    check(lib.metric_value(after, "hotlined_requests_total", status="201", **labels) == n201 + 2,
          "two reports filed: requests_total{route=reports,method=POST,status=201} +2")
    check(st == 401 and lib.metric_value(after, "hotlined_requests_total", route="case",
                                         method="GET", status="401") == n401 + 1,
          "a read without a certificate: {route=case,method=GET,status=401} +1")
    check(lib.metric_value(after, "hotlined_request_duration_seconds_count", **labels)
          == count + 2 and lib.metric_value(after, "hotlined_request_duration_seconds_bucket",
                                            le="+Inf", **labels) == inf + 2,
          "their durations are in the latency histogram (+2 in count and +Inf)")
    check(lib.metric_value(after, "hotlined_db_batch_size_sum") == batch_sum + 2,
          "both submissions went through group commit (batch sizes add up to 2 more)")
    check((lib.metric_value(after, "hotlined_db_roundtrip_seconds_count") or 0) >= trips + 2,
          "database round trips are timed")
    pool = [lib.metric_value(after, "hotlined_db_connections", role="pool", state=s) or 0
            for s in ("down", "connecting", "preparing", "idle", "busy")]
    check(sum(pool) == int(lib.base_settings()["db_pool_size"]) and pool[3] >= 1,
          "the pool's connections are shown by state, idle at rest", pool)
    check(lib.metric_value(after, "hotlined_db_connections", role="listen",
                           state="listening") == 1, "the listening connection is listening")
    check(lib.metric_value(after, "hotlined_db_queue_jobs") == 0, "no job waits at rest")


@test
def connections_and_failed_handshakes_are_counted(daemon):
    def conns(state):
        return value(daemon, "hotlined_connections", state=state)

    def failures(reason):
        return value(daemon, "hotlined_tls_handshake_failures_total", reason=reason)

    base = {s: conns(s) for s in ("certified", "uncertified")}
    with_cert, without = tls_connect(daemon.port, "gateway"), tls_connect(daemon.port, None)
    try:
        got = wait_until(lambda: conns("certified") == base["certified"] + 1
                         and conns("uncertified") == base["uncertified"] + 1, 5)
        check(got, "an open connection counts as certified or not by its client certificate",
              daemon.metrics()[2][-2000:])
    finally:
        with_cert.close()
        without.close()
    check(wait_until(lambda: conns("certified") == base["certified"]
                     and conns("uncertified") == base["uncertified"], 5),
          "closed connections leave the gauge")
    seen = {r: failures(r) for r in ("unknown_ca", "http_request", "closed")}
    try:
        tls_connect(daemon.port, "stranger").close()
    except (OSError, ValueError):
        pass
    check(wait_until(lambda: failures("unknown_ca") == seen["unknown_ca"] + 1, 5),
          "a certificate from another CA: handshake failure reason=unknown_ca")
    s = socket.create_connection(("127.0.0.1", daemon.port))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
    except OSError:
        pass
    s.close()
    check(wait_until(lambda: failures("http_request") == seen["http_request"] + 1, 5),
          "plain HTTP on the TLS port: reason=http_request")
    socket.create_connection(("127.0.0.1", daemon.port)).close()
    check(wait_until(lambda: failures("closed") == seen["closed"] + 1, 5),
          "a client that leaves before its handshake: reason=closed")
    d = Daemon("metrics-timeout", handshake_timeout=1).start()
    try:
        s = socket.create_connection(("127.0.0.1", d.port))
        check(wait_until(lambda: value(d, "hotlined_tls_handshake_failures_total",
                                       reason="timeout") == 1, 5)
              and value(d, "hotlined_connections", state="handshake") == 0,
              "a handshake that never comes: reason=timeout once its deadline passed")
        s.close()
    finally:
        stop_cleanly(d)


@test
def long_poll_waiters_are_counted(daemon):
    before = value(daemon, "hotlined_long_poll_waiters")
    t, result = lib.in_background(lambda: Client(daemon, "legal_aid-320104", timeout=20).get(
        "/v1/queue?state=prosecution&wait=3"))
    check(wait_until(lambda: value(daemon, "hotlined_long_poll_waiters") == before + 1, 3),
          "a long poll with nothing to return counts as a waiter")
    t.join(15)
    check(isinstance(result[0], tuple) and result[0][0] == 200
          and value(daemon, "hotlined_long_poll_waiters") == before,
          "answered when its wait ends, it is no waiter any more", result[0])


@test
def identity_and_key_reloads_are_counted(daemon):
    ok = value(daemon, "hotlined_identity_reloads_total", result="ok")
    name = lib.make_client_cert("it-metrics-" + uuid.uuid4().hex[:8])
    lib.register_client(name, "operator")
    check(wait_until(lambda: value(daemon, "hotlined_identity_reloads_total", result="ok") > ok
                     and value(daemon, "hotlined_identity_clients") == float(lib.scalar(
                         "select count(*) from hotline.clients")), 5),
          "a client registered: the identity cache reloads, and holds every client")
    keys = os.path.join(lib.VAR, "test-metrics-keys-" + uuid.uuid4().hex[:8])
    os.makedirs(keys, mode=0o700)
    for f in ("master.key", "hash.key"):
        shutil.copy(os.path.join(lib.VAR, "keys", f), os.path.join(keys, f))
        os.chmod(os.path.join(keys, f), 0o600)
    d = Daemon("metrics-keys", master_key=os.path.join(keys, "master.key"),
               hash_key=os.path.join(keys, "hash.key")).start()
    try:
        d.signal(signal.SIGHUP)
        check(wait_until(lambda: value(d, "hotlined_key_reloads_total", result="ok") == 1, 5),
              "SIGHUP reloads the key files: key_reloads_total{result=ok} 1")
        with open(os.path.join(keys, "master.key"), "w") as f:
            f.write("not a key\n")
        d.signal(signal.SIGHUP)
        check(wait_until(lambda: value(d, "hotlined_key_reloads_total", result="failed") == 1, 5)
              and file_report(d).get("case_number"),
              "a key file that no longer parses: {result=failed} 1, the old keys kept serving")
    finally:
        stop_cleanly(d)


@test(limit=60)
def the_escalation_loop_reports_its_passes_and_clocks(daemon):
    handled = value(daemon, "hotlined_clocks_handled_total")
    escalated = value(daemon, "hotlined_clocks_escalated_total")
    passes = value(daemon, "hotlined_escalation_passes_total", result="ok")
    t0 = time.time()
    with ShortDeadlines(ack=2):
        number = file_report(daemon)["case_number"]
    check(wait_until(lambda: any(e["kind"] == "clock_missed" for e in history(number)), 20),
          "the case's acknowledge deadline is missed")
    check(wait_until(lambda: value(daemon, "hotlined_clocks_handled_total") >= handled + 2, 5),
          "its warning and its missed deadline count in clocks_handled_total (+2 at least)")
    made = [e for e in history(number) if e["kind"] == "escalated"]
    check(made and value(daemon, "hotlined_clocks_escalated_total") >= escalated + len(made),
          "the escalation it made counts in clocks_escalated_total (+%d at least)" % len(made),
          (escalated, value(daemon, "hotlined_clocks_escalated_total")))
    check(value(daemon, "hotlined_escalation_passes_total", result="ok") > passes,
          "the passes that handled them are counted")
    last = value(daemon, "hotlined_escalation_last_pass_timestamp_seconds")
    check(t0 - 1 <= last <= time.time() + 1, "the last pass's time is that of a pass just made",
          (t0, last))
    nxt = value(daemon, "hotlined_clocks_next_due_timestamp_seconds")
    due = float(lib.scalar("select extract(epoch from hotline.clock_next_due()) from"
                           " (select set_config('hotline.scope', 'system', false)) s"))
    check(abs(nxt - due) < 1, "the next due time is the database's earliest clock", (nxt, due))
    check(value(daemon, "hotlined_clocks_overdue_seconds") < 5, "no clock is left overdue")


@test
def the_exposition_names_no_person_case_client_or_certificate(daemon):
    text = daemon.metrics()[2]
    bad = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        for k, v in re.findall(r'(\w+)="([^"]*)"', line):
            if k not in LABELS or not re.fullmatch(LABELS[k], v):
                bad.append(line)
    check(not bad, "every label is one of %s with a value of its form" % sorted(LABELS), bad[:5])
    found = [p for p in personal_data_sent() if p in text]
    found += re.findall(r"\d{4}-\d{6}-\d{8}|[0-9a-f]{64}", text)
    names = [r[0] for r in psql("select name from hotline.clients") if len(r[0]) > 4]
    found += [n for n in names if '"%s"' % n in text]
    check(not found, "no personal value, case number, client name or"
          " certificate fingerprint is in the exposition", found[:5])


@test
def an_empty_metrics_listen_serves_no_metrics(daemon):
    d = Daemon("no-metrics", metrics_listen="").start()
    try:
        try:
            lib.http_get("127.0.0.1", d.metrics_port, "/metrics", timeout=2)
            refused = False
        except OSError:
            refused = True
        check(refused and "event=metrics_disabled" in d.logtext(),
              "metrics_listen empty: nothing listens for scrapes, and the log says so")
    finally:
        stop_cleanly(d)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    d = Daemon("metrics-taken", metrics_listen="127.0.0.1:%d" % taken.getsockname()[1])
    try:
        d.start(wait_ready=False)
        started = True
    except AssertionError:
        started = False
    taken.close()
    check(not started and "what=metrics" in d.logtext(),
          "a metrics address that cannot be bound stops the daemon at start", d.logtail())
