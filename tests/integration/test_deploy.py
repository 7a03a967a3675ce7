"""Deployment: two daemons behind HAProxy in TCP mode (TLS and client
certificates end at the daemons), on a PostgreSQL primary with a synchronous
streaming standby (daemon/dev/replica.sh), the daemons connecting with a
connection string that names both (target_session_attrs=read-write).

A client streams submissions through HAProxy and retries each with its
Idempotency-Key until it is acknowledged.  Killing one daemon (SIGKILL)
loses nothing and doubles nothing; stopping the primary at once and
promoting the standby loses nothing acknowledged, the daemons answer 503
with Retry-After in between and find the new primary by themselves.

Runs in an environment of its own (tests/run.sh's "deploy" suite), only
when -k names it; the last test leaves the standby as the primary."""

import os
import re
import subprocess
import threading
import time
import uuid

from . import lib
from .lib import Client, Daemon, check, example, not_stored_once, stop_cleanly, test, wait_until

CLIENT = "gateway2"         # the stream's own client: every report of it is the stream's
BODY = example("reports.domestic-violence-hospital.valid.json")


def standby():
    """(socket directory, port) of the standby, from standby.env."""
    env = {}
    with open(os.path.join(lib.VAR, "standby.env")) as f:
        for line in f:
            if line.startswith("export "):
                k, v = line[7:].strip().split("=", 1)
                env[k] = v
    return env["STANDBY_PGHOST"], env["STANDBY_PGPORT"]


def replica(action):
    """daemon/dev/replica.sh <action> on the environment."""
    subprocess.run(["bash", os.path.join(lib.ROOT, "daemon/dev/replica.sh"), action, lib.VAR],
                   check=True, capture_output=True, timeout=90)


def both_hosts():
    """The daemons' connection string: the primary, then the standby; only a
    read-write server will do; a host that does not answer is given 2 s."""
    conninfo = lib.base_settings()["database"]
    primary = "host=127.0.0.1 port=%s" % lib.ENV["PGPORT"]
    assert primary in conninfo, conninfo
    return conninfo.replace(primary, "host=127.0.0.1,127.0.0.1 port=%s,%s" % (
        lib.ENV["PGPORT"], standby()[1])) + " target_session_attrs=read-write connect_timeout=2"


class Haproxy:
    """HAProxy in front of daemons with contrib/haproxy.cfg (the file
    docker-compose.yml uses), its addresses and CA replaced by the test's."""

    def __init__(self, daemons):
        self.port = lib.free_port()
        self.cfg = os.path.join(lib.VAR, "haproxy-%d.cfg" % self.port)
        self.logpath = os.path.join(lib.VAR, "haproxy-%d.log" % self.port)
        with open(os.path.join(lib.ROOT, "contrib", "haproxy.cfg")) as f:
            text = f.read()
        servers = "".join("    server %s 127.0.0.1:%d\n" % (d.name, d.port) for d in daemons)
        text = re.sub(r"(?m)^    server .*\n", "", text).rstrip("\n") + "\n" + servers
        text = text.replace("bind :12355", "bind 127.0.0.1:%d" % self.port)
        text = text.replace("/usr/local/etc/haproxy/ca.crt", lib.pki("ca.crt"))
        with open(self.cfg, "w") as f:
            f.write(text)
        self.proc = None

    def check_config(self):
        """(exit status, output) of haproxy -c on the configuration."""
        out = subprocess.run(["haproxy", "-c", "-f", self.cfg], capture_output=True, text=True,
                             timeout=30)
        return out.returncode, out.stdout + out.stderr

    def start(self):
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        if not wait_until(self._serving, 10):
            raise AssertionError("haproxy does not serve /healthz:\n" + self.logtail())
        return self

    def _serving(self):
        if self.proc.poll() is not None:
            raise AssertionError("haproxy exited:\n" + self.logtail())
        try:
            return Client(self.port, None, timeout=2).get("/healthz")[0] == 200
        except OSError:
            return False

    def logtail(self):
        with open(self.logpath, errors="replace") as f:
            return "".join(f.readlines()[-15:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Stream:
    """Threads submitting reports through a port, each retried with its own
    Idempotency-Key until acknowledged 201 (Retry-After honoured on 503),
    until stopped."""

    def __init__(self, port, threads=4):
        self.port, self.run = port, uuid.uuid4().hex[:8]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}             # key -> case number
        self.unacked = []           # keys given up (the stream was stopped)
        self.errors = 0             # connections that failed under a request
        self.statuses = {}          # status -> count
        self.no_retry_after = []    # 503s without a Retry-After
        self.acked_at = []          # monotonic times of acknowledgements
        self.threads = [threading.Thread(target=self._loop, args=(n,), daemon=True)
                        for n in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _note(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k == "status":
                    self.statuses[v] = self.statuses.get(v, 0) + 1
                elif k == "error":
                    self.errors += 1
                elif k == "no_retry_after":
                    self.no_retry_after.append(v)

    def _submit(self, c, key):
        """Submit until acknowledged; the case number, or None if stopped first."""
        give_up = None
        while True:
            if self.stopping.is_set():
                give_up = give_up or time.monotonic() + 30
                if time.monotonic() > give_up:
                    return None
            try:
                st, h, b = c.post("/v1/reports", BODY, key)
            except Exception:
                self._note(error=1)
                c.close()
                time.sleep(0.1)
                continue
            self._note(status=st)
            if st == 201:
                return b["case_number"]
            if st == 503:
                if not h.get("retry-after", "").isdigit():
                    self._note(no_retry_after=(h, b))
                time.sleep(int(h.get("retry-after") or 1))
            elif st == 409:
                time.sleep(0.2)
            else:
                raise AssertionError("unexpected answer %s %s" % (st, b))

    def _loop(self, n):
        c = Client(self.port, CLIENT, timeout=10)
        i = 0
        while not self.stopping.is_set():
            key = "deploy-%s-%d-%d" % (self.run, n, i)
            i += 1
            number = self._submit(c, key)
            with self.lock:
                if number is None:
                    self.unacked.append(key)
                else:
                    self.acked[key] = number
                    self.acked_at.append(time.monotonic())

    def count(self):
        with self.lock:
            return len(self.acked)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(45)
        return not any(t.is_alive() for t in self.threads)


def stored(psql_env=None):
    """(idempotency records, distinct cases they name, reports) of CLIENT in the
    database (the standby's when psql_env is given)."""
    saved = {k: os.environ.get(k) for k in ("PGHOST", "PGPORT")}
    if psql_env:
        os.environ.update(psql_env)
    try:
        row = lib.psql("select (select count(*) from hotline.idempotency i join hotline.clients k"
                       " on k.id = i.client_id where k.name = :'a0'),"
                       " (select count(distinct c.id) from hotline.idempotency i"
                       " join hotline.clients k on k.id = i.client_id join hotline.cases c"
                       " on c.case_number = i.response->>'case_number' where k.name = :'a0'),"
                       " (select count(*) from hotline.reports r join hotline.clients k"
                       " on k.id = r.client_id where k.name = :'a0')", CLIENT)[0]
        return tuple(int(x) for x in row)
    finally:
        for k, v in saved.items():
            os.environ[k] = v


def pair():
    """Two daemons on both database hosts, and HAProxy in front of them."""
    a = Daemon("deploy-a", database=both_hosts(), retry_after=1)
    b = Daemon("deploy-b", database=both_hosts(), retry_after=1)
    try:
        a.start()
        b.start()
        proxy = Haproxy([a, b])
        rc, out = proxy.check_config()
        check(rc == 0, "haproxy -c accepts contrib/haproxy.cfg", out)
        return a, b, proxy.start()
    except Exception:
        a.stop()
        b.stop()
        raise


@test(limit=150)
def a_daemon_killed_under_a_stream_loses_and_doubles_nothing():
    sync = lib.scalar("select sync_state from pg_stat_replication where application_name ="
                      " 'standby1'")
    check(sync == "sync", "the standby replicates synchronously", sync)
    before = stored()
    a, b, proxy = pair()
    stream = None
    try:
        stream = Stream(proxy.port).start()
        check(wait_until(lambda: stream.count() >= 20, 30),
              "reports stream through HAProxy to both daemons")
        served = [d.metric("hotlined_requests_total", route="reports", method="POST",
                           status="201") or 0 for d in (a, b)]
        check(min(served) > 0, "HAProxy shares the stream between the daemons", served)
        a.kill9()
        killed_at, at_kill = time.monotonic(), stream.count()
        check(wait_until(lambda: stream.count() >= at_kill + 30, 30),
              "after daemon a is killed the stream goes on through daemon b (%.1fs)"
              % (time.monotonic() - killed_at))
        check(stream.stop(), "every submission in flight is acknowledged once the stream stops")
        check(stream.errors > 0, "the kill broke connections under requests (%d), which the"
              " client retried with the same key" % stream.errors)
        check(not stream.unacked, "no submission was left unacknowledged", stream.unacked[:5])
        missing = not_stored_once(stream.acked.values())
        check(not missing, "every acknowledged report is in the database exactly once "
              "(%d)" % len(stream.acked), missing[:5])
        after = stored()
        n = len(stream.acked)
        check(after == (before[0] + n, before[1] + n, before[2] + n),
              "the database holds one record, one case and one report per submission, no more",
              (before, after, n))
    finally:
        if stream is not None:
            stream.stop()
        proxy.stop()
        stop_cleanly(b)
        if a.running():
            a.stop()


@test(limit=180)
def promoting_the_standby_loses_nothing_acknowledged():
    host, port = standby()
    before = stored()
    a, b, proxy = pair()
    pids = (a.proc.pid, b.proc.pid)
    failures = a.metric("hotlined_db_connection_failures_total", reason="connection_lost") or 0
    stream = None
    try:
        stream = Stream(proxy.port, threads=2).start()
        check(wait_until(lambda: stream.count() >= 20, 30), "reports stream through HAProxy")
        replica("crash")
        crashed_at, at_crash = time.monotonic(), stream.count()
        check(wait_until(lambda: stream.statuses.get(503, 0) > 0, 15),
              "with the primary gone the daemons answer 503", stream.statuses)
        time.sleep(2)
        check(stream.count() <= at_crash + 2, "nothing is acknowledged without a primary",
              (at_crash, stream.count()))
        replica("promote")
        check(wait_until(lambda: all(lib.Client(d, None, timeout=3).get("/readyz")[0] == 200
                                     for d in (a, b)), 30),
              "both daemons find the promoted standby by themselves (%.1fs after the crash)"
              % (time.monotonic() - crashed_at))
        check((a.proc.pid, b.proc.pid) == pids and a.running() and b.running(),
              "without a restart")
        check(wait_until(lambda: stream.count() >= at_crash + 20, 30),
              "the stream goes on through the new primary")
        check(stream.stop(), "every submission in flight is acknowledged once the stream stops")
        check(not stream.no_retry_after, "every 503 carried Retry-After",
              stream.no_retry_after[:3])
        check(not stream.unacked, "no submission was left unacknowledged", stream.unacked[:5])
        check((a.metric("hotlined_db_connection_failures_total", reason="connection_lost")
               or 0) > failures, "the lost connections show in the metrics")
        new = {"PGHOST": host, "PGPORT": port}
        saved = {k: os.environ.get(k) for k in new}
        os.environ.update(new)
        try:
            missing = not_stored_once(stream.acked.values())
        finally:
            os.environ.update(saved)
        check(not missing, "every acknowledged report is on the new primary exactly once (%d)"
              % len(stream.acked), missing[:5])
        after = stored(new)
        n = len(stream.acked)
        check(after == (before[0] + n, before[1] + n, before[2] + n),
              "the new primary holds one record, one case and one report per submission",
              (before, after, n))
    finally:
        if stream is not None:
            stream.stop()
        proxy.stop()
        stop_cleanly(a)
        stop_cleanly(b)
