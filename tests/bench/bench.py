#!/usr/bin/env python3
"""make bench: what intake and the agencies' side cost, each figure printed
beside a floor measured in the same run on the same private PostgreSQL.

Shared machines are noisy: an absolute time means little, a ratio to a floor
measured minutes apart on the same cores holds.  Nothing here asserts a
speed; the run fails only when something does not work (a daemon that does
not start, a clock that never fires, a refusal where none is expected).  It
ends with one Markdown table (figure, value, floor or target, ratio, met)
and the machine it ran on, with its load.  The full run takes about 16
minutes on two cores, BENCH_QUICK's under 3.

Part one, in a fresh environment holding a base of filled cases
(tests/volume/fill.sql: 100,000, analyzed), as a deployment would:
  floor      pgbench -M prepared, 8 clients: a case, an event and an
             assignment per transaction (floor.sql), before and after intake
  intake     hotlined at 64 connections, closed loop, with the CPU time of
             the database's processes and of the daemon per report
  profile    the same under pg_stat_statements (track = all, with planning)
             and track_functions: which SQL and which function cost what
  open loop  a fixed offered rate (1,000/s, and half the closed-loop rate):
             latency from each request's due time, requests behind schedule
  sweep      1, 16, 64 connections with batch_max 32; 16, 64 with batch_max 1
  memory     the daemon's RSS with 10,000 idle keep-alive TLS connections
Part two, in a fresh database:
  escalation 1,000 clocks due at once among 100,000 running clocks, then
             among 1,000,000: the timer's lag and the cost of firing them
  backlog    GET /v1/queue?limit=50 with 100,000 live assignments in one
             county police's queue, GET /v1/supervision/overdue, beside
             GET /healthz and GET /v1/version
  agencies   the floor of claiming and acknowledging: pgbench, one client
             per agency, the most urgent open row then its state and a
             history event committed (ack-floor.sql); then 16 agencies
             claiming (GET /v1/queue) and acknowledging in parallel

  BENCH_QUICK=1   small fills and short durations (a couple of minutes)
  BENCH_KEEP=1    keep the directory (its path is printed)
  BENCH_PHASES="backlog agencies"
                  only these phases (intake, profile, open, sweep, memory,
                  escalation, backlog, agencies; open and sweep take their
                  rate from intake, which then runs too); default all
"""

import datetime
import glob
import http.client
import os
import re
import resource
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOTLINED = os.path.join(ROOT, "build", "hotlined")
BENCH = os.path.join(ROOT, "build", "hotline-bench")
CTL = os.path.join(ROOT, "build", "hotlinectl")
FILL = os.path.join(ROOT, "tests", "volume", "fill.sql")
REPORT = os.path.join(ROOT, "proto", "examples", "reports.sexual-abuse.valid.json")
HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
KEEP = os.environ.get("BENCH_KEEP", "") not in ("", "0")
PART_ONE = ("intake", "profile", "open", "sweep", "stats", "memory")
PART_TWO = ("escalation", "backlog", "agencies")
PHASES = os.environ.get("BENCH_PHASES", "").split() or list(PART_ONE + PART_TWO)


def pick(full, quick):
    """A size or duration of the full run, or of BENCH_QUICK's."""
    return quick if QUICK else full


INTAKE_BASE = pick(100000, 5000) # cases filled before intake is measured
FLOOR_S = pick(20, 4)            # each of the two pgbench runs
FLOOR_CLIENTS = 8
INTAKE_S = pick(30, 8)           # the 64-connection run
INTAKE_CONNS = 64
PROFILE_N = pick(5000, 1000)     # reports under pg_stat_statements
OPEN_RATE = 1000                 # reports/s offered
OPEN_S = pick(20, 5)
OPEN_CONNS = 256
SWEEP_S = pick(10, 3)
STATS_S = pick(20, 5)            # intake alone, then with a statistician
STATS_QUERY = "by=region,category,risk_level"
HOLD = pick(10000, 1000)         # idle keep-alive TLS connections
HOLD_WAIT_S = 600                # to open them, at most
CLOCKS_SMALL = pick(100000, 2000)
CLOCKS_LARGE = pick(1000000, 20000)
BURST = pick(1000, 200)
BURST_AHEAD_S = 3                # the burst falls due this far ahead
BACKLOG = pick(100000, 5000)     # live assignments in one police queue
BACKLOG_COUNTY = "330110"        # not among fill.sql's default counties
OVERDUE_SHARE = 0.01             # of the backlog: missed acknowledge clocks
READS_N = pick(200, 50)          # GET requests per latency figure
READS_S = pick(60, 15)           # ... or this long at most
AGENCIES = 16
AGENCY_CASES = pick(2500, 200)   # cases per agency (4 in 5 live, half open)
ACK_S = pick(20, 5)
ACK_FLOOR_WORK = pick(25000, 6000)  # open work per agency in the ack floor (more than it claims)
FILL_CHUNK = 100000              # cases per fill.sql transaction
RUNNING_PER_CASE = 2.0           # running clocks per filled case (fill.sql)
LIVE_PER_CASE = 0.8              # live primaries per filled case

# The targets: printed beside the figures, never asserted.
TARGET_FLOOR_RATIO = 1.0
STRETCH_FLOOR_RATIO = 2.5
TARGET_OPEN_P99_MS = 20.0
TARGET_DB_MS = 0.4
TARGET_QUEUE_MS = 20.0
TARGET_ACKS = 5000.0
TARGET_LAG_S = 1.0
TARGET_RSS_KIB = 1024 * 1024

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROWS = []        # the summary table
NOTES = []       # what else used the machine while a figure was measured
LOADS = []       # (phase, load averages) as the run went
STARTED = time.monotonic()


def log(msg):
    """A progress line."""
    print("# " + msg, flush=True)


def pg_binary(name):
    """A PostgreSQL program itself (Debian's /usr/bin wrappers cost ~0.2 s a
    call)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return found[-1] if found else name


PSQL = pg_binary("psql")
PGBENCH = pg_binary("pgbench")


def free_port():
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_note(phase):
    """Remember the load average as a phase begins."""
    with open("/proc/loadavg") as f:
        LOADS.append((phase, " ".join(f.read().split()[:3])))


# ------------------------------------------------------------------ the environment

class Env:
    """The throwaway directory: a private PostgreSQL, PKI, keys, hotlined.conf."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hotlined-bench.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.pgport = free_port()
        self.port = free_port()
        self.mport = free_port()
        self.pg = os.path.join(self.dir, "pg")
        self.pki = os.path.join(self.dir, "pki")
        os.environ.update(PGHOST=os.path.join(self.pg, "run"), PGPORT=str(self.pgport),
                          PGUSER="postgres", PGDATABASE="hotline")

    def setup(self):
        """daemon/dev/setup.sh: the cluster, the database, PKI and clients."""
        env = dict(os.environ, HOTLINED_PORT=str(self.port),
                   HOTLINED_METRICS_PORT=str(self.mport))
        with open(os.path.join(self.dir, "setup.log"), "a") as out:
            r = subprocess.run(["bash", os.path.join(ROOT, "daemon/dev/setup.sh"), self.dir,
                                str(self.pgport)], env=env, stdout=out, stderr=out)
        if r.returncode != 0:
            with open(os.path.join(self.dir, "setup.log")) as f:
                sys.stdout.write(f.read()[-3000:])
            raise SystemExit("bench: setup failed")

    def pg_ctl(self, action):
        """pg.sh start or stop."""
        subprocess.run(["bash", os.path.join(ROOT, "daemon/dev/pg.sh"), action, self.pg],
                       check=True, stdout=subprocess.DEVNULL)

    def configure_pg(self):
        """pg_stat_statements loaded (tracking nothing until the profile) and
        the cluster restarted."""
        with open(os.path.join(self.pg, "data", "postgresql.conf"), "a") as f:
            f.write("# make bench\nshared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track = none\npg_stat_statements.max = 5000\n")
        self.pg_ctl("stop")
        self.pg_ctl("start")
        psql("create extension if not exists pg_stat_statements")

    def postmaster(self):
        """The postmaster's pid."""
        with open(os.path.join(self.pg, "data", "postmaster.pid")) as f:
            return int(f.readline())

    def register(self, names):
        """Certificates (daemon/dev/pki.sh) and agency clients (hotlinectl)
        for agencies of these codes."""
        subprocess.run(["bash", os.path.join(ROOT, "daemon/dev/pki.sh"), self.pki] + names,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for n in names:
            subprocess.run([CTL, "clients", "add", n, "agency", n,
                            os.path.join(self.pki, n + ".crt")],
                           check=True, stdout=subprocess.DEVNULL)

    def cleanup(self):
        """Stop the daemons and the cluster and remove the directory (unless
        BENCH_KEEP)."""
        for d in list(DAEMONS):
            d.stop()
        try:
            self.pg_ctl("stop")
        except subprocess.CalledProcessError:
            pass
        if KEEP:
            log("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


ENV = None
DAEMONS = set()  # running, stopped by cleanup if the run breaks off


def psql(sql, db="hotline", timeout=3600):
    """Run SQL as the superuser; its output, unaligned, tab-separated."""
    r = subprocess.run([PSQL, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", db],
                       input=sql, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit("bench: psql failed: %s\n%s" % (r.stderr.strip(), sql[:300]))
    return r.stdout.strip()


def rows(sql, db="hotline"):
    """psql's output as lists of fields."""
    out = psql(sql, db)
    return [line.split("\t") for line in out.splitlines()] if out else []


class Daemon:
    """hotlined with the environment's configuration and some settings
    replaced."""

    def __init__(self, name, nofile=None, **settings):
        self.name = name
        self.nofile = nofile
        self.settings = dict(log_level="warn", queue_max="100000")
        self.settings.update({k: str(v) for k, v in settings.items()})
        self.log = os.path.join(ENV.dir, "daemon-%s.log" % name)
        self.proc = None

    def __repr__(self):
        return "hotlined (%s)" % self.name

    def start(self):
        """Start it and wait until /readyz answers."""
        conf = os.path.join(ENV.dir, "bench-%s.conf" % self.name)
        with open(os.path.join(ENV.dir, "hotlined.conf")) as f:
            lines = [ln for ln in f if ln.split("=")[0].strip() not in self.settings]
        with open(conf, "w") as f:
            f.writelines(lines)
            f.writelines("%s = %s\n" % kv for kv in self.settings.items())
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen([HOTLINED, "-d", "-f", conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         preexec_fn=nofile_raiser(self.nofile))
        DAEMONS.add(self)
        ctx = ssl.create_default_context(cafile=os.path.join(ENV.pki, "ca.crt"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                c = http.client.HTTPSConnection("127.0.0.1", ENV.port, context=ctx, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    c.close()
                    return self
                c.close()
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit("bench: hotlined did not become ready:\n" + self.logtail())

    def stop(self):
        """SIGTERM, then SIGKILL after 30 s."""
        DAEMONS.discard(self)
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def rss_kib(self):
        """Its resident set, in KiB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def metrics(self):
        """Its metrics, {name{labels}: value}, from metrics_listen."""
        conf = os.path.join(ENV.dir, "bench-%s.conf" % self.name)
        with open(conf) as f:
            addr = [ln.split("=", 1)[1].strip() for ln in f
                    if ln.split("=")[0].strip() == "metrics_listen"][-1]
        host, port = addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        return {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
                for ln in text.splitlines() if ln and not ln.startswith("#")}

    def logtail(self):
        """The end of its log."""
        with open(self.log, errors="replace") as f:
            return f.read()[-2000:]


def nofile_raiser(n):
    """A preexec_fn raising the descriptor limit to n (None: unchanged); above
    the hard limit only as root."""
    if n is None:
        return None

    def raise_limit():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < n:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
                return
            except (ValueError, OSError):
                pass    # not allowed here: as far as the hard limit goes
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return raise_limit


def bench(args, idents=("gateway",), timeout=900, nofile=None, check=True):
    """Run hotline-bench with these arguments as these clients; its figures
    as a dict ("requests", "latency_ms.p99", "status.503", ...)."""
    cmd = [BENCH, "-a", "127.0.0.1:%d" % ENV.port, "-A", os.path.join(ENV.pki, "ca.crt")]
    for n in idents:
        cmd += ["-E", os.path.join(ENV.pki, n + ".crt"), "-K", os.path.join(ENV.pki, n + ".key")]
    r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, preexec_fn=nofile_raiser(nofile))
    out = parse_bench(r.stdout)
    out["text"] = r.stdout
    if check and r.returncode != 0:
        raise SystemExit("bench: hotline-bench %s failed:\n%s%s" % (
            " ".join(str(a) for a in args), r.stdout, r.stderr[-2000:]))
    return out


def parse_bench(text):
    """hotline-bench's key=value lines as a dict; a line that starts with a
    bare word prefixes its keys with it."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"status (\d+): (\d+)", line)
        if m:
            out["status." + m.group(1)] = int(m.group(2))
            continue
        words = line.split()
        prefix = ""
        if words and "=" not in words[0]:
            prefix = words.pop(0) + "."
        for w in words:
            if "=" in w:
                k, v = w.split("=", 1)
                v = v.rstrip("/s") if v.endswith("/s") else v
                try:
                    out[prefix + k] = float(v)
                except ValueError:
                    out[prefix + k] = v
    return out


# ---------------------------------------------------------------------- CPU time

def proc_stat(pid):
    """ppid, utime+stime, cutime+cstime (ticks) of a process, or None."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def proc_title(pid):
    """A process's command line (PostgreSQL puts its activity there)."""
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class Cpu:
    """CPU time of the database (the postmaster and its children, exited
    ones included through the postmaster's cutime), of the daemon, of the
    load generator, and of the whole machine, between two moments."""

    def __init__(self, daemon=None):
        self.daemon = daemon

    def sample(self):
        """What each has used so far, in ticks."""
        pm = ENV.postmaster()
        st = proc_stat(pm)
        db = st[1] + st[2]
        backends = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            p = proc_stat(pid)
            if p is None or p[0] != pm:
                continue
            db += p[1]
            backends[pid] = (p[1], proc_title(pid))
        d = proc_stat(self.daemon.proc.pid)[1] if self.daemon else 0
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        busy = sum(cpu[:8]) - cpu[3] - cpu[4]     # guest time is in user already
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return dict(db=db, backends=backends, daemon=d, busy=busy,
                    children=ru.ru_utime + ru.ru_stime, at=time.monotonic())

    def __enter__(self):
        self.before = self.sample()
        return self

    def __exit__(self, *exc):
        self.after = self.sample()
        b, a = self.before, self.after
        sec = lambda t: t / CLK_TCK
        self.wall = a["at"] - b["at"]
        self.db = sec(a["db"] - b["db"])
        self.db_daemon = sec(sum(a["backends"][p][0] - b["backends"][p][0]
                                 for p in a["backends"] if p in b["backends"]
                                 and a["backends"][p][1].startswith("postgres: hotlined ")))
        self.daemon_s = sec(a["daemon"] - b["daemon"])
        self.loadgen = a["children"] - b["children"]
        self.busy = sec(a["busy"] - b["busy"])
        self.others = max(0.0, self.busy - self.db - self.daemon_s - self.loadgen)
        return False

    def summary(self, n, what):
        """CPU per unit of work, as text."""
        return ("CPU per %s: database %.3f ms (its backends serving the daemon %.3f ms), "
                "daemon %.3f ms, load generator %.3f ms; the machine was %.0f %% busy, other "
                "processes %.2f cores" % (what, self.db / n * 1e3, self.db_daemon / n * 1e3,
                                          self.daemon_s / n * 1e3, self.loadgen / n * 1e3,
                                          100 * self.busy / self.wall / os.cpu_count(),
                                          self.others / self.wall))


# ------------------------------------------------------------------- the table

def row(figure, value, against="", ratio="", met=""):
    """A line of the summary table."""
    ROWS.append((figure, value, against, ratio, met))


def yes_no(ok):
    """A target's verdict."""
    return "yes" if ok else "**no**"


def ms(x):
    """Milliseconds, readably."""
    return "%.0f ms" % x if x >= 100 else "%.1f ms" % x if x >= 1 else "%.2f ms" % x


def n_(x):
    """A count with thousands separators."""
    return "{:,}".format(int(round(x)))


# ---------------------------------------------------------------------- part one

def pgbench(script, db, clients, seconds, label, what):
    """A pgbench script (-M prepared) against a database: per second and
    the database's CPU per transaction, in ms."""
    load_note(label)
    with Cpu() as cpu:
        r = subprocess.run([PGBENCH, "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
                            "-T", str(seconds), "-f", os.path.join(HERE, script), db],
                           capture_output=True, text=True)
    m = re.search(r"tps = ([0-9.]+) \(without", r.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    if r.returncode != 0 or not m or not done:
        raise SystemExit("bench: pgbench (%s) failed:\n%s%s" % (label, r.stdout, r.stderr))
    tps, n = float(m.group(1)), int(done.group(1))
    log("%s: pgbench -M prepared -c %d, %d s: %.0f %s/s; %s" % (
        label, clients, seconds, tps, what, cpu.summary(n, "transaction")))
    return tps, cpu.db / n * 1e3


def floor(label):
    """pgbench's minimal durable intake transaction; tx/s and its CPU."""
    return pgbench("floor.sql", "bench_floor", FLOOR_CLIENTS, FLOOR_S, "floor (%s)" % label, "tx")


def tuples():
    """Rows inserted and updated so far in the daemon's tables, by table."""
    return {t: (int(i), int(u)) for t, i, u in rows(
        "select relname, n_tup_ins, n_tup_upd from pg_stat_user_tables"
        " where schemaname = 'hotline'")}


def tuples_per(before, after, n):
    """The rows written between two tuples() per unit of work: inserted,
    updated, and the tables written."""
    ins = sum(after[t][0] - before.get(t, (0, 0))[0] for t in after)
    upd = sum(after[t][1] - before.get(t, (0, 0))[1] for t in after)
    tables = sum(1 for t in after if after[t] != before.get(t, (0, 0)))
    return ins / n, upd / n, tables


def intake():
    """Closed loop at 64 connections with CPU per report, between two
    floors."""
    psql("create database bench_floor", "postgres")
    psql(open(os.path.join(HERE, "floor-schema.sql")).read(), "bench_floor")
    f1, fcpu1 = floor("before")
    t0 = tuples()
    d = Daemon("intake").start()
    load_note("intake")
    with Cpu(d) as cpu:
        r = bench(["-c", INTAKE_CONNS, "-T", INTAKE_S, "-b", REPORT, "-p", "/v1/reports"])
        counted = stats_caught_up()
    d.stop()
    n = r["requests"]
    written = tuples_per(t0, tuples(), n)
    log("intake: %d connections, batch_max 32, %d s: %s" % (
        INTAKE_CONNS, INTAKE_S, " ".join(r["text"].split())))
    log("intake: the statistics of these reports were counted %.0f s after the run ended;"
        " the CPU figures include them" % counted)
    log("intake: " + cpu.summary(n, "report"))
    NOTES.append("during the intake run other processes used %.2f of the %d cores (the machine"
                 " was %.0f %% busy)" % (cpu.others / cpu.wall, os.cpu_count(),
                                         100 * cpu.busy / cpu.wall / os.cpu_count()))
    f2, fcpu2 = floor("after")
    fl = (f1 + f2) / 2
    ratio = r["rate"] / fl
    row("intake, %d connections (closed loop), %s cases stored before" % (
        INTAKE_CONNS, n_(INTAKE_BASE)), "%s reports/s" % n_(r["rate"]),
        "floor %s tx/s (pgbench, %d clients; %s and %s)" % (n_(fl), FLOOR_CLIENTS, n_(f1), n_(f2)),
        "%.2f×" % ratio, "%s (≥ %.1f×); stretch ≥ %.1f×: %s" % (
            yes_no(ratio >= TARGET_FLOOR_RATIO), TARGET_FLOOR_RATIO, STRETCH_FLOOR_RATIO,
            yes_no(ratio >= STRETCH_FLOOR_RATIO)))
    row("intake latency at %d connections" % INTAKE_CONNS,
        "p50 %s, p99 %s" % (ms(r["latency_ms.p50"]), ms(r["latency_ms.p99"])))
    dbms = cpu.db / n * 1e3
    row("database CPU per report", ms(dbms),
        "target ≤ %.1f ms; the floor's %.2f ms per transaction" % (TARGET_DB_MS,
                                                                  (fcpu1 + fcpu2) / 2),
        "%.1f× target" % (dbms / TARGET_DB_MS), yes_no(dbms <= TARGET_DB_MS))
    row("rows written per report", "%.1f inserted, %.1f updated, in %d tables" % written,
        "the floor: 3 inserted, in 3 tables", "%.1f× floor" % ((written[0] + written[1]) / 3))
    # The most this machine could serve if a report cost the database no
    # more than the floor's transaction, with the daemon and the load
    # generator as measured: the cores over the CPU a report would take.
    least = (fcpu1 + fcpu2) / 2 + (cpu.daemon_s + cpu.loadgen) / n * 1e3
    row("ceiling: intake if a report cost the database only the floor's transaction",
        "%s reports/s" % n_(os.cpu_count() / least * 1e3),
        "%d cores / (the floor's %.2f ms + daemon and load generator %.2f ms)" % (
            os.cpu_count(), (fcpu1 + fcpu2) / 2, (cpu.daemon_s + cpu.loadgen) / n * 1e3),
        "%.2f× floor" % (os.cpu_count() / least * 1e3 / fl))
    row("daemon CPU per report", ms(cpu.daemon_s / n * 1e3),
        "%.0f %% of one core at %s reports/s" % (100 * cpu.daemon_s / cpu.wall, n_(r["rate"])))
    return r["rate"]


def profile():
    """Intake again with every statement and function timed: where the
    database's time per report goes."""
    psql("alter system set pg_stat_statements.track = 'all';"
         " alter system set pg_stat_statements.track_planning = on;"
         " alter system set track_functions = 'all'; select pg_reload_conf();")
    d = Daemon("profile").start()
    psql("select pg_stat_statements_reset(); select pg_stat_reset();")
    load_note("profile")
    r = bench(["-c", INTAKE_CONNS, "-n", PROFILE_N, "-b", REPORT, "-p", "/v1/reports"])
    d.stop()    # its backends flush their function statistics as they exit
    time.sleep(1)
    n = r["requests"]
    psql("alter system reset pg_stat_statements.track;"
         " alter system reset pg_stat_statements.track_planning;"
         " alter system reset track_functions; select pg_reload_conf();")
    log("profile: %d reports in %.1f s under pg_stat_statements (track = all, track_planning)"
        " and track_functions = all: elapsed time inside PostgreSQL, CPU and waiting for it"
        " alike, with the instrumentation's own cost" % (n, r["seconds"]))
    top = rows("select toplevel, calls, total_exec_time, total_plan_time,"
               " regexp_replace(query, '\\s+', ' ', 'g')"
               " from pg_stat_statements s join pg_database d on d.oid = s.dbid"
               " where d.datname = 'hotline'"
               " order by total_exec_time + total_plan_time desc limit 16")
    log("statements by time, per report (a top-level statement's time contains its nested"
        " ones'; a nested statement's planning is inside its caller's execution):")
    log("   exec ms   plan ms  calls/report  level   statement")
    for lvl, calls, total, plan, q in top:
        log("  %8.3f  %8.3f  %12.2f  %-6s  %s" % (float(total) / n, float(plan) / n,
                                                 float(calls) / n,
                                                 "top" if lvl == "t" else "nested", q[:80]))
    totals = rows("select (select sum(calls) from pg_stat_statements s join pg_database d"
                  " on d.oid = s.dbid where d.datname = 'hotline' and not toplevel),"
                  " (select sum(calls) from pg_stat_user_functions"
                  " where schemaname = 'hotline')")[0]
    log("in all, per report: %.1f nested statement executions, %.1f function calls" % (
        float(totals[0] or 0) / n, float(totals[1] or 0) / n))
    funcs = rows("select funcname, calls, self_time, total_time from pg_stat_user_functions"
                 " where schemaname = 'hotline' order by self_time desc limit 14")
    log("functions by their own time (self), per report:")
    log("   self ms  total ms  calls/report  function")
    for name, calls, self_t, total in funcs:
        log("  %8.3f  %8.3f  %12.2f  %s" % (float(self_t) / n, float(total) / n,
                                           float(calls) / n, name))
    if funcs:
        row("database time per report by function (profile)", ", ".join(
            "%s %.2f ms" % (name, float(self_t) / n) for name, _, self_t, _ in funcs[:4]),
            "self time, pg_stat_user_functions")


def open_loop(closed_rate):
    """A fixed offered rate: 1,000/s, and half what the closed loop
    reached."""
    # Every connection comes from 127.0.0.1 and opens at once: past the
    # daemon's budget of handshakes per address (64), the rest are refused.
    d = Daemon("open", max_handshakes_per_address=OPEN_CONNS).start()
    half = max(50, int(closed_rate / 2 / 50) * 50)
    if abs(half - OPEN_RATE) < OPEN_RATE / 10:
        half = OPEN_RATE // 2   # not the same rate twice
    for rate in (OPEN_RATE, half):
        load_note("open loop %d/s" % rate)
        m0 = d.metrics()
        r = bench(["-c", OPEN_CONNS, "-r", rate, "-T", OPEN_S, "-b", REPORT,
                   "-p", "/v1/reports"], check=False)
        m1 = d.metrics()
        if r.get("requests", 0) < rate * OPEN_S:
            raise SystemExit("bench: the open loop broke off:\n" + r["text"])
        log("open loop %d/s for %d s (%d connections): %s" % (
            rate, OPEN_S, OPEN_CONNS, " ".join(r["text"].split())))
        # The group commits of the run: how many, and how many grew large
        # (a report waits for every report of its batch).
        h = lambda k: m1.get("hotlined_db_batch_size" + k, 0) - m0.get("hotlined_db_batch_size" + k, 0)
        batches = h("_count")
        if batches:
            log("open loop %d/s: %d group commits, %.1f reports each on average; %d of more"
                " than 8 reports, %d of more than 16" % (
                    rate, batches, h("_sum") / batches, batches - h('_bucket{le="8"}'),
                    batches - h('_bucket{le="16"}')))
        p99 = r["latency_ms.p99"]
        row("open loop %s reports/s offered" % n_(rate),
            "p50 %s, p90 %s, p99 %s, max %s; %s of %s behind schedule; %s/s served%s" % (
                ms(r["latency_ms.p50"]), ms(r["latency_ms.p90"]), ms(p99),
                ms(r["latency_ms.max"]), n_(r["behind"]), n_(r["requests"]), n_(r["rate"]),
                "; %s refused" % n_(r["failed"]) if r["failed"] else ""),
            "target p99 ≤ %.0f ms at 1,000/s" % TARGET_OPEN_P99_MS if rate == OPEN_RATE else
            "(half the closed-loop rate)",
            "%.1f× target" % (p99 / TARGET_OPEN_P99_MS) if rate == OPEN_RATE else "",
            yes_no(p99 <= TARGET_OPEN_P99_MS) if rate == OPEN_RATE else "")
    d.stop()


def sweep(closed_rate):
    """The concurrency sweep, briefly: group commit on and off."""
    results = [(32, INTAKE_CONNS, None)]
    for batch, conns in ((32, 1), (32, 16), (1, 16), (1, 64)):
        d = Daemon("sweep-%d-%d" % (batch, conns), batch_max=batch).start()
        load_note("sweep %d/%d" % (batch, conns))
        r = bench(["-c", conns, "-T", SWEEP_S, "-b", REPORT, "-p", "/v1/reports"])
        d.stop()
        results.append((batch, conns, r))
    log("sweep (%d s each; the 64/32 line is the intake run):" % SWEEP_S)
    log("  connections  batch_max  reports/s      p50      p99")
    for batch, conns, r in sorted(results, key=lambda x: (-x[0], x[1])):
        if r is None:
            log("  %11d  %9d  %9.0f  (above)" % (conns, batch, closed_rate))
        else:
            log("  %11d  %9d  %9.0f  %7s  %7s" % (conns, batch, r["rate"],
                                                  ms(r["latency_ms.p50"]),
                                                  ms(r["latency_ms.p99"])))
    no_group = [r for b, c, r in results if b == 1 and c == INTAKE_CONNS][0]
    row("group commit at %d connections" % INTAKE_CONNS,
        "%s reports/s with batch_max 32, %s with 1" % (n_(closed_rate), n_(no_group["rate"])),
        "", "%.2f×" % (closed_rate / no_group["rate"]))


def stats_beside_intake():
    """Intake at 16 connections alone, then while a statistician asks
    GET /v1/stats for the year in a loop (tests/bench/stats_loop.py): what
    the statistics cost intake."""
    year = datetime.date.today().year
    query = "from=%d-01-01&to=%d-12-31&%s" % (year, year, STATS_QUERY)
    d = Daemon("stats").start()
    load_note("stats: intake alone")
    alone = bench(["-c", 16, "-T", STATS_S, "-b", REPORT, "-p", "/v1/reports"])
    load_note("stats: intake beside statistics")
    loop = subprocess.Popen([sys.executable, os.path.join(HERE, "stats_loop.py"),
                             "127.0.0.1:%d" % ENV.port, ENV.pki, query],
                            stdout=subprocess.PIPE, text=True)
    try:
        beside = bench(["-c", 16, "-T", STATS_S, "-b", REPORT, "-p", "/v1/reports"])
    finally:
        loop.terminate()
        out = loop.communicate(timeout=60)[0]
    d.stop()
    st = parse_bench(out)
    log("statistics beside intake: alone %s; beside %s; %s" % (
        " ".join(alone["text"].split()), " ".join(beside["text"].split()), out.strip()))
    if st.get("stats.answers", 0) == 0 or st.get("stats.failed", 0):
        raise SystemExit("bench: GET /v1/stats failed beside intake: " + out)
    row("intake at 16 connections while GET /v1/stats (a year by %s) runs in a loop" % (
        STATS_QUERY[3:]), "%s reports/s (p50 %s) beside %.1f answers/s (p50 %s)" % (
            n_(beside["rate"]), ms(beside["latency_ms.p50"]), st["stats.per_s"],
            ms(st["stats.p50"])),
        "intake alone %s reports/s (p50 %s)" % (n_(alone["rate"]), ms(alone["latency_ms.p50"])),
        "%.2f×" % (beside["rate"] / alone["rate"]))


def memory():
    """The daemon's RSS with HOLD idle keep-alive TLS connections (fewer if
    the descriptor limit cannot be raised that far here)."""
    hold = HOLD
    nofile = hold + 1000
    if subprocess.run(["sh", "-c", "ulimit -n %d" % nofile]).returncode != 0:
        hold = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 1000
        nofile = hold + 1000
        log("memory: the descriptor limit cannot be raised to %d here: %d connections" % (
            HOLD + 1000, hold))
    d = Daemon("memory", nofile=nofile, max_connections=hold + 100, idle_timeout=3600,
               handshake_timeout=60).start()
    bench(["-m", "get", "-p", "/healthz", "-c", 4, "-n", 400])
    time.sleep(0.5)
    before = d.rss_kib()
    load_note("memory")
    cmd = [BENCH, "-a", "127.0.0.1:%d" % ENV.port, "-A", os.path.join(ENV.pki, "ca.crt"),
           "-E", os.path.join(ENV.pki, "gateway.crt"), "-K", os.path.join(ENV.pki, "gateway.key"),
           "-m", "hold", "-p", "/healthz", "-c", str(hold)]
    t0 = time.monotonic()
    holder = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              preexec_fn=nofile_raiser(nofile))
    try:
        ready = select.select([holder.stdout], [], [], HOLD_WAIT_S)[0]
        line = holder.stdout.readline() if ready else "nothing in %d s" % HOLD_WAIT_S
        if not line.startswith("held="):
            holder.kill()
            raise SystemExit("bench: could not hold %d connections: %s" % (hold, line))
        opened = time.monotonic() - t0
        time.sleep(1)
        after = d.rss_kib()
        fds = len(os.listdir("/proc/%d/fd" % d.proc.pid))
    finally:
        holder.stdin.close()
        rest = holder.stdout.read()
        holder.wait(60)
    time.sleep(1)
    released = d.rss_kib()
    d.stop()
    per = (after - before) / hold
    log("memory: RSS %d KiB idle, %d KiB with %d keep-alive TLS connections (%d descriptors"
        " open; opened in %.1f s), %d KiB after they closed; %.1f KiB per connection; %s" % (
            before, after, hold, fds, opened, released, per, rest.strip()))
    row("RSS with %s idle TLS connections" % n_(hold),
        "%.0f MiB (%.0f MiB idle; %.1f KiB per connection)" % (after / 1024, before / 1024, per),
        "target ≤ 1 GiB", "%.2f× target" % (after / TARGET_RSS_KIB),
        yes_no(after <= TARGET_RSS_KIB))


# ---------------------------------------------------------------------- part two

def fill(cases, template, counties=None):
    """tests/volume/fill.sql, FILL_CHUNK cases a transaction."""
    t0 = time.monotonic()
    left = cases
    while left > 0:
        n = min(left, FILL_CHUNK)
        args = [PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "n=%d" % n,
                "-v", "template=" + template, "-f", FILL]
        if counties:
            args[-2:-2] = ["-v", "counties=" + ",".join(counties)]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("bench: fill.sql failed: " + r.stderr[-2000:])
        left -= n
    log("filled %s cases%s in %.0f s: %s" % (
        n_(cases), " in " + ",".join(counties) if counties else "", time.monotonic() - t0,
        r.stdout.strip().splitlines()[-1]))
    keys, took = stats_drain()
    log("the fill's %s statistics keys counted into the rollup in %.0f s, before any"
        " phase measures" % (n_(keys), took))


def stats_drain():
    """Count every key the statistics have queued into their rollup (a
    fill's, which no phase should pay for); how many and the seconds it
    took."""
    t0 = time.monotonic()
    keys = int(psql("select count(*) from hotline.stats_pending"))
    while psql("select more from hotline.stats_refresh(20000)") == "t":
        pass
    return keys, time.monotonic() - t0


def stats_caught_up(limit=120):
    """Wait while the daemon counts what a phase queued for the statistics,
    so that a phase's CPU figures include the statistics of its own work;
    the seconds waited."""
    t0 = time.monotonic()
    while (int(psql("select count(*) from hotline.stats_pending")) > 0
           and time.monotonic() - t0 < limit):
        time.sleep(0.5)
    return time.monotonic() - t0


def running_clocks():
    """How many clocks are running."""
    return int(psql("select count(*) from hotline.clocks where stopped_at is null"
                    " and fired_at is null and set_aside_at is null"))


def log_escalations(daemon, offset):
    """The daemon's escalation passes logged after a byte offset: (epoch
    seconds, clocks) each."""
    out = []
    with open(daemon.log, errors="replace") as f:
        f.seek(offset)
        for line in f:
            m = re.match(r"(\S+)Z level=\w+ event=escalation clocks=(\d+)", line)
            if m:
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
                out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(),
                            int(m.group(2))))
    return out


def due_now(daemon, ids, ahead):
    """Make these clocks fall due `ahead` seconds from now (the daemon told
    by NOTIFY, as a clock start tells it); wait until every one has fired.
    Returns the due time (epoch) and the log offset before."""
    offset = os.path.getsize(daemon.log)
    idlist = "{%s}" % ",".join(ids)
    due = float(psql("begin; update hotline.clocks set due_at = now() + make_interval(secs => %s)"
                     " where id = any ('%s'::bigint[]); notify hotline_clock;"
                     " select extract(epoch from now() + make_interval(secs => %s)); commit;"
                     % (ahead, idlist, ahead)))
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.5)
        done = int(psql("select count(*) from hotline.clocks where id = any ('%s'::bigint[])"
                        " and fired_at is not null" % idlist))
        if done == len(ids):
            return due, offset
    raise SystemExit("bench: %d of %d clocks fired within 300 s\n%s" % (
        done, len(ids), daemon.logtail()))


def quiet():
    """Stop every running clock that would need attention within two hours
    (the template's, those of assignments the bench escalated), so that
    nothing but what a phase sets up falls due while it measures."""
    psql("update hotline.clocks set stopped_at = now() where stopped_at is null"
         " and fired_at is null and set_aside_at is null"
         " and (due_at < now() + interval '2 hours' or (warned_at is null"
         " and warn_at < now() + interval '2 hours'))")


def escalation_burst(daemon):
    """BURST clocks due at once: the timer's lag and the cost of finding and
    firing them."""
    running = running_clocks()
    ids = psql("select id from hotline.clocks where kind = 'first_action' and stopped_at is null"
               " and fired_at is null and set_aside_at is null order by random()"
               " limit %d" % BURST).split()
    load_note("escalation at %d" % running)
    due, offset = due_now(daemon, ids, BURST_AHEAD_S)
    time.sleep(0.5)
    lag = rows("select percentile_cont(array[0.5, 0.99]) within group (order by x), max(x),"
               " min(x) from (select extract(epoch from fired_at - due_at) x from hotline.clocks"
               " where id = any ('{%s}'::bigint[])) s" % ",".join(ids))[0]
    p50, p99 = (float(v) for v in lag[0].strip("{}").split(","))
    worst, first = float(lag[1]), float(lag[2])
    passes = [p for p in log_escalations(daemon, offset) if p[0] >= due - 1]
    last = max(t for t, _ in passes) - due if passes else float("nan")
    handling = last - first
    log("escalation: %d clocks due at once among %s running: lag (fired_at - due_at) p50 %.3f s,"
        " p99 %.3f s, max %.3f s; %d passes; the last committed %.3f s after the due time;"
        " finding and firing took %.3f s (%.2f ms a clock)" % (
            len(ids), n_(running), p50, p99, worst, len(passes), last, handling,
            handling / len(ids) * 1e3))
    return dict(running=running, p50=p50, p99=p99, max=worst, last=last, handling=handling,
                passes=len(passes))


def escalation(template):
    """The burst at CLOCKS_SMALL running clocks, then at CLOCKS_LARGE."""
    results = []
    for target in (CLOCKS_SMALL, CLOCKS_LARGE):
        need = target - running_clocks()
        if need > 0:
            fill(int(need / RUNNING_PER_CASE) + 1, template)
        d = Daemon("escalation-%d" % target, log_level="info").start()
        results.append(escalation_burst(d))
        d.stop()
        quiet()
    small, large = results
    for r in results:
        row("escalation: %s clocks due at once among %s running" % (n_(BURST), n_(r["running"])),
            "lag p50 %.2f s, p99 %.2f s, max %.2f s; all fired %.2f s after due" % (
                r["p50"], r["p99"], r["max"], r["last"]),
            "target every clock within %.0f s of due" % TARGET_LAG_S,
            "%.2f× target" % (r["max"] / TARGET_LAG_S), yes_no(r["max"] <= TARGET_LAG_S))
    row("escalation cost, O(due): %s due among %s vs %s running" % (
        n_(BURST), n_(large["running"]), n_(small["running"])),
        "%.2f s vs %.2f s to find and fire them (%d and %d passes)" % (
            large["handling"], small["handling"], large["passes"], small["passes"]),
        "ratio ~1 if the cost follows the due clocks",
        "%.2f×" % (large["handling"] / small["handling"]) if small["handling"] > 0 else "")


def backlog(template):
    """One county police with BACKLOG live assignments: its queue, its
    procuratorate's overdue list, beside /healthz and /v1/version."""
    police, proc = "police-" + BACKLOG_COUNTY, "procuratorate-" + BACKLOG_COUNTY
    fill(int(BACKLOG / LIVE_PER_CASE), template, [BACKLOG_COUNTY])
    ENV.register([police, proc])
    d = Daemon("backlog", log_level="info").start()
    # A share of the backlog misses its acknowledge deadline (escalated by
    # the daemon), so that the overdue list has something in it.
    ids = psql("select k.id from hotline.clocks k join hotline.assignments a on a.id ="
               " k.assignment_id join hotline.agencies g on g.id = a.agency_id"
               " where g.code = '%s' and k.kind = 'acknowledge' and k.stopped_at is null"
               " and k.fired_at is null order by random() limit %d"
               % (police, int(BACKLOG * OVERDUE_SHARE))).split()
    due_now(d, ids, 0)
    d.stop()
    quiet()
    d = Daemon("reads").start()
    live = int(psql("select count(*) from hotline.assignments a join hotline.agencies g"
                    " on g.id = a.agency_id where g.code = '%s' and a.state in ('open',"
                    " 'acknowledged', 'accepted', 'case_opened', 'prosecution')" % police))
    load_note("backlog")
    reads = {}
    for name, who, path, n in (("healthz", police, "/healthz", READS_N),
                               ("version", police, "/v1/version", READS_N),
                               ("queue", police, "/v1/queue?limit=50", READS_N),
                               ("overdue", proc, "/v1/supervision/overdue", READS_N // 4)):
        r = bench(["-m", "get", "-p", path, "-c", 1, "-n", n, "-T", READS_S], idents=(who,),
                  check=False)
        if not r.get("requests"):
            raise SystemExit("bench: GET %s was not answered:\n%s" % (path, r["text"]))
        reads[name] = r
        log("GET %s as %s, one connection: %s" % (path, who, " ".join(r["text"].split())))
    d.stop()
    overdue = int(psql("select count(*) from hotline.assignments a join hotline.cases c"
                       " on c.id = a.case_id where c.region_code = '%s' and (a.escalation_level"
                       " > 0 or exists (select 1 from hotline.clocks k where k.assignment_id"
                       " = a.id and k.fired_at is not null))" % BACKLOG_COUNTY))
    q, o, v, h = reads["queue"], reads["overdue"], reads["version"], reads["healthz"]
    row("GET /v1/queue?limit=50, %s live assignments" % n_(live),
        "median %s, p99 %s (%s)" % (ms(q["latency_ms.p50"]), ms(q["latency_ms.p99"]),
                                    answered(q)),
        "target ≤ %.0f ms; floor: GET /v1/version median %s, /healthz %s" % (
            TARGET_QUEUE_MS, ms(v["latency_ms.p50"]), ms(h["latency_ms.p50"])),
        "%.2f× target, %.0f× /v1/version" % (q["latency_ms.p50"] / TARGET_QUEUE_MS,
                                              q["latency_ms.p50"] / v["latency_ms.p50"]),
        yes_no(q["latency_ms.p50"] <= TARGET_QUEUE_MS and not q["failed"]))
    row("GET /v1/supervision/overdue, that county's %s overdue or escalated" % n_(overdue),
        "median %s, p99 %s%s (%s)" % (
            ms(o["latency_ms.p50"]), ms(o["latency_ms.p99"]),
            "; %.0f KiB" % (o["bytes_per_response"] / 1024) if not o["failed"] else "",
            answered(o)),
        "floor: GET /v1/version median %s" % ms(v["latency_ms.p50"]),
        "%.0f× /v1/version" % (o["latency_ms.p50"] / v["latency_ms.p50"]))


def answered(r):
    """How a run's requests were answered, as text."""
    bad = ", ".join("%d × %s" % (n, k.split(".")[1]) for k, n in sorted(r.items())
                    if k.startswith("status."))
    if not r["failed"]:
        return "%d requests" % r["requests"]
    return "%d of %d requests refused: %s" % (r["failed"], r["requests"], bad)


def ack_floor():
    """pgbench's minimal claim and acknowledgement, one client per agency;
    pairs/s and their CPU."""
    psql("drop database if exists bench_ackfloor", "postgres")
    psql("create database bench_ackfloor", "postgres")
    psql(open(os.path.join(HERE, "ack-floor-schema.sql")).read(), "bench_ackfloor")
    psql("insert into floor_work (case_id, agency_id, risk_level, next_due)"
         " select g, 1 + g %% %d, 1 + (g / %d) %% 4, now() + (g %% 997) * interval '1 minute'"
         " from generate_series(1, %d) g;"
         " insert into floor_work_events (case_id, seq, kind, data)"
         " select g, 1, 'created', '{\"source\": \"report\"}' from generate_series(1, %d) g;"
         " vacuum analyze; checkpoint;" % (AGENCIES, AGENCIES, AGENCIES * ACK_FLOOR_WORK,
                                          AGENCIES * ACK_FLOOR_WORK), "bench_ackfloor")
    r = pgbench("ack-floor.sql", "bench_ackfloor", AGENCIES, ACK_S, "ack floor",
                "claims and acknowledgements")
    psql("drop database bench_ackfloor", "postgres")
    return r


def agencies(template):
    """AGENCIES agencies claiming and acknowledging in parallel, after the
    floor of the same work in pgbench."""
    floor_rate, floor_cpu = ack_floor()
    counties = [str(330151 + i) for i in range(AGENCIES)]
    fill(AGENCIES * AGENCY_CASES, template, counties)
    names = ["police-" + c for c in counties]
    ENV.register(names)
    opened = int(psql("select min(n) from (select count(*) n from hotline.assignments a"
                      " join hotline.agencies g on g.id = a.agency_id where g.code in (%s)"
                      " and a.state = 'open' group by g.code) x"
                      % ",".join("'%s'" % n for n in names)))
    d = Daemon("agencies").start()
    load_note("agencies")
    with Cpu(d) as cpu:
        r = bench(["-m", "ack", "-c", AGENCIES, "-T", ACK_S], idents=names)
        counted = stats_caught_up()
    d.stop()
    log("agencies: the statistics of these acknowledgements were counted %.0f s after the run"
        " ended; the CPU figures include them" % counted)
    log("agencies: %d in parallel, claim (GET /v1/queue?state=open&limit=1) and acknowledge,"
        " %d s, at least %d open assignments each: %s" % (AGENCIES, ACK_S, opened,
                                                          " ".join(r["text"].split())))
    if r["acks"] > 0:
        log("agencies: " + cpu.summary(r["acks"], "acknowledgement"))
    row("claim + acknowledge, %d agencies in parallel (≥ %s open each)" % (AGENCIES, n_(opened)),
        "%s acks/s (queue p50 %s, ack p50 %s)" % (n_(r["acks_per_s"]), ms(r["queue_ms.p50"]),
                                                 ms(r["ack_ms.p50"])),
        "target ≥ %s acks/s; floor %s pairs/s (pgbench, %d clients)" % (
            n_(TARGET_ACKS), n_(floor_rate), AGENCIES),
        "%.3f× target, %.2f× floor" % (r["acks_per_s"] / TARGET_ACKS, r["acks_per_s"] / floor_rate),
        yes_no(r["acks_per_s"] >= TARGET_ACKS))
    if r["acks"] > 0:
        row("database CPU per claim + acknowledgement", ms(cpu.db / r["acks"] * 1e3),
            "the floor's %.2f ms per pair" % floor_cpu,
            "%.1f× floor" % (cpu.db / r["acks"] * 1e3 / floor_cpu))
        # As for intake: the most this machine could serve if a pair cost
        # the database no more than the floor's.
        rest = (cpu.daemon_s + cpu.loadgen) / r["acks"] * 1e3
        ceiling = os.cpu_count() / (floor_cpu + rest) * 1e3
        row("ceiling: claim + acknowledge if a pair cost the database only the floor's",
            "%s pairs/s" % n_(ceiling),
            "%d cores / (the floor's %.2f ms + daemon and load generator %.2f ms)" % (
                os.cpu_count(), floor_cpu, rest),
            "%.2f× target" % (ceiling / TARGET_ACKS))


def file_template():
    """One report filed through the daemon: fill.sql copies its sealed
    values."""
    d = Daemon("template").start()
    bench(["-c", 1, "-n", 1, "-b", REPORT, "-p", "/v1/reports"])
    d.stop()
    quiet()
    return psql("select case_number from hotline.cases order by id desc limit 1")


# ------------------------------------------------------------------------ the run

def machine():
    """The machine, for the table's caption."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    pg = psql("show server_version")
    return "%d cores (%s), %.0f GiB, PostgreSQL %s" % (os.cpu_count(), model, mem, pg)


def summary(started_at):
    """The table, the machine and its load."""
    print()
    print("make bench%s, %s UTC, %.0f min" % (
        " (BENCH_QUICK=1)" if QUICK else "", started_at, (time.monotonic() - STARTED) / 60))
    print("machine: " + machine())
    print("load average (1, 5, 15 min) as each phase began: " + "; ".join(
        "%s %s" % (p, l) for p, l in LOADS))
    for note in NOTES:
        print(note)
    print()
    print("| figure | value | floor / target | ratio | met |")
    print("|---|---|---|---|---|")
    for r in ROWS:
        print("| %s |" % " | ".join(r))


def main():
    global ENV
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    for f in (HOTLINED, BENCH, CTL):
        if not os.access(f, os.X_OK):
            raise SystemExit("bench: %s is missing: run make" % f)
    unknown = [p for p in PHASES if p not in PART_ONE + PART_TWO]
    if unknown:
        raise SystemExit("bench: BENCH_PHASES: no phase %s (phases: %s)" % (
            ", ".join(unknown), " ".join(PART_ONE + PART_TWO)))
    if ("open" in PHASES or "sweep" in PHASES) and "intake" not in PHASES:
        PHASES.append("intake")     # their rate is the closed loop's
    ENV = Env()
    log("setting up in %s%s; phases: %s" % (ENV.dir, " (BENCH_QUICK=1)" if QUICK else "",
                                           " ".join(p for p in PART_ONE + PART_TWO
                                                    if p in PHASES)))
    load_note("start")
    try:
        ENV.setup()
        ENV.configure_pg()
        if any(p in PHASES for p in PART_ONE):
            fill(INTAKE_BASE, file_template())
            rate = intake() if "intake" in PHASES else None
            if "profile" in PHASES:
                profile()
            if "open" in PHASES:
                open_loop(rate)
            if "sweep" in PHASES:
                sweep(rate)
            if "stats" in PHASES:
                stats_beside_intake()
            if "memory" in PHASES:
                memory()
        if any(p in PHASES for p in PART_TWO):
            if any(p in PHASES for p in PART_ONE):
                log("part two: a fresh database")
                psql("drop database hotline", "postgres")
                ENV.setup()
            template = file_template()
            for name, phase in (("escalation", escalation), ("backlog", backlog),
                                ("agencies", agencies)):
                if name in PHASES:
                    phase(template)
        load_note("end")
        summary(started_at)
    finally:
        ENV.cleanup()


if __name__ == "__main__":
    main()
