"""The command-line client, build/hotline, run as the real program against
real daemons: every command with a success and a refusal (exit statuses,
--json parsed), its settings, the retry loop through a daemon restart, a
daemon killed with the submission in flight, a database restart and a 409
in flight (each filing exactly once), re-runs under the same --key, watching
a queue while other processes file work and while the daemon restarts, and
the verification of the daemon's certificate.  Under --sanitizers the
client's sanitizer build (build/asan/hotline) runs, and its stderr is
searched for sanitizer reports."""

import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import time
import unicodedata
import uuid
from datetime import datetime, timedelta

from . import lib
from .lib import (Client, Daemon, TableLock, check, example, example_json, expected_errors,
                  file_report, keyed_cases, new_key, personal_report, personal_values, pki,
                  stop_cleanly, test, wait_until)

CLIENT = os.path.join(lib.ROOT, "build", "hotline")
ASAN_CLIENT = os.path.join(lib.ROOT, "build", "asan", "hotline")
CASE = re.compile(r"\bcase (\d{4}-\d{6}-\d{8})\b")
TRY = re.compile(r"try (\d+)(?: key=(\S+))?: (.*?)(?: request=\w+)?$", re.M)
NEXT = re.compile(r"next try in ([\d.]+) s")
_sanitizer_reports = []     # lines of the client's stderr that a sanitizer wrote
_stderr = []                # the stderr of every run


def binary():
    """The client under test: the sanitizer build in the asan suite."""
    return ASAN_CLIENT if lib.SANITIZERS and os.path.exists(ASAN_CLIENT) else CLIENT


def client_env(target, cert, **settings):
    """The environment of a run: the daemon's URL, the CA and a certificate
    by name, an empty home (no settings file), and any more variables."""
    port = target.port if isinstance(target, Daemon) else target
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HOTLINED_") and k != "XDG_CONFIG_HOME"}
    home = os.path.join(lib.VAR, "test-cli-home")
    os.makedirs(home, exist_ok=True)
    env.update(HOME=home, HOTLINED_URL="https://127.0.0.1:%d" % port, HOTLINED_CA=pki("ca.crt"),
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    if cert is not None:
        env.update(HOTLINED_CERT=pki(cert + ".crt"), HOTLINED_KEY=pki(cert + ".key"))
    env.update(settings)
    return env


def _scan(err):
    """Remember a run's stderr, and the sanitizer reports in it."""
    _stderr.append(err)
    _sanitizer_reports.extend(line for line in err.splitlines()
                              if any(m in line for m in lib.SANITIZER_MARKS))


def hotline(target, cert, *args, timeout=90, env=None, stdin=None):
    """Run the client to its end: (exit status, stdout, stderr)."""
    out = subprocess.run([binary()] + list(args), capture_output=True, text=True,
                         timeout=timeout, env=env or client_env(target, cert), input=stdin)
    _scan(out.stderr)
    return out.returncode, out.stdout, out.stderr


class Background:
    """The client running in the background, its output going to files."""

    def __init__(self, target, cert, *args, env=None):
        tag = "%d-%d" % (os.getpid(), time.monotonic_ns())
        self.outpath = os.path.join(lib.VAR, "test-cli-%s.out" % tag)
        self.errpath = os.path.join(lib.VAR, "test-cli-%s.err" % tag)
        with open(self.outpath, "wb") as o, open(self.errpath, "wb") as e:
            self.proc = subprocess.Popen([binary()] + list(args), stdin=subprocess.DEVNULL,
                                         stdout=o, stderr=e, env=env or client_env(target, cert))

    def out(self):
        with open(self.outpath, encoding="utf-8", errors="replace") as f:
            return f.read()

    def err(self):
        with open(self.errpath, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait(self, timeout=60):
        """Its end: (exit status, stdout, stderr); killed if it overruns."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        _scan(self.err())
        return rc, self.out(), self.err()

    def stop(self):
        """End a watcher (SIGTERM); its output so far."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.wait(10)


def body_file(name, body):
    """Write a request body to a file for the client (remembered for the log search)."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    lib.remember_sent(data)
    path = os.path.join(lib.VAR, "test-cli-%s.json" % name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def example_path(name):
    """The path of a protocol example."""
    return os.path.join(lib.EXAMPLES, name)


def tries(err):
    """The tries logged at -v: [(number, key, outcome)]."""
    return [(int(n), k, what) for n, k, what in TRY.findall(err)]


def display_width(text):
    """Columns a text takes on a terminal: East Asian wide characters two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def parsed(out):
    """stdout as JSON, or None."""
    try:
        return json.loads(out)
    except ValueError:
        return None


def refused(rc, err, status, code, field=None):
    """True if a run exited 1 naming the status, the code (and the field)."""
    want = "refused: %d %s" % (status, code) + (" (field %s)" % field if field else "")
    return rc == 1 and want in err


def police_case(daemon, region="320102"):
    """File a sexual-abuse report from a school in a county: (case number,
    the county police's assignment id)."""
    body = example_json("reports.sexual-abuse.valid.json")
    body["child"]["region_code"] = region
    n = file_report(daemon, body)["case_number"]
    a = lib.assignment_of(daemon, "police-" + region, n)
    return n, a["assignment_id"]


def drain_open(daemon, agency):
    """Acknowledge every open assignment of an agency, so its open queue is empty."""
    c = Client(daemon, agency)
    for _ in range(20):
        st, h, b = c.get("/v1/queue?state=open&limit=500")
        if st != 200 or not b["assignments"]:
            return st == 200
        for a in b["assignments"]:
            c.post("/v1/assignments/%s/ack" % a["assignment_id"], None, new_key())
    return False


@test
def the_usage_comes_from_the_command_table_and_misuse_exits_2(daemon):
    rc, out, err = hotline(daemon, "police-320102", "-h")
    words = ["queue", "ack", "outcome", "note", "feedback", "supervise", "transfer", "overdue",
             "records", "case", "request", "requests", "approve", "deny", "access-log", "submit",
             "cases", "lookup", "regrade", "categorise", "correct", "link", "supplement", "status",
             "stats", "version"]
    listed = [w for w in words if re.search(r"^  %s\b" % w, out, re.M)]
    check(rc == 0 and listed == words and "exit status: 0 ok, 1 refused" in out,
          "hotline -h lists every command and the exit statuses", out)
    rc, out, err = hotline(daemon, "police-320102", "outcome", "-h")
    check(rc == 0 and out.startswith("usage: hotline outcome <case> <outcome>")
          and "--police-case-number n" in out and "record an outcome" in out,
          "hotline <command> -h prints that command's usage and help", (rc, out, err))
    rc, out, err = hotline(daemon, "police-320102", "frobnicate")
    check(rc == 2 and "unknown command frobnicate" in err and "commands:" in err,
          "an unknown command exits 2 with the usage", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "ack")
    check(rc == 2 and "usage: hotline ack <assignment> [--key key]" in err,
          "a command without its argument exits 2 with its usage line", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "transfer", "x", "police-320104")
    check(rc == 2 and "--reason is required" in err, "a required flag left out exits 2", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "queue", "--key", "k1")
    check(rc == 2 and "unknown option" in err, "--key is refused on a command that only reads",
          (rc, err))
    rc, out, err = hotline(daemon, "gateway", "submit", "reports",
                           example_path("reports.self-harm.valid.json"), "--key", "bad key!")
    check(rc == 2 and "A-Z a-z 0-9" in err, "a malformed Idempotency-Key exits 2 before sending",
          (rc, err))
    rc, out, err = hotline(daemon, None, "version")
    check(rc == 2 and "no client certificate" in err, "no certificate configured exits 2",
          (rc, err))
    rc, out, err = hotline(daemon, "gateway", "submit", "letters", "x.json")
    check(rc == 2 and "calls, cases or reports" in err, "submit names calls, cases or reports",
          (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "feedback")
    check(rc == 2 and "usage: hotline feedback <case> [text] [--notice prosecution]" in err,
          "an optional argument is shown in brackets, and the one before it is still needed",
          (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "-h")
    wide = [line for line in out.splitlines() if display_width(line) > 79]
    check(not wide, "the usage fits 79 columns, a Chinese character counted as two", wide)


@test
def settings_come_from_a_file_then_the_environment_then_o(daemon):
    d = os.path.join(lib.VAR, "test-cli-conf")
    os.makedirs(d, exist_ok=True)
    for n in ("ca.crt", "console.crt", "console.key"):
        dest = os.path.join(d, n)
        if not os.path.exists(dest):
            os.symlink(pki(n), dest)
    conf = os.path.join(d, "console.conf")
    with open(conf, "w") as f:
        f.write("# the operator seat\nurl = https://127.0.0.1:%d\ncert = console.crt\n"
                "key = console.key\nca = ca.crt\nretry_time = 5\n" % daemon.port)
    env = client_env(daemon, None)
    del env["HOTLINED_URL"], env["HOTLINED_CA"]
    rc, out, err = hotline(daemon, None, "-c", conf, "version", env=env)
    check(rc == 0 and out.startswith("hotlined "),
          "a settings file (-c) with paths relative to it is enough", (rc, out, err))
    home = os.path.join(d, "home")
    os.makedirs(os.path.join(home, ".config", "hotline"), exist_ok=True)
    with open(os.path.join(home, ".config", "hotline", "config"), "w") as f:
        f.write("url = https://127.0.0.1:%d\ncert = %s\nkey = %s\nca = %s\n" % (
            lib.free_port(), pki("console.crt"), pki("console.key"), pki("ca.crt")))
    env = client_env(daemon, None, HOME=home)
    del env["HOTLINED_URL"], env["HOTLINED_CA"]
    rc, out, err = hotline(daemon, None, "-o", "retry_time=0", "version", env=env)
    check(rc == 3 and "cannot connect" in err,
          "~/.config/hotline/config is read by default (its URL is used)", (rc, err))
    env["HOTLINED_URL"] = "https://127.0.0.1:%d" % daemon.port
    rc, out, err = hotline(daemon, None, "version", env=env)
    check(rc == 0, "HOTLINED_URL overrides the file", (rc, err))
    rc, out, err = hotline(daemon, None, "-o", "url=https://127.0.0.1:%d" % lib.free_port(),
                           "-o", "retry_time=0", "version", env=env)
    check(rc == 3, "-o overrides the environment", (rc, err))
    with open(conf, "a") as f:
        f.write("colour = blue\ntimeout = soon\n")
    rc, out, err = hotline(daemon, None, "-c", conf, "version", env=env)
    check(rc == 2 and "console.conf:7: unknown setting colour" in err
          and "console.conf:8: timeout must be a number of seconds" in err,
          "a bad settings file exits 2 naming each file:line", (rc, err))
    rc, out, err = hotline(daemon, None, "-c", os.path.join(d, "missing.conf"), "version",
                           env=env)
    check(rc == 2 and "missing.conf" in err, "a missing -c file exits 2", (rc, err))


@test
def version_prints_the_release_and_schema(daemon):
    st, h, v = Client(daemon, "console").get("/v1/version")
    rc, out, err = hotline(daemon, "console", "version")
    check(rc == 0 and out == "hotlined %s, schema %s\n" % (v["release"], v["schema"]),
          "version prints the release and schema", (out, v))
    rc, out, err = hotline(daemon, "console", "--json", "version")
    check(rc == 0 and parsed(out) == v, "version --json is the daemon's JSON", out)
    rc, out, err = hotline(daemon, "revoked", "version")
    check(refused(rc, err, 403, "client_revoked"), "a revoked certificate exits 1 with its code",
          (rc, err))


@test
def submit_files_a_report_or_a_call_and_prints_what_was_stored(daemon):
    rc, out, err = hotline(daemon, "gateway", "submit", "reports",
                           example_path("reports.sexual-abuse.valid.json"))
    m = CASE.search(out)
    receipt = re.search(r"receipt (R[A-Z2-7]{20}), risk 2 橙", out)
    check(rc == 0 and m and receipt and lib.case_count(m.group(1)) == "1",
          "submit reports prints the stored case, receipt and risk", (rc, out, err))
    rc, out, err = hotline(daemon, "gateway", "--json", "submit", "reports",
                           example_path("reports.self-harm.valid.json"))
    r = parsed(out)
    check(rc == 0 and isinstance(r, dict) and lib.RECEIPT.match(r.get("receipt_id", ""))
          and lib.case_count(r["case_number"]) == "1",
          "submit --json prints the daemon's 201 body", (rc, out, err))
    rc, out, err = hotline(daemon, "console", "submit", "calls",
                           example_path("calls.case-opened.valid.json"))
    check(rc == 0 and re.search(r"^call [0-9a-f-]{36} received ", out, re.M) and CASE.search(out),
          "submit calls prints the call and the case it opened", (rc, out, err))
    rc, out, err = hotline(daemon, "console", "submit", "calls", "-", stdin=example(
        "calls.silent.valid.json").decode())
    check(rc == 0 and out.startswith("call ") and not CASE.search(out),
          "submit reads the body from stdin with -", (rc, out, err))
    name = "calls.bad-phone.invalid.json"
    want = expected_errors()[name]
    rc, out, err = hotline(daemon, "console", "submit", "calls", example_path(name))
    check(refused(rc, err, want["status"], want["code"], want.get("field")),
          "an invalid body exits 1 with the status, code and field", (rc, err))
    rc, out, err = hotline(daemon, "console", "--json", "submit", "calls", example_path(name))
    check(rc == 1 and lib.error_code(parsed(out)) == want["code"],
          "with --json the error body is printed as the daemon sent it", (rc, out))
    rc, out, err = hotline(daemon, "console", "submit", "reports",
                           example_path("reports.self-harm.valid.json"))
    check(refused(rc, err, 403, "forbidden"), "an operator may not file reports: exit 1",
          (rc, err))
    rc, out, err = hotline(daemon, "gateway", "submit", "reports", "/nonexistent/r.json")
    check(rc == 2 and "/nonexistent/r.json" in err, "an unreadable file exits 2", (rc, err))


@test
def status_shows_a_reports_milestones_to_its_gateway(daemon):
    r = file_report(daemon, "reports.sexual-abuse.valid.json")
    rc, out, err = hotline(daemon, "gateway", "status", r["receipt_id"])
    check(rc == 0 and out.startswith("receipt " + r["receipt_id"]) and "已接收" in out,
          "status lists the milestones a reporter may see", (rc, out, err))
    rc, out, err = hotline(daemon, "gateway", "--json", "status", r["receipt_id"])
    s = parsed(out)
    check(rc == 0 and s["milestones"][0]["milestone"] == "received", "status --json", out)
    rc, out, err = hotline(daemon, "gateway2", "status", r["receipt_id"])
    check(refused(rc, err, 404, "not_found"), "another gateway gets 404: exit 1", (rc, err))


@test
def a_rerun_with_the_same_key_files_once_and_another_body_is_refused(daemon):
    k = new_key()
    path = body_file("rerun", personal_report())
    rc1, out1, err1 = hotline(daemon, "gateway", "submit", "reports", path, "--key", k)
    rc2, out2, err2 = hotline(daemon, "gateway", "submit", "reports", path, "--key", k)
    n1, n2 = CASE.search(out1), CASE.search(out2)
    check(rc1 == 0 and rc2 == 0 and n1 and n2 and n1.group(1) == n2.group(1)
          and "replayed" in out2 and "replayed" not in out1,
          "the same key and body give the same case, the second time replayed", (out1, out2))
    check(keyed_cases("gateway", k) == "1" and lib.case_count(n1.group(1)) == "1",
          "and the database holds it once")
    rc, out, err = hotline(daemon, "gateway", "submit", "reports",
                           example_path("reports.self-harm.valid.json"), "--key", k)
    check(refused(rc, err, 422, "idempotency_key_reused"),
          "another body under the key exits 1 with 422 idempotency_key_reused", (rc, err))


@test(limit=120)
def submit_retries_until_a_stopped_daemon_is_back_and_files_once():
    d = Daemon("cli-restart").start()
    try:
        d.stop()
        k = new_key()
        report = personal_report()
        bg = Background(d, "gateway", "-v", "-o", "retry_time=60", "submit", "reports",
                        body_file("restart", report), "--key", k)
        time.sleep(2)
        d.start()
        rc, out, err = bg.wait(60)
        t = tries(err)
        # Until the daemon listens, no connection; once it listens, a 503 for as long
        # as its pool is still connecting; then the 201.
        check(rc == 0 and len(t) >= 2 and "cannot connect" in t[0][2]
              and all("cannot connect" in w or w.startswith("503 unavailable")
                      for _, _, w in t[:-1])
              and t[-1][2] == "201" and all(key == k for _, key, _ in t),
              "submit retries under one key while the daemon is down and files it once it is"
              " back", err)
        check(keyed_cases("gateway", k) == "1", "exactly one case for the key")
        leaked = [v for v in personal_values(report) if v in err]
        check(not leaked, "-v logs every try but none of the body's personal data", leaked)
        # The daemon killed while the submission waits for the database: the
        # outcome is unknown to the client, which retries under the same key.
        k = new_key()
        with TableLock(4):
            bg = Background(d, "gateway", "-v", "-o", "retry_time=60", "submit", "reports",
                            body_file("killed", personal_report()), "--key", k)
            wait_until(lambda: scalar_waiting(), 10)
            d.kill9()
            d.start()
        rc, out, err = bg.wait(60)
        t = tries(err)
        check(rc == 0 and t and "no answer" in t[0][2] and t[-1][2] == "201"
              and CASE.search(out), "a daemon killed mid-request: the client retries to a 201",
              err)
        check(keyed_cases("gateway", k) == "1" and lib.case_count(CASE.search(out).group(1))
              == "1", "and the case exists exactly once", (k, out))
    finally:
        stop_cleanly(d)


def scalar_waiting():
    """True while some session waits for a lock on hotline.cases."""
    return lib.scalar("select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
                      " where c.relname = 'cases' and not l.granted") != "0"


@test(limit=120)
def submit_retries_through_a_database_restart_honouring_retry_after(daemon):
    k = new_key()
    lib.pg_stop()
    try:
        bg = Background(daemon, "gateway", "-v", "-o", "retry_time=60", "-o", "retry_first=0.05",
                        "-o", "retry_max=0.2", "submit", "reports",
                        example_path("reports.self-harm.valid.json"), "--key", k)
        wait_until(lambda: "503 unavailable" in bg.err(), 15)
        time.sleep(1)
    finally:
        lib.pg_start()
    rc, out, err = bg.wait(60)
    t = tries(err)
    gaps = [float(x) for x in NEXT.findall(err)]
    check(rc == 0 and any("503 unavailable (Retry-After 2 s)" in w for _, _, w in t)
          and t[-1][2] == "201", "503s while the database is down, then 201", err)
    check(gaps and min(gaps) >= 2.0, "every wait honours Retry-After: 2 (back-off alone would"
          " wait at most 0.2 s)", gaps)
    check(keyed_cases("gateway", k) == "1", "exactly one case for the key")


@test
def a_409_in_flight_is_retried_until_the_first_request_ends(daemon):
    k = new_key()
    gw = lib.scalar("select id from hotline.clients where name = 'gateway'")
    holder = subprocess.Popen(
        [lib.PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    holder.stdin.write("begin; select pg_advisory_xact_lock(hashtextextended('%s:%s', 12355));"
                       " select pg_sleep(3); commit;\n" % (gw, k))
    holder.stdin.close()
    wait_until(lambda: lib.scalar("select count(*) from pg_locks where locktype = 'advisory'"
                                  " and granted") != "0", 10)
    rc, out, err = hotline(daemon, "gateway", "-v", "submit", "reports",
                           example_path("reports.self-harm.valid.json"), "--key", k)
    holder.wait(30)
    t = tries(err)
    check(rc == 0 and t[0][2].startswith("409 idempotency_in_flight") and t[-1][2] == "201",
          "a 409 idempotency_in_flight is retried under the same key until it is 201", err)
    check(keyed_cases("gateway", k) == "1", "exactly one case for the key")


@test
def a_daemon_that_stays_away_is_exit_3_naming_the_key(daemon):
    port = lib.free_port()
    t0 = time.monotonic()
    rc, out, err = hotline(port, "gateway", "-v", "-o", "retry_time=2", "submit", "reports",
                           example_path("reports.self-harm.valid.json"))
    took = time.monotonic() - t0
    keys = set(key for _, key, _ in tries(err))
    check(rc == 3 and len(tries(err)) >= 2 and len(keys) == 1 and took < 10
          and "never reached the daemon; with --key %s" % keys.pop() in err,
          "unavailable within retry_time: exit 3, the one key printed for a safe re-run",
          (rc, took, err))
    rc, out, err = hotline(port, "police-320102", "-o", "retry_time=0", "queue")
    check(rc == 3 and "unavailable after 1 try" in err, "a read is exit 3 too", (rc, err))
    bg = Background(port, "gateway", "submit", "reports",
                    example_path("reports.self-harm.valid.json"))
    time.sleep(1)
    bg.proc.send_signal(signal.SIGINT)
    rc, out, err = bg.wait(10)
    check(rc == 130 and re.search(r"^hotline: interrupted: .* --key [0-9a-f-]{36} to do it at"
                                  r" most once$", err, re.M),
          "interrupted while retrying a POST, it names the key for a safe re-run", (rc, err))


@test
def queue_lists_the_agencys_work_most_urgent_first(daemon):
    check(drain_open(daemon, "police-320104"), "police-320104's open queue is emptied first")
    n, aid = police_case(daemon, "320104")
    body = example_json("reports.missing-immediate-danger.valid.json")
    urgent = file_report(daemon, body)["case_number"]
    rc, out, err = hotline(daemon, "police-320104", "queue", "--state", "open")
    rows = out.splitlines()
    check(rc == 0 and len(rows) == 3 and rows[0].split() == [
        "RISK", "CASE", "AGENCY", "ROLE", "STATE", "CATEGORIES", "NEXT", "CLOCK", "ASSIGNMENT",
        "CASE", "UPDATED"],
          "queue prints a heading and one row per assignment", out)
    check(len(rows) == 3 and rows[1].startswith("1 红  " + urgent)
          and rows[2].startswith("2 橙  " + n),
          "most urgent first: risk 1 (红) before risk 2 (橙)", out)
    check(len(rows) == 3 and re.match(
        r"^2 橙  %s  police-320104  主办  待接收  侵害/性侵害 +接收 (\d+m|1h 00m) +%s +-$" % (n, aid),
        rows[2]), "a row: risk, case, agency, role, state, categories, the nearest clock with its"
          " time left, the assignment, when the case was last updated from outside (never)",
          rows[2:])
    rc, out, err = hotline(daemon, "police-320104", "--json", "queue", "--state", "open")
    q = parsed(out)
    check(rc == 0 and q.get("assignments") == lib.queue(daemon, "police-320104", "?state=open")
          and "next_since" in q, "queue --json is the daemon's list", out[:300])
    rc, out, err = hotline(daemon, "police-320102", "queue", "--state", "bogus")
    check(refused(rc, err, 400, "invalid_value", "state"), "a bad state exits 1", (rc, err))
    rc, out, err = hotline(daemon, "gateway", "queue")
    check(refused(rc, err, 403, "forbidden"), "a gateway has no queue: exit 1", (rc, err))


@test
def ack_and_outcomes_move_the_assignment(daemon):
    n, aid = police_case(daemon)
    rc, out, err = hotline(daemon, "police-320102", "ack", aid)
    check(rc == 0 and out.startswith("acknowledged %s (case %s" % (aid, n)) and "已接收" in out,
          "ack acknowledges the assignment", (rc, out, err))
    rc, out, err = hotline(daemon, "police-320102", "--json", "ack", aid)
    check(rc == 0 and parsed(out)["state"] == "acknowledged", "ack --json", out)
    rc, out, err = hotline(daemon, "police-320102", "ack", "00000000-0000-4000-8000-000000000000")
    check(refused(rc, err, 404, "not_found"), "another agency's or no assignment: exit 1",
          (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "outcome", n, "case-opened")
    check(refused(rc, err, 400, "missing_field", "police_case_number"),
          "case-opened without --police-case-number is refused by the daemon", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "outcome", n, "accepted")
    check(rc == 0 and "受案 recorded" in out and out.rstrip().endswith("受案"),
          "outcome accepted (受案)", (rc, out, err))
    rc, out, err = hotline(daemon, "police-320102", "outcome", n, "accepted")
    check(refused(rc, err, 409, "invalid_transition", "outcome"),
          "the same outcome twice is 409 invalid_transition", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "--json", "outcome", n, "case-opened",
                           "--police-case-number", "玄公刑立字〔2026〕123号")
    e = parsed(out)
    check(rc == 0 and e["assignment"]["state"] == "case_opened" and e["case_number"] == n,
          "outcome case-opened with its police case number (--json)", out)
    rc, out, err = hotline(daemon, "education-320102", "outcome", n, "resolved")
    check(refused(rc, err, 403, "forbidden"), "only the primary assignee records outcomes",
          (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "outcome", n, "closed")
    check(refused(rc, err, 409, "invalid_transition"), "closed only after resolved", (rc, err))


@test
def notes_feedback_and_supervision_go_into_the_history(daemon):
    n, aid = police_case(daemon)
    rc, out, err = hotline(daemon, "police-320102", "note", n, "已联系学校，明日走访")
    check(rc == 0 and re.search(r"备注 recorded as history item \d+", out),
          "note adds a note", (rc, out, err))
    rc, out, err = hotline(daemon, "police-320104", "note", n, "x")
    check(refused(rc, err, 404, "not_found"), "an agency without an assignment: 404, exit 1",
          (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "feedback", n, "已受理并开展调查")
    check(rc == 0 and "反馈报告单位 recorded" in out, "feedback to the reporting unit",
          (rc, out, err))
    rc, out, err = hotline(daemon, "education-320102", "feedback", n, "x")
    check(refused(rc, err, 403, "forbidden"), "feedback is the police's: exit 1", (rc, err))
    rc, out, err = hotline(daemon, "procuratorate-320102", "--json", "supervise", n,
                           "case-filing-supervision", "police-320102", "要求说明不立案理由")
    check(rc == 0 and parsed(out)["case_number"] == n, "supervise records 立案监督", out)
    rc, out, err = hotline(daemon, "police-320102", "supervise", n, "procuratorial-suggestion",
                           "police-320102", "x")
    check(refused(rc, err, 403, "forbidden"), "supervision is the procuratorate's: exit 1",
          (rc, err))
    kinds = [h["kind"] for h in lib.history(n)]
    check(kinds[-3:] == ["note", "feedback", "supervision"], "each is in the case's history",
          kinds)


@test
def transfer_hands_the_work_to_another_agency(daemon):
    n, aid = police_case(daemon)
    rc, out, err = hotline(daemon, "police-320102", "transfer", aid, "nowhere-320102",
                           "--reason", "属地管辖")
    check(refused(rc, err, 422, "unknown_agency", "target_agency"),
          "an unknown agency: 422, exit 1", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "transfer", aid, "police-320104",
                           "--reason", "属地管辖")
    new = re.search(r"^new assignment ([0-9a-f-]{36}) \(case %s, police-320104\)" % n, out, re.M)
    check(rc == 0 and out.startswith("transferred %s" % aid) and "已移送" in out and new,
          "transfer prints the transferred and the new assignment", (rc, out, err))
    a = lib.assignment_of(daemon, "police-320104", n)
    check(a is not None and new and a["assignment_id"] == new.group(1),
          "the target agency has the new assignment", a)
    rc, out, err = hotline(daemon, "police-320102", "transfer", aid, "police-320104",
                           "--reason", "again")
    check(refused(rc, err, 409, "invalid_transition"),
          "a transferred assignment cannot be transferred again: exit 1", (rc, err))


@test
def outside_the_jurisdiction_starts_the_transfer_clock_and_the_work_is_handed_on(daemon):
    n, aid = police_case(daemon)
    rc, out, err = hotline(daemon, "police-320102", "outcome", n, "outside-jurisdiction",
                           "--reason", "（测试）案发地不在本辖区")
    check(rc == 0 and re.match(r"^case %s: 不属于本机关管辖 recorded as history item \d+;"
                               r" assignment %s: 不属于本机关管辖$" % (n, aid), out),
          "outcome outside-jurisdiction marks the assignment 不属于本机关管辖", (rc, out, err))
    rc, out, err = hotline(daemon, "police-320102", "queue", "--state", "outside_jurisdiction",
                           "--limit", "500")
    row = [r for r in out.splitlines() if aid in r]
    check(rc == 0 and row and re.search(r"主办  不属于本机关管辖 .* 移送 (1d 0h|23h \d\dm) ", row[0]),
          "the queue shows it with the 24-hour transfer clock as its nearest", (rc, out))
    rc, out, err = hotline(daemon, "police-320102", "case", n)
    check(rc == 0 and re.search(r"^ +\d+  [\d :-]+  处理结果 police-320102 不属于本机关管辖\n"
                                r" +（测试）案发地不在本辖区$", out, re.M),
          "the history names the agency, the outcome and its reason", out[-800:])
    rc, out, err = hotline(daemon, "police-320102", "transfer", aid, "police-320104",
                           "--reason", "（测试）属地管辖")
    check(rc == 0 and "已移送" in out and "police-320104" in out,
          "then transfer hands the work to the police who have it", (rc, out, err))
    st, h, v = lib.view(daemon, "police-320104", n)
    mine = [a for a in v.get("assignments", []) if a["agency"] == "police-320104"]
    check(st == 200 and mine and mine[0]["state"] == "open"
          and "transfer" not in [c["kind"] for c in mine[0]["clocks"]],
          "which has it open, without the sender's transfer clock", mine)
    rc, out, err = hotline(daemon, "police-320104", "case", n)
    check(rc == 0 and re.search(r"^ +\d+  [\d :-]+  移送 police-320104 主办 police-320102 →"
                                r" police-320104\n +（测试）属地管辖$", out, re.M),
          "its history says from whose work to whose, with the reason", out[-700:])


@test
def inform_and_supervise_assignments_are_closed_and_the_case_closes_with_its_primary(daemon):
    n, aid = police_case(daemon)
    edu = lib.assignment_of(daemon, "education-320102", n)["assignment_id"]
    rc, out, err = hotline(daemon, "education-320102", "outcome", n, "closed")
    check(refused(rc, err, 409, "invalid_transition"),
          "an informed agency closes only what it acknowledged: 409, exit 1", (rc, err))
    hotline(daemon, "education-320102", "ack", edu)
    rc, out, err = hotline(daemon, "education-320102", "outcome", n, "closed", "--text",
                           "（测试）已知悉，无需处理")
    check(rc == 0 and out.rstrip().endswith("assignment %s: 已结案" % edu),
          "acknowledged, outcome closed --text finishes the inform assignment", (rc, out, err))
    rc, out, err = hotline(daemon, "education-320102", "queue", "--limit", "500")
    check(rc == 0 and n not in out, "and it leaves the agency's queue", out[-300:])
    rc, out, err = hotline(daemon, "police-320102", "case", n)
    check(rc == 0 and re.search(r"处理结果 education-320102 已结案\n +（测试）已知悉，无需处理$",
                                out, re.M),
          "the police read the closing text in its place in the history", out[-600:])
    for outcome in ("resolved", "closed"):
        rc, out, err = hotline(daemon, "police-320102", "outcome", n, outcome)
        check(rc == 0, "the police record %s" % outcome, (rc, out, err))
    rc, out, err = hotline(daemon, "police-320102", "case", n)
    check(rc == 0 and out.startswith("case %s  强制报告  已结案" % n)
          and re.search(r"分派关闭 procuratorate-320102 \(after 案件结案\)$", out, re.M)
          and re.search(r"  案件结案$", out, re.M),
          "the last primary closed, the case closes: the supervising procuratorate's assignment"
          " is closed with the case (its cause labelled) and the case_closed item follows",
          out[-900:])


@test
def the_police_give_notice_before_prosecution_and_the_reporter_sees_it(daemon):
    r = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = r["case_number"]
    rc, out, err = hotline(daemon, "police-320102", "feedback", n, "--notice", "prosecution")
    check(refused(rc, err, 409, "invalid_transition"),
          "the notice before prosecution needs 立案 first: 409, exit 1", (rc, err))
    hotline(daemon, "police-320102", "outcome", n, "case-opened", "--police-case-number",
            "A3201020000002026110001")
    rc, out, err = hotline(daemon, "police-320102", "outcome", n, "prosecution")
    check(refused(rc, err, 409, "invalid_transition"),
          "on a report, 移送审查起诉 waits for the notice", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "feedback", n, "--notice", "prosecution")
    check(rc == 0 and "移送审查起诉告知 recorded" in out,
          "feedback --notice prosecution, with no text, is recorded", (rc, out, err))
    rc, out, err = hotline(daemon, "police-320102", "outcome", n, "prosecution")
    check(rc == 0 and out.rstrip().endswith("移送审查起诉"), "then 移送审查起诉 is", (rc, out, err))
    text = "（测试）案件已移送检察院审查起诉"
    hotline(daemon, "police-320102", "feedback", n, text)
    rc, out, err = hotline(daemon, "gateway", "status", r["receipt_id"])
    lines = [x.split("  ")[-1] for x in out.splitlines()[1:]]
    check(rc == 0 and lines == ["已接收", "已受案", "已立案", "移送审查起诉告知", "已反馈", text],
          "status shows each milestone labelled, and the feedback's text under it", out)
    rc, out, err = hotline(daemon, "police-320102", "case", n)
    check(rc == 0 and re.search(r"反馈报告单位 police-320102 移送审查起诉告知$", out, re.M),
          "the case's history names the notice", out[-600:])


@test
def supervision_records_with_or_without_an_assignment_and_their_list(daemon):
    n = file_report(daemon, "reports.neglect-community.valid.json")["case_number"]
    city = "procuratorate-320100"
    rc, out, err = hotline(daemon, city, "supervise", n, "case-filing-supervision",
                           "police-320102")
    check(rc == 0 and re.match(r"^case %s: 立案监督 recorded as history item (\d+)$" % n, out),
          "the city procuratorate records 立案监督 on a case of its region without holding an"
          " assignment, and without a text", (rc, out, err))
    seq = re.match(r".* item (\d+)$", out)
    rc, out, err = hotline(daemon, city, "supervise", n, "procuratorial-suggestion",
                           "civil_affairs-320102", "（测试）检察建议：加强监护")
    check(rc == 0 and "检察建议 recorded" in out, "and a 检察建议 with its text", (rc, out, err))
    rc, out, err = hotline(daemon, city, "supervise", n, "procuratorial-suggestion",
                           "police-340102")
    check(refused(rc, err, 422, "invalid_value", "recipient_agency"),
          "an agency outside its region: 422, exit 1", (rc, err))
    rc, out, err = hotline(daemon, city, "records", "--limit", "2")
    rows = out.splitlines()
    check(rc == 0 and rows[0].split() == ["AT", "CASE", "ITEM", "SUPERVISION", "ADDRESSED", "TO",
                                          "ASSIGNMENT"]
          and re.match(r"^[\d :-]+  %s  \d+ +检察建议 +civil_affairs-320102 +-$" % n, rows[1])
          and seq and re.match(r"^[\d :-]+  %s  %s +立案监督 +police-320102 +-$"
                               % (n, seq.group(1)), rows[2])
          and rows[3].startswith("more: the same command with --cursor "),
          "records lists them newest first: when, case, item, type, the agency addressed; a"
          " full page says how to go on", out)
    rc, out, err = hotline(daemon, city, "--json", "records")
    st, h, b = Client(daemon, city).get("/v1/supervision/records")
    check(rc == 0 and parsed(out) == b, "records --json is the daemon's list", out[:300])
    rc, out, err = hotline(daemon, city, "records", "--since", "2099-01-01T00:00:00+08:00")
    check(rc == 0 and out == "no supervision records\n", "--since to come: none", (rc, out))
    rc, out, err = hotline(daemon, "police-320102", "records")
    check(refused(rc, err, 403, "forbidden"), "only a procuratorate has records: exit 1",
          (rc, err))


@test
def the_access_log_is_the_administrators(daemon):
    n, aid = police_case(daemon)
    hotline(daemon, "police-320102", "case", n)
    rc, out, err = hotline(daemon, "admin", "access-log", n)
    rows = out.splitlines()
    check(rc == 0 and re.match(r"^case %s: \d+ readings? of its personal data$" % n, rows[0])
          and rows[1].split() == ["AT", "CLIENT", "ROLE", "AGENCY", "BASIS", "REPORTER",
                                  "REQUEST", "PURPOSE"]
          and any(re.search(r"  police-320102 +agency +police-320102 +主办 +yes +- +-$", r)
                  for r in rows[2:]),
          "access-log lists each reading: the police's on the basis 主办, the reporter among what"
          " they read", out)
    rc, out, err = hotline(daemon, "admin", "--json", "access-log", n)
    st, h, b = Client(daemon, "admin").get("/v1/cases/%s/access-log" % n)
    check(rc == 0 and parsed(out) == b, "access-log --json is the daemon's log", out[:300])
    rc, out, err = hotline(daemon, "police-320102", "access-log", n)
    check(refused(rc, err, 403, "forbidden"), "only an admin reads it: exit 1", (rc, err))


@test
def case_shows_the_case_as_the_viewer_may_see_it(daemon):
    report = personal_report()
    r = file_report(daemon, report)
    n = r["case_number"]
    hotline(daemon, "police-320102", "note", n, "第一次备注")
    rc, out, err = hotline(daemon, "police-320102", "case", n)
    history = re.findall(r"^ +(\d+)  \d{4}-\d\d-\d\d \d\d:\d\d  (\S+)", out, re.M)
    seqs = [int(s) for s, _ in history]
    check(rc == 0 and out.startswith("case %s  强制报告  办理中  (access: full)" % n)
          and report["child"]["name"] in out and report["narrative"] in out
          and "侵害/性侵害" in out and "2 橙" in out,
          "case shows the child, narrative, categories and risk to the primary assignee",
          (rc, out[:600], err))
    check(re.search(r"主办\s+police-320102\s+待接收\s+接收 (\d+m|1h 00m), 办结 \d+d \d+h",
                    out) is not None, "each running clock with its time left (the note stopped"
          " the first-action clock)", out)
    check(seqs == sorted(seqs) and seqs[0] == 1 and history[0][1] == "建档"
          and history[-1][1] == "备注" and "第一次备注" in out,
          "the history in order, notes included", history)
    rc, out, err = hotline(daemon, "education-320102", "case", n)
    check(rc == 0 and "(access: redacted)" in out and report["child"]["name"] not in out
          and "(withheld)" in out and report["narrative"] not in out,
          "an inform assignee sees the case redacted", out)
    rc, out, err = hotline(daemon, "police-320102", "--json", "case", n)
    st, h, view = lib.view(daemon, "police-320102", n)
    check(rc == 0 and parsed(out) == view, "case --json is the daemon's view", out[:300])
    rc, out, err = hotline(daemon, "police-320104", "case", n)
    check(refused(rc, err, 404, "not_found"), "a case the agency may not see: 404, exit 1",
          (rc, err))


@test
def access_requests_from_asking_to_a_decision(daemon):
    n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    rc, out, err = hotline(daemon, "education-320102", "--json", "request", n, "--purpose",
                           "核实学校安全措施", "--hours", "2")
    q = parsed(out)
    rid = q and q["access_request"]["access_request_id"]
    check(rc == 0 and q["access_request"]["state"] == "pending" and q["access_request"]["hours"]
          == 2, "request asks for access (--json)", (rc, out, err))
    rc, out, err = hotline(daemon, "education-320102", "requests", "--state", "pending")
    check(rc == 0 and out.startswith("REQUEST") and rid in out and "待审批" in out
          and "核实学校安全措施" in out, "requests lists it as pending", out)
    rc, out, err = hotline(daemon, "education-320102", "approve", rid)
    check(refused(rc, err, 403, "forbidden"), "the requester cannot approve: exit 1", (rc, err))
    rc, out, err = hotline(daemon, "education-320102-approver", "approve", rid)
    check(rc == 0 and rid in out and "已批准" in out, "an approver of the agency approves",
          (rc, out, err))
    rc, out, err = hotline(daemon, "education-320102-approver", "deny", rid)
    check(refused(rc, err, 409, "invalid_transition"), "a decided request: 409, exit 1",
          (rc, err))
    rc, out, err = hotline(daemon, "education-320102", "case", n)
    check(rc == 0 and "(access: full)" in out, "approved, the agency sees the case in full",
          out[:200])
    other = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    rc, out, err = hotline(daemon, "education-320102", "request", other, "--purpose", "再次核实")
    rid2 = re.match(r"^([0-9a-f-]{36})  %s  education-320102  待审批  24h  " % other,
                    out.splitlines()[-1])
    check(rc == 0 and rid2, "request prints the request (24 hours by default)", (out, err))
    rc, out, err = hotline(daemon, "admin", "--json", "deny", rid2.group(1) if rid2 else "x")
    check(rc == 0 and parsed(out)["access_request"]["state"] == "denied",
          "an admin denies it (--json)", (out, err))
    rc, out, err = hotline(daemon, "police-320102", "request", n, "--purpose", "x")
    check(refused(rc, err, 409, "access_not_needed"), "the primary assignee needs no request",
          (rc, err))
    rc, out, err = hotline(daemon, "education-320102", "requests", "--state", "later")
    check(refused(rc, err, 400, "invalid_value", "state"), "a bad state: exit 1", (rc, err))
    rc, out, err = hotline(daemon, "education-320102", "request", n, "--purpose", "x",
                           "--hours", "two")
    check(rc == 2, "--hours must be a number: exit 2", (rc, err))


@test
def overdue_is_the_procuratorates_list_filtered_and_paged(daemon):
    with lib.ShortDeadlines(ack=2, action=600):
        n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
        m = file_report(daemon, "reports.self-harm.valid.json")["case_number"]
    check(wait_until(lambda: lib.assignment_of(daemon, "police-320100", n) is not None
                     and lib.assignment_of(daemon, "health-320100", m) is not None, 20, 0.25),
          "acknowledge clocks of 2 s escalate to the city police and the city's crisis team")
    since = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600 - 120))
    rc, out, err = hotline(daemon, "procuratorate-320100", "overdue", "--kind", "police",
                           "--since", since, "--limit", "500")
    rows = [r.split() for r in out.splitlines()[1:]]
    mine = [r for r in rows if r[2] == n]
    check(rc == 0 and out.startswith("RISK") and {r[3] for r in mine} == {"police-320102",
                                                                          "police-320100"}
          and not any(r[3].startswith("health") for r in rows),
          "overdue --kind police --since (an offset of +08:00, sent encoded) lists the county"
          " police's missed work and the city police's escalated copy, and no crisis team's",
          (rc, out, err))
    check(any(r[2] == m and r[3].startswith("health") for r in [r.split() for r in hotline(
        daemon, "procuratorate-320100", "overdue", "--kind", "health", "--since", since)[1]
        .splitlines()[1:]]), "--kind health: the crisis team's")
    rc, out, err = hotline(daemon, "procuratorate-320100", "--json", "overdue", "--kind",
                           "police", "--since", since, "--limit", "500")
    st, h, b = Client(daemon, "procuratorate-320100").get(
        "/v1/supervision/overdue?kind=police&since=%s&limit=500" % since.replace("+", "%2B"))
    check(rc == 0 and parsed(out) == b, "overdue --json is the daemon's list for that query",
          out[:300])
    rc, out, err = hotline(daemon, "procuratorate-320100", "overdue", "--since", since,
                           "--limit", "1")
    more = re.search(r"^more: the same command with --cursor (\d+)$", out, re.M)
    check(rc == 0 and len(out.splitlines()) == 3 and more,
          "a full page (--limit 1) ends saying how to ask for the next", out)
    rc, out2, err = hotline(daemon, "procuratorate-320100", "overdue", "--since", since,
                            "--limit", "1", "--cursor", more.group(1) if more else "1")
    first = re.search(r"[0-9a-f-]{36}", out.splitlines()[1]) if rc == 0 and more else None
    first = first and first.group(0)
    check(rc == 0 and len(out2.splitlines()) >= 2 and first and first not in out2,
          "--cursor gives the next page, another assignment", (out, out2))
    rc, out, err = hotline(daemon, "procuratorate-320100", "overdue", "--state", "closed",
                           "--since", "2099-01-01T00:00:00Z")
    check(rc == 0 and out == "no assignments\n", "--state closed and a --since to come: none",
          (rc, out, err))
    rc, out, err = hotline(daemon, "procuratorate-320100", "overdue", "--kind", "army")
    check(refused(rc, err, 400, "invalid_value", "kind"), "an unknown kind: 400, exit 1",
          (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "overdue")
    check(refused(rc, err, 403, "forbidden"), "other agencies get 403: exit 1", (rc, err))


def phone_number():
    """A mobile number no other test uses."""
    return "13" + str(random.randint(5, 9)) + str(random.randint(0, 10 ** 8 - 1)).zfill(8)


def crisis_case(child_changes=None, risk=None):
    """The body of a case opened during a crisis call, its child unique to it (a birth date
    drawn from six years, so that the ID number is too)."""
    body = example_json("cases.suicide-in-progress.valid.json")
    born = datetime(2010, 1, 1) + timedelta(days=random.randint(0, 6 * 365))
    body["child"].update(name="危机儿童" + uuid.uuid4().hex[:6], phone=phone_number(),
                         birth_date=born.strftime("%Y-%m-%d"),
                         id_number=lib.id_number(born.strftime("%Y%m%d")))
    body["child"].update(child_changes or {})
    if risk is not None:
        body["risk_level"] = risk
    return body


def operator_call(phone, disposition, **more):
    """A call's body as an operator logs it after the phone is put down."""
    now = datetime.now(lib.SHANGHAI).replace(microsecond=0)
    return dict({"started_at": lib.rfc3339(now - timedelta(minutes=20)),
                 "ended_at": lib.rfc3339(now - timedelta(minutes=2)),
                 "caller_type": "child_self", "caller_phone": phone,
                 "topic": {"category": "psychological", "subcategory": "suicidal"},
                 "summary": "（测试）来电摘要" + uuid.uuid4().hex[:6],
                 "disposition": disposition}, **more)


def opened_by_cli(daemon, body, seat="console"):
    """Open a case with submit cases; the case number (asserts exit 0)."""
    rc, out, err = hotline(daemon, seat, "submit", "cases", body_file("case", body))
    m = re.match(r"^case (\S+), ", out)
    assert rc == 0 and m, (rc, out, err)
    return m.group(1)


@test
def an_operator_opens_a_case_during_the_call_and_logs_calls_on_it(daemon):
    body = crisis_case()
    phone = body["child"]["phone"]
    rc, out, err = hotline(daemon, "console", "submit", "cases", body_file("crisis", body))
    m = re.match(r"^case (\d{4}-320102-\d{8}), risk 1 红, opened [\d :-]+\n", out)
    n = m.group(1) if m else None
    check(rc == 0 and m and "  routed to police-320102: 主办, 待接收\n" in out
          and "  routed to health-320102: 主办, 待接收\n" in out,
          "submit cases opens the case during the call and says where it was routed", (rc, out, err))
    check(n and any(a["case_number"] == n for a in lib.queue(daemon, "police-320102",
                                                             "?limit=500")),
          "the county police have it in their queue before the call is logged")
    rc, out, err = hotline(daemon, "console", "submit", "calls",
                           body_file("opened", operator_call(phone, "case_opened")), "--case", n)
    check(rc == 0 and re.match(r"^call [0-9a-f-]{36} received [\d :-]+\ncase %s\n" % n, out),
          "submit calls --case logs the call that opened it on the case", (rc, out, err))
    rc, out, err = hotline(daemon, "console2", "submit", "calls", example_path(
        "calls.follow-up.valid.json"), "--case", n)
    check(rc == 0 and "case %s" % n in out,
          "another seat of the centre logs a follow-up call on it (--case over the file's number)",
          (rc, out, err))
    rc, out, err = hotline(daemon, "console2", "case", n)
    calls = out.split("\ncalls\n")[1].split("\nassignments\n")[0] if "\ncalls\n" in out else ""
    check(rc == 0 and "开案" in calls and "回访" in calls
          and len(re.findall(r"^  \d{4}-\d\d-\d\d", calls, re.M)) == 2
          and re.search(r"来电记录 回访 call [0-9a-f-]{36}$", out, re.M),
          "the case shows both calls, and the history the follow-up (来电记录, its disposition)",
          out[-1500:])
    rc, out, err = hotline(daemon, "console-b", "submit", "calls", example_path(
        "calls.follow-up.valid.json"), "--case", n)
    check(refused(rc, err, 422, "unknown_case", "case_number"),
          "a seat of another centre cannot log a call on it: 422, exit 1", (rc, err))
    rc, out, err = hotline(daemon, "console", "submit", "cases", body_file("crisis", body),
                           "--case", n)
    check(rc == 2 and "--case is for calls" in err, "--case is for calls only: exit 2", (rc, err))
    rc, out, err = hotline(daemon, "console", "submit", "calls", "-", "--case", n,
                           stdin="[1, 2]")
    check(rc == 2 and "not a JSON object" in err, "--case needs a JSON object: exit 2", (rc, err))
    bad = dict(body, child=dict(body["child"], age=19))
    rc, out, err = hotline(daemon, "console", "submit", "cases", body_file("bad-age", bad))
    check(refused(rc, err, 400, "out_of_range", "child.age"),
          "a refused field of a case is named as the daemon names it", (rc, err))


@test
def the_centres_caseload_pages_and_filters(daemon):
    n = opened_by_cli(daemon, crisis_case())
    m = opened_by_cli(daemon, crisis_case())
    rc, out, err = hotline(daemon, "console", "cases", "--risk", "1", "--limit", "1")
    rows = out.splitlines()
    more = re.search(r"^more: the same command with --cursor (\S+)$", out, re.M)
    check(rc == 0 and rows[0].split() == ["CASE", "RISK", "STATUS", "CATEGORIES", "OPENED",
                                          "UPDATED", "DUE", "FIRST", "AGENCIES"]
          and rows[1].startswith(m + "  1 红  办理中  心理/自杀意念或行为  ")
          and re.search(r"  接收 \S+ \d+m  .*police-320102 待接收", rows[1]) and more,
          "cases lists the newest first: case, risk, status, categories, times, the clock due"
          " first with its agency and time left, the agencies; a full page says how to go on",
          out)
    rc, out, err = hotline(daemon, "console", "cases", "--risk", "1", "--limit", "1",
                           "--cursor", more.group(1) if more else m)
    check(rc == 0 and out.splitlines()[1].startswith(n + "  "),
          "--cursor gives the next page: the case opened before", out)
    rc, out, err = hotline(daemon, "console", "--json", "cases", "--state", "open", "--limit", "5")
    st, h, b = Client(daemon, "console").get("/v1/cases?state=open&limit=5")
    check(rc == 0 and parsed(out) == b, "cases --json is the daemon's list", out[:300])
    rc, out, err = hotline(daemon, "console-b", "cases", "--limit", "200")
    check(rc == 0 and n not in out and m not in out, "another centre's seat sees none of them",
          out[:300])
    rc, out, err = hotline(daemon, "console", "cases", "--state", "lost")
    check(refused(rc, err, 400, "invalid_value", "state"), "a bad state: 400, exit 1", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "cases")
    check(refused(rc, err, 403, "forbidden"), "an agency has no caseload: exit 1", (rc, err))


@test
def lookups_find_a_callers_calls_and_a_childs_cases_and_never_show_what_they_seek(daemon):
    body = crisis_case()
    child = body["child"]
    lib.remember_sent(json.dumps(body, ensure_ascii=False).encode())
    n = opened_by_cli(daemon, body)
    call = operator_call(child["phone"], "case_opened")
    hotline(daemon, "console", "submit", "calls", body_file("lookup", call), "--case", n)
    logged = int(lib.scalar("select count(*) from hotline.lookup_log"))
    rc, out, err = hotline(daemon, "console2", "-v", "lookup", "--phone", child["phone"])
    check(rc == 0 and out.startswith("1 earlier call from this number\n")
          and re.search(r"儿童本人 +开案 +心理/自杀意念或行为 +%s +%s$" % (n, re.escape(
              call["summary"])), out, re.M)
          and re.search(r"^their cases\n +CASE +RISK +STATUS +CATEGORIES +REGION +OPENED\n +%s +1 红"
                        r" +办理中" % n, out, re.M),
          "lookup --phone lists the centre's earlier calls from the number and their cases",
          (rc, out, err))
    check(child["phone"] not in err and "GET /v1/callers/(number)/history try 1: 200" in err,
          "-v logs the lookup with the number left out of its path", err)
    rc, out, err = hotline(daemon, "console", "-v", "lookup", "--id-number", child["id_number"])
    check(rc == 0 and out.startswith("1 case about this child\n")
          and re.search(r"^  %s +1 红 +办理中 +\S+ +320102 +[\d :-]+ +id$" % n, out, re.M)
          and child["id_number"] not in err,
          "lookup --id-number finds the child's case (matched by id), the number never on stderr",
          (rc, out, err))
    rc, out, err = hotline(daemon, "console", "lookup", "--name", child["name"], "--birth-date",
                           child["birth_date"])
    check(rc == 0 and re.search(r"%s .* name_birth$" % n, out, re.M),
          "lookup --name --birth-date finds it by name and birth date", (rc, out))
    check(int(lib.scalar("select count(*) from hotline.lookup_log")) == logged + 3,
          "the daemon logged each of the three lookups")
    rc, out, err = hotline(daemon, "console-b", "lookup", "--phone", child["phone"])
    check(rc == 0 and out == "0 earlier calls from this number\n",
          "another centre's seat finds nothing of it", (rc, out))
    rc, out, err = hotline(daemon, "console", "lookup", "--name", child["name"])
    check(refused(rc, err, 400, "missing_field", "birth_date"),
          "a name without its birth date: 400, exit 1", (rc, err))
    rc, out, err = hotline(daemon, "console", "lookup", "--phone", child["phone"], "--id-number",
                           child["id_number"])
    check(rc == 2 and "one of them" in err, "two kinds of lookup at once: exit 2", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "lookup", "--phone", child["phone"])
    check(refused(rc, err, 403, "forbidden"), "an agency looks nothing up: exit 1", (rc, err))


@test
def an_operator_notes_regrades_categorises_corrects_and_links_a_case(daemon):
    body = crisis_case({"age": 15}, risk=2)
    lib.remember_sent(json.dumps(body, ensure_ascii=False).encode())
    n = opened_by_cli(daemon, body)
    other = opened_by_cli(daemon, crisis_case())
    k = new_key()
    rc, out, err = hotline(daemon, "console", "-v", "note", n, "（测试）接线员备注", "--key", k)
    t = tries(err)
    check(rc == 0 and re.match(r"^case %s: 备注 recorded as history item \d+$" % n, out)
          and [w for _, _, w in t] == ["403 forbidden", "201"] and {x for _, x, _ in t} == {k}
          and "refused" not in err,
          "note by an operator: the agency's endpoint says 403 (not shown), the centre's takes"
          " the note under the same key", (rc, out, err))
    rc, out, err = hotline(daemon, "console", "note", n, "（测试）接线员备注", "--key", k)
    check(rc == 0 and "replayed" in out, "run again with the key, it is replayed", (rc, out))
    rc, out, err = hotline(daemon, "console", "regrade", n, "1", "--reason", "（测试）孩子再次来电，情况危急")
    check(rc == 0 and re.match(r"^case %s: 风险调整 recorded as history item \d+\n  risk +1 红\n"
                               % n, out) and re.search(r"主办 +police-320102 +待接收 +接收 ", out),
          "regrade raises the risk and shows the case's risk, categories and assignments",
          (rc, out, err))
    rc, out, err = hotline(daemon, "console", "regrade", n, "1", "--reason", "again")
    check(refused(rc, err, 409, "invalid_transition"), "the same level again: 409, exit 1",
          (rc, err))
    rc, out, err = hotline(daemon, "console", "regrade", n, "high", "--reason", "x")
    check(refused(rc, err, 400, "wrong_type", "risk_level"),
          "a level that is not a number is sent as typed and refused: 400, exit 1", (rc, err))
    rc, out, err = hotline(daemon, "console", "categorise", n, "abuse/neglect",
                           "--reason", "（测试）长期无人照料")
    check(rc == 0 and "增加类别 recorded" in out and "侵害/忽视/遗弃" in out
          and re.search(r"知会 +civil_affairs-320102 ", out),
          "categorise adds abuse/neglect, which brings in civil affairs (inform)", (rc, out, err))
    rc, out, err = hotline(daemon, "console", "categorise", n, "abuse")
    check(rc == 2 and "category/subcategory" in err, "a category without its subcategory: exit 2",
          (rc, err))
    rc, out, err = hotline(daemon, "console", "correct", n, "--age", "14", "--school",
                           "测试市第三中学", "--reason", "（测试）孩子更正")
    check(rc == 0 and re.search(r"儿童信息 recorded as history item \d+\n  corrected +(age, school|"
                                r"school, age)$", out.replace("更正儿童信息", "儿童信息"), re.M),
          "correct corrects the child's age and school", (rc, out, err))
    rc, out, err = hotline(daemon, "console", "case", n)
    check(rc == 0 and re.search(r"更正儿童信息 (age, school|school, age)\n +（测试）孩子更正\n"
                                r" +was age 15\n", out)
          and "  age          14" in out,
          "the case shows the correction, its reason and the values it replaced", out[-1200:])
    rc, out, err = hotline(daemon, "console", "correct", n)
    check(refused(rc, err, 400, "empty"), "a correction of nothing: 400, exit 1", (rc, err))
    rc, out, err = hotline(daemon, "console", "link", n, other)
    check(rc == 0 and "关联案件 recorded" in out and re.search(r"linked to +%s$" % other, out,
                                                              re.M),
          "link links the two cases", (rc, out, err))
    rc, out, err = hotline(daemon, "console", "case", other)
    check(rc == 0 and re.search(r"^linked cases\n  %s +1 红 +办理中 " % n, out, re.M)
          and re.search(r"关联案件 ↔ %s$" % n, out, re.M),
          "the other case lists it, and its history names it", out[-800:])
    rc, out, err = hotline(daemon, "console", "link", n, other)
    check(refused(rc, err, 409, "invalid_transition", "case_number"),
          "linked already: 409, exit 1", (rc, err))
    r = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    r2 = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    rc, out, err = hotline(daemon, "police-320102", "link", r, r2)
    check(rc == 0 and "linked to" in out, "the police link two reports they hold as primary",
          (rc, out, err))
    rc, out, err = hotline(daemon, "console-b", "regrade", n, "2", "--reason", "x")
    check(refused(rc, err, 404, "not_found"), "another centre's seat: 404, exit 1", (rc, err))


@test
def a_gateway_supplements_its_report_and_the_police_see_the_case_updated(daemon):
    r = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = r["case_number"]
    text = "（测试）老师补充：孩子今天又提到此事" + uuid.uuid4().hex[:6]
    lib.remember_sent(text.encode())
    rc, out, err = hotline(daemon, "gateway", "supplement", r["receipt_id"], text)
    check(rc == 0 and re.match(r"^receipt %s: supplement recorded as history item \d+, received"
                               r" [\d :-]+$" % r["receipt_id"], out),
          "supplement adds to the report", (rc, out, err))
    rc, out, err = hotline(daemon, "gateway2", "supplement", r["receipt_id"], "x")
    check(refused(rc, err, 404, "not_found"), "another gateway's report: 404, exit 1", (rc, err))
    rc, out, err = hotline(daemon, "police-320102", "queue", "--limit", "500")
    row = [x for x in out.splitlines() if n in x]
    check(rc == 0 and row and re.search(r"  \d{4}-\d\d-\d\d \d\d:\d\d$", row[0]),
          "the police's queue shows when the case was last updated", row)
    rc, out, err = hotline(daemon, "police-320102", "case", n)
    check(rc == 0 and re.search(r"报告补充\n +%s$" % re.escape(text), out, re.M),
          "and the case's history the supplement, its text for the primary police", out[-500:])


@test
def stats_prints_the_figures_of_a_period_with_small_counts_suppressed(daemon):
    today = datetime.now(lib.SHANGHAI).strftime("%Y-%m-%d")
    for _ in range(5):
        file_report(daemon, "reports.sexual-abuse.valid.json")
    args = ("stats", "--from", today, "--to", today, "--region", "320102", "--by",
            "source,risk_level")
    path = "/v1/stats?from=%s&to=%s&region=320102&by=source,risk_level" % (today, today)

    def figures():
        """The statistician's figures (the daemon's timer counts new work every 10 s)."""
        return Client(daemon, "statistician").get(path)[2]

    def reports(b, figure="cases"):
        """A figure of the cell of today's reports at risk 2 (a number, or "suppressed" when
        it would give a smaller count back), or 0 without the cell."""
        cell = [c for c in b.get("cells", []) if c["source"] == "report" and c["risk_level"] == 2]
        return cell[0][figure] if cell else 0

    def shown(v):
        """A count as the table shows it."""
        return "*" if v == "suppressed" else str(v)

    check(wait_until(lambda: reports(figures()) == "suppressed" or reports(figures()) >= 5,
                     30, 1), "the statistics count today's reports (their timer runs every 10 s)")
    for _ in range(5):              # a refresh between two reads: read again
        b = figures()
        rc, out, err = hotline(daemon, "statistician", "--json", *args)
        rc2, text, err2 = hotline(daemon, "statistician", *args)
        if figures() == b:
            break
    check(rc == 0 and parsed(out)["cells"] == b["cells"]
          and parsed(out)["by"] == ["source", "risk_level"],
          "stats --json is the daemon's figures for the same query", out[:300])
    rc, out, err = rc2, text, err2
    rows = out.splitlines()
    want = (shown(reports(b)), shown(reports(b, "reports")))
    check(rc == 0 and rows[0].startswith("figures from %s to %s, region 320102, as of " % (
        today, today)) and rows[1].split()[:5] == ["SOURCE", "RISK", "LEVEL", "CASES", "REPORTS"]
          and any(re.match(r"^强制报告 +2 橙 +%s +%s " % tuple(map(re.escape, want)), r)
                  for r in rows[2:]),
          "stats prints a row a cell: its dimensions labelled, then the cases and reports as the"
          " daemon counted them", out)
    starred = any("*" in r for r in rows[2:] if not r.startswith("* suppressed"))
    noted = any(r.startswith("* suppressed: a count under 5") for r in rows)
    must = any(c[k] == "suppressed" for c in b.get("cells", []) for k in ("cases", "reports",
                                                                       "overdue"))
    check(noted == starred and (starred or not must),
          "a suppressed count is printed as *, and said so under the table", out)
    rc, out, err = hotline(daemon, "police-320102", "stats", "--from", today, "--to", today)
    check(rc == 0 and ", agency police-320102, " in out.splitlines()[0],
          "an agency gets its own figures", (rc, out, err))
    rc, out, err = hotline(daemon, "statistician", "stats", "--from", today, "--to", today,
                           "--by", "colour")
    check(refused(rc, err, 400, "invalid_value", "by"), "an unknown dimension: 400, exit 1",
          (rc, err))
    rc, out, err = hotline(daemon, "statistician", "stats", "--from", today)
    check(rc == 2 and "--to is required" in err, "the period's end left out: exit 2", (rc, err))
    rc, out, err = hotline(daemon, "console", "stats", "--from", today, "--to", today)
    check(refused(rc, err, 403, "forbidden"), "an operator has no figures: exit 1", (rc, err))


@test(limit=120)
def watch_prints_each_new_assignment_within_seconds(daemon):
    check(drain_open(daemon, "police-320104"), "police-320104's open queue is emptied first")
    args = ("-o", "watch_interval=1", "queue", "--watch", "--state", "open")
    bg = Background(daemon, "police-320104", *args)
    js = Background(daemon, "police-320104", "--json", *args)
    try:
        wait_until(lambda: "watching" in bg.err(), 5)
        time.sleep(1.5)
        t0 = time.monotonic()
        n = police_case(daemon, "320104")[0]
        seen = wait_until(lambda: n in bg.out(), 10, 0.05)
        took = time.monotonic() - t0
        check(seen and took < 5 and bg.out().startswith("RISK"),
              "a watcher of an empty queue (a long poll) prints a new assignment filed by"
              " another process within seconds (%.1fs)" % took, (bg.out(), bg.err()))
        check(wait_until(lambda: n in js.out(), 10), "and with --json as well")
        lines = [parsed(x) for x in js.out().splitlines()]
        check(lines and all(isinstance(x, dict) and x.get("assignment_id") for x in lines)
              and [x["case_number"] for x in lines] == [n],
              "one assignment object a line", js.out())
        t0 = time.monotonic()
        m, aid = police_case(daemon, "320104")
        seen = wait_until(lambda: aid in bg.out(), 10, 0.05)
        took = time.monotonic() - t0
        out = bg.out()
        check(seen and took < 5 and out.count(n) == 1 and out.count(aid) == 1,
              "a watcher of a queue that is not empty (polling every watch_interval) prints the"
              " next one within seconds too, each once (%.1fs)" % took, out)
    finally:
        for b in (bg, js):
            b.stop()
    check(bg.proc.returncode == -15 and js.proc.returncode == -15, "the watchers end on SIGTERM",
          (bg.proc.returncode, js.proc.returncode))


@test(limit=120)
def watch_survives_a_daemon_restart(daemon):
    d = Daemon("cli-watch").start()
    try:
        drain_open(d, "police-320104")
        bg = Background(d, "police-320104", "-o", "retry_max=1", "queue", "--watch", "--state",
                        "open")
        wait_until(lambda: "watching" in bg.err(), 5)
        time.sleep(0.5)
        d.stop()
        time.sleep(2)
        d.start()
        n = police_case(d, "320104")[0]
        seen = wait_until(lambda: n in bg.out(), 20, 0.1)
        err = bg.err()
        check(seen and "daemon unavailable" in err and "available again" in err,
              "the watcher reconnects after a restart and prints what was filed since",
              (bg.out(), err))
        check(bg.proc.poll() is None, "and keeps watching")
        bg.stop()
    finally:
        stop_cleanly(d)


def other_ca(d):
    """A CA of its own (not the deployment's) in d; its certificate's path."""
    key, crt = os.path.join(d, "other-ca.key"), os.path.join(d, "other-ca.crt")
    if not os.path.exists(crt):
        lib.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-subj", "/CN=another CA", "-days", "2",
                    "-out", crt)
    return crt


def server_cert_for(d, san):
    """A server certificate from the deployment CA for one subjectAltName
    (DNS:name or IP:address): (crt, key)."""
    base = os.path.join(d, "server-" + san.replace(":", "-"))
    ext = base + ".ext"
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % san)
    lib.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", base + ".key")
    lib.openssl("req", "-new", "-key", base + ".key", "-subj", "/CN=hotlined", "-out",
                base + ".csr")
    lib.openssl("x509", "-req", "-in", base + ".csr", "-CA", pki("ca.crt"), "-CAkey",
                pki("ca.key"), "-CAcreateserial", "-CAserial", base + ".srl", "-days", "2",
                "-sha256", "-extfile", ext, "-out", base + ".crt")
    return base + ".crt", base + ".key"


class NamedDaemon(Daemon):
    """A daemon whose certificate need not name 127.0.0.1: its health is
    asked with the CA verified but not the name (the library's checks
    verify the name)."""

    def _status(self, path):
        ctx = ssl.create_default_context(cafile=pki("ca.crt"))
        ctx.check_hostname = False
        try:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=5)
            c.request("GET", path)
            return c.getresponse().status
        except OSError:
            return None

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("%r exited:\n%s" % (self, self.logtail()))
        return self._status("/healthz") == 200

    def _ready(self):
        return self._status("/readyz") == 200


def localhost_is_ipv4():
    """True if the name localhost resolves to 127.0.0.1 first here."""
    try:
        return socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)[0][4][0] == "127.0.0.1"
    except OSError:
        return False


@test
def the_daemons_certificate_is_verified_name_and_ca(daemon):
    d = os.path.join(lib.VAR, "test-cli-pki")
    os.makedirs(d, exist_ok=True)
    env = client_env(daemon, "police-320102", HOTLINED_CA=other_ca(d))
    rc, out, err = hotline(daemon, None, "-v", "queue", env=env)
    check(rc == 3 and "not trusted" in err and len(tries(err)) == 1,
          "a daemon whose certificate another CA signed: exit 3 at once, no retries", (rc, err))
    crt, key = server_cert_for(d, "DNS:elsewhere.invalid")
    other = NamedDaemon("cli-name", tls_cert=crt, tls_key=key).start()
    try:
        rc, out, err = hotline(other, "police-320102", "-v", "queue")
        check(rc == 3 and "not trusted" in err and len(tries(err)) == 1,
              "a certificate for another name than the URL's address: exit 3", (rc, err))
    finally:
        stop_cleanly(other)
    if localhost_is_ipv4():
        crt, key = server_cert_for(d, "IP:127.0.0.1")
        other = Daemon("cli-ip", tls_cert=crt, tls_key=key).start()
        try:
            rc, out, err = hotline(other, "police-320102", "queue", env=client_env(
                other, "police-320102", HOTLINED_URL="https://localhost:%d" % other.port))
            check(rc == 3 and "not trusted" in err,
                  "a certificate for 127.0.0.1 does not do for the name localhost", (rc, err))
        finally:
            stop_cleanly(other)
        rc, out, err = hotline(daemon, None, "queue", env=client_env(
            daemon, "police-320102", HOTLINED_URL="https://localhost:%d" % daemon.port))
        check(rc == 0, "the daemon's own name (localhost) is accepted", (rc, err))
    rc, out, err = hotline(daemon, "unregistered", "version")
    check(refused(rc, err, 403, "client_unknown"), "an unregistered client certificate is sent"
          " and refused: exit 1", (rc, err))


@test
def the_clients_stderr_holds_no_personal_data_nor_sanitizer_reports(daemon):
    values = lib.personal_data_sent()
    found = sorted(v for v in values if any(v in err for err in _stderr))
    check(_stderr and not found, "no personal value sent appears on the client's stderr"
          " (%d runs)" % len(_stderr), found[:10])
    if lib.SANITIZERS:
        check(binary() == ASAN_CLIENT, "the asan suite runs build/asan/hotline")
        check(not _sanitizer_reports, "no run of the client wrote a sanitizer report",
              "\n".join(_sanitizer_reports[:10]))
