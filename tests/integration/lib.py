"""The one library of the integration tests: real daemons, real TLS, a real
PostgreSQL.  Python 3 standard library only.

- the environment (setup) and the TAP counter (check);
- the database: psql, scalar, row counts, a case's history, table locks,
  short deadlines, stopping and starting it;
- the contract's examples and the request bodies built from them;
- certificates made by the tests;
- Daemon: the binary on its own port, configuration and log; hotlinectl;
- Client and raw TLS: HTTPS with a client certificate, exact bytes;
- filing and reading: the one way to file a report (file_report) or log a
  call (log_call), and reading cases, queues and assignments.

Every request body a Client or curl sends is remembered (remember_sent), so
that the logs can be searched for each personal value sent.
"""

import atexit
import glob
import hashlib
import http.client
import json
import os
import random
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

VAR = None          # the environment directory made by daemon/dev/setup.sh
ENV = {}            # its env.sh variables
BINARY = None
SANITIZERS = False
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "proto", "examples")
CTL = os.path.join(ROOT, "build", "hotlinectl")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
daemons = []        # every daemon started, for the sanitizer and log checks

CASE_NUMBER = re.compile(r"^(\d{4})-(\d{6})-(\d{8,18})$")
RECEIPT = re.compile(r"^R[A-Z2-7]{20}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
SHANGHAI = timezone(timedelta(hours=8))


def setup(var, binary, sanitizers):
    """Point the library at an environment made by daemon/dev/setup.sh."""
    global VAR, BINARY, SANITIZERS
    VAR, BINARY, SANITIZERS = os.path.abspath(var), os.path.abspath(binary), sanitizers
    with open(os.path.join(var, "env.sh")) as f:
        for line in f:
            if line.startswith("export "):
                k, v = line[7:].strip().split("=", 1)
                ENV[k] = v
    os.environ.update(ENV)


# ---------------------------------------------------------------- TAP

RESULTS = {"passed": 0, "failed": 0}


def check(cond, name, detail=""):
    """Print one TAP line for a condition (with the detail if it failed); returns it."""
    if cond:
        RESULTS["passed"] += 1
        print("ok - " + name)
    else:
        RESULTS["failed"] += 1
        print("not ok - " + name)
        for line in str(detail).splitlines()[:20]:
            print("#   " + line[:2000])
    sys.stdout.flush()
    return cond


def test(fn=None, limit=None):
    """Mark a function as a test; the runner passes it the fixtures its parameters name.
    @test(limit=S) gives it S seconds instead of the runner's default."""
    def mark(f):
        f.integration_test = True
        f.integration_limit = limit
        return f
    return mark(fn) if fn is not None else mark


# ---------------------------------------------------------------- small things

def free_port():
    """A TCP port free on 127.0.0.1 at the moment."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, interval=0.1):
    """Poll pred until it returns something true or the time is up."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def in_background(fn, *args):
    """Run fn(*args) in a thread; returns (thread, result list [value or exception])."""
    result = [None]

    def run():
        try:
            result[0] = fn(*args)
        except Exception as e:      # reported by the test that reads the result
            result[0] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def new_key():
    """A fresh Idempotency-Key."""
    return "it-" + uuid.uuid4().hex


def error_code(body):
    """The error code of an error body, or None."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def is_error(st, body, status, code):
    """True if a response has this status and error code."""
    return st == status and error_code(body) == code


def instant(ts):
    """An RFC 3339 timestamp as an aware datetime."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def rfc3339(dt):
    """An aware datetime as RFC 3339, to the second."""
    return dt.isoformat(timespec="seconds")


# ---------------------------------------------------------------- the database

def _psql_binary():
    """The psql binary itself: Debian's /usr/bin/psql is a Perl wrapper that
    costs ~0.2 s a call."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return found[-1] if found else "psql"


PSQL = _psql_binary()


def psql(sql, *args):
    """Run SQL as the superuser; returns rows as lists of strings.

    Arguments are bound as psql variables a0, a1, ... (use :'a0' in SQL)."""
    cmd = [PSQL, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args):
        cmd += ["-v", "a%d=%s" % (i, a)]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise AssertionError("psql failed: " + out.stderr.strip())
    return [line.split("\t") for line in out.stdout.splitlines() if line != ""]


def scalar(sql, *args):
    """The first column of the first row of psql(sql, *args), or None."""
    rows = psql(sql, *args)
    return rows[0][0] if rows else None


def counts():
    """Row counts of every table an intake submission writes."""
    row = psql("select (select count(*) from hotline.calls), (select count(*) from hotline.cases),"
               " (select count(*) from hotline.reports), (select count(*) from hotline.children),"
               " (select count(*) from hotline.case_events where kind = 'created'),"
               " (select count(*) from hotline.idempotency)")[0]
    return tuple(int(x) for x in row)


def case_count(number):
    """How many cases carry this number (as a string)."""
    return scalar("select count(*) from hotline.cases where case_number = :'a0'", number)


def not_stored_once(numbers):
    """The case numbers among these that are not in the database exactly once."""
    numbers = [n or "none" for n in numbers]
    if not numbers:
        return []
    return [r[0] for r in psql("select n from unnest(string_to_array(:'a0', ',')) n where"
                               " (select count(*) from hotline.cases c where c.case_number = n)"
                               " <> 1", ",".join(numbers))]


def keyed_cases(client, k):
    """How many cases the idempotency record of (client, key) points at."""
    return scalar("select count(*) from hotline.idempotency i join hotline.clients k on"
                  " k.id = i.client_id join hotline.cases c on c.case_number ="
                  " i.response->>'case_number' where k.name = :'a0' and i.key = :'a1'", client, k)


def access_log_count(number):
    """Rows of the access log for a case."""
    return int(scalar("select count(*) from hotline.access_log l join hotline.cases c"
                      " on c.id = l.case_id where c.case_number = :'a0'", number))


def history(number):
    """A case's history events as dicts (seq, kind, clock, agency, assignment, at)."""
    return [dict(zip(("seq", "kind", "clock", "agency", "assignment", "at"), r)) for r in psql(
        "select e.seq, e.kind, coalesce(e.data->>'clock', ''), coalesce(e.data->>'agency', ''),"
        " coalesce(e.data->>'assignment', ''), extract(epoch from e.at) from hotline.case_events e"
        " join hotline.cases c on c.id = e.case_id where c.case_number = :'a0' order by e.seq", number)]


class TableLock:
    """Holds an exclusive lock on a table from a psql session for some seconds,
    so that submissions wait for the database."""

    def __init__(self, seconds, table="hotline.cases", mode="exclusive"):
        self.seconds, self.table, self.mode = seconds, table, mode

    def __enter__(self):
        self.proc = subprocess.Popen(
            [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("begin; lock table %s in %s mode; select pg_sleep(%s); commit;\n"
                              % (self.table, self.mode, self.seconds))
        self.proc.stdin.close()
        rel = self.table.split(".")[-1]
        held = "".join(w.capitalize() for w in self.mode.split()) + "Lock"
        if not wait_until(lambda: scalar(
                "select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
                " where c.relname = :'a0' and l.mode = :'a1' and l.granted", rel, held) == "1",
                10):
            raise AssertionError("could not lock " + self.table)
        return self

    def release(self):
        """Wait for the lock holder to finish (it commits after its sleep)."""
        if self.proc.poll() is None:
            self.proc.wait(self.seconds + 30)

    def __exit__(self, *exc):
        self.release()


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


def _daemon_db_ports(daemon):
    """The local TCP ports of a daemon's connections to PostgreSQL (ss)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True,
                         text=True, timeout=10).stdout
    return [line.split()[2].rsplit(":", 1)[1] for line in out.splitlines()
            if "pid=%d," % daemon.proc.pid in line
            and line.split()[3].rsplit(":", 1)[1] == ENV["PGPORT"]]


def backend_pids(daemon, which="pool"):
    """The PostgreSQL backends serving a daemon's pool connections (which="pool") or its
    LISTEN connection ("listen"), found by the daemon's own TCP connections."""
    ports = _daemon_db_ports(daemon)
    if not ports:
        return []
    return [int(r[0]) for r in psql(
        "select pid from pg_stat_activity where client_port = any (string_to_array(:'a0', ',')"
        "::int[]) and (query like 'LISTEN %') = :'a1'::boolean order by pid",
        ",".join(ports), "true" if which == "listen" else "false")]


def reset_pool_connections(daemon):
    """Abort the server side of a daemon's pool connections (ss -K): the daemon's end gets
    a reset, with no goodbye and without crashing PostgreSQL; how many were reset."""
    ports = [r[0] for r in psql(
        "select client_port from pg_stat_activity where client_port = any"
        " (string_to_array(:'a0', ',')::int[]) and query not like 'LISTEN %'",
        ",".join(_daemon_db_ports(daemon)) or "0")]
    for p in ports:
        subprocess.run(["ss", "-K", "sport", "=", ":" + ENV["PGPORT"], "dport", "=", ":" + p],
                       capture_output=True, timeout=10)
    return len(ports)


def database_up():
    """True once PostgreSQL answers again (after a crash it restarts by itself)."""
    try:
        return scalar("select 1") == "1"
    except (AssertionError, subprocess.TimeoutExpired):
        return False


# Reports whose reported_at is one of these fail, or sleep, inside the database
# (FailingSubmissions); any other report is untouched.
FAIL_AT = "2026-11-01T09:05:07.777+08:00"
SLOW_AT = "2026-11-01T09:05:08.888+08:00"


class FailingSubmissions:
    """A test-only trigger on hotline.reports, for the block: a report filed with
    reported_at FAIL_AT raises inside the database (so its batch is rolled back), one
    with SLOW_AT sleeps `sleep` seconds first."""

    def __init__(self, sleep=3):
        self.sleep = sleep

    def __enter__(self):
        psql("create or replace function public.hotline_test_marked() returns trigger"
             " language plpgsql as $$ begin"
             " if new.reported_at = timestamptz '%s' then"
             "  raise exception 'a submission marked to fail' using errcode = 'P0001'; end if;"
             " if new.reported_at = timestamptz '%s' then perform pg_sleep(%s); end if;"
             " return new; end $$;"
             " drop trigger if exists hotline_test_marked on hotline.reports;"
             " create trigger hotline_test_marked before insert on hotline.reports"
             " for each row execute function public.hotline_test_marked()"
             % (FAIL_AT, SLOW_AT, float(self.sleep)))
        return self

    def __exit__(self, *exc):
        psql("drop trigger if exists hotline_test_marked on hotline.reports;"
             " drop function if exists public.hotline_test_marked()")


def report_at(reported_at, body="reports.self-harm.valid.json"):
    """A report (an example's name or a dict) with personal data of its own, reported at
    reported_at (FAIL_AT, SLOW_AT or a normal time)."""
    b = personal_report() if body is None else (example_json(body) if isinstance(body, str)
                                                else dict(body))
    b["reported_at"] = reported_at
    return b


def raw_post_request(path, body, k, cert_headers=b""):
    """The bytes of a POST with a JSON body under Idempotency-Key k."""
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False).encode()
    remember_sent(body)
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nIdempotency-Key: " + k.encode() + b"\r\nContent-Length: %d\r\n" % len(body)
            + cert_headers + b"\r\n" + body)


def pg_ctl(action):
    """Start or stop the environment's PostgreSQL (daemon/dev/pg.sh)."""
    cmd = ["bash", os.path.join(ROOT, "daemon/dev/pg.sh"), action, os.path.join(VAR, "pg")]
    if action == "start":
        cmd.append(ENV["PGPORT"])
    subprocess.run(cmd, check=True, timeout=90, capture_output=True)


def pg_stop():
    """Stop the environment's PostgreSQL."""
    pg_ctl("stop")


def pg_start():
    """Start the environment's PostgreSQL again."""
    pg_ctl("start")


# ---------------------------------------------------------------- the contract's examples

def example(name):
    """The bytes of proto/examples/<name>."""
    with open(os.path.join(EXAMPLES, name), "rb") as f:
        return f.read()


def example_json(name):
    """proto/examples/<name>, parsed."""
    return json.loads(example(name))


def example_names(suffix=".json"):
    """The names of the examples ending in suffix, expected.json aside."""
    return sorted(n for n in os.listdir(EXAMPLES) if n.endswith(suffix) and n != "expected.json")


def expected_errors():
    """proto/examples/expected.json: what each invalid example gets."""
    with open(os.path.join(EXAMPLES, "expected.json")) as f:
        return json.load(f)


def id_number(birth="20150312", region="320102"):
    """A valid resident ID number (ISO 7064 MOD 11-2) with a random sequence."""
    body = region + birth + "%03d" % random.randint(0, 999)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


def personal_report(region="320102", child=None):
    """A mandatory report (sexual abuse at a school) whose personal data is
    unique to it: reporter, institution, child, narrative and actions."""
    tag = uuid.uuid4().hex[:8]
    body = example_json("reports.sexual-abuse.valid.json")
    body["reporter"] = {"name": "报告人" + tag, "phone": "139" + str(int(tag, 16) % 10 ** 8).zfill(8),
                        "id_number": id_number("19800101", "110105"), "profession": "teacher"}
    body["institution"]["name"] = "学校" + tag
    body["child"] = child or {"name": "儿童" + tag, "gender": "female", "age": 9,
                              "birth_date": "2017-05-06", "id_number": id_number("20170506"),
                              "school": "学校" + tag, "address": "地址" + tag + "号",
                              "region_code": region}
    body["narrative"] = "（测试）叙述" + tag + "，学生透露被侵害。"
    body["actions_taken"] = "（测试）措施" + tag
    return body


PERSONAL_FIELDS = {"name", "phone", "caller_phone", "id_number", "school", "address", "narrative",
                   "summary", "actions_taken", "birth_date", "text", "reason"}


def personal_values(body):
    """Every personal value (names, phones, ID numbers, free texts) in a body."""
    found = set()
    if isinstance(body, dict):
        for k, v in body.items():
            if k in PERSONAL_FIELDS and isinstance(v, str) and len(v.strip()) >= 6:
                found.add(v)
            found |= personal_values(v)
    elif isinstance(body, list):
        for v in body:
            found |= personal_values(v)
    return found


_sent = set()       # every request body sent (bytes)
_sent_lock = threading.Lock()


def remember_sent(data):
    """Remember a request body for the search of the logs."""
    with _sent_lock:
        _sent.add(bytes(data))


def personal_data_sent():
    """Every name, phone, ID number and free text in the examples and in the
    bodies sent so far."""
    values = set()
    with _sent_lock:
        bodies = list(_sent)
    for data in [example(n) for n in example_names()] + bodies:
        try:
            values |= personal_values(json.loads(data))
        except ValueError:
            pass
    return values


# ---------------------------------------------------------------- certificates

def pki(name):
    """Path of a file of the environment's PKI, or of a certificate made by the tests."""
    p = os.path.join(ENV["HOTLINED_PKI"], name)
    if os.path.exists(p) or not os.path.exists(os.path.join(VAR, "test-pki", name)):
        return p
    return os.path.join(VAR, "test-pki", name)


def fingerprint(cert_path):
    """SHA-256 of the certificate's DER, as hotlined keys clients."""
    with open(cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def openssl(*args):
    """Run the openssl command; raises if it fails."""
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=30)


def make_client_cert(name):
    """A new client certificate signed by the deployment CA (not registered)."""
    d = os.path.join(VAR, "test-pki")
    os.makedirs(d, exist_ok=True)
    key, csr, crt, ext = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt", ".ext"))
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=clientAuth\n")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl("req", "-new", "-key", key, "-subj", "/O=hotlined tests/CN=" + name, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", pki("ca.crt"), "-CAkey", pki("ca.key"),
            "-CAcreateserial", "-CAserial", os.path.join(d, "ca.srl"), "-sha256", "-days", "30",
            "-extfile", ext, "-out", crt)
    return name


def make_expired_client_cert(name):
    """A client certificate signed by the deployment CA that expired in 2021 (not registered)."""
    d = os.path.join(VAR, "test-pki")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, name + ".cnf")
    base = os.path.join(d, name)
    with open(conf, "w") as f:
        f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s.idx\nnew_certs_dir=%s\nserial=%s.srl\n"
                "default_md=sha256\npolicy=p\ncopy_extensions=none\nx509_extensions=e\n"
                "[p]\ncommonName=supplied\n[e]\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=clientAuth\n" % (base, d, base))
    open(base + ".idx", "w").close()
    with open(base + ".srl", "w") as f:
        f.write("1000\n")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", base + ".key")
    openssl("req", "-new", "-key", base + ".key", "-subj", "/CN=" + name, "-out", base + ".csr")
    openssl("ca", "-batch", "-config", conf, "-cert", pki("ca.crt"), "-keyfile",
            pki("ca.key"), "-startdate", "20200101000000Z", "-enddate",
            "20210101000000Z", "-in", base + ".csr", "-out", base + ".crt", "-notext")
    return name


def register_client(name, role, centre="320100"):
    """Register (or re-activate) a certificate made by make_client_cert; an
    operator as a seat of a centre (the demo's Nanjing centre by default)."""
    if role == "operator":
        psql("select hotline.client_upsert_seat(:'a0', :'a1', :'a2')", name, centre,
             fingerprint(pki(name + ".crt")))
    else:
        psql("select hotline.client_upsert(:'a0', :'a1', null, :'a2')", name, role,
             fingerprint(pki(name + ".crt")))


def new_server_cert(dest, cn):
    """Issue a server certificate for localhost/127.0.0.1 from the deployment CA."""
    ext = dest + ".ext"
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", dest + ".key")
    openssl("req", "-new", "-key", dest + ".key", "-subj", "/CN=" + cn, "-out", dest + ".csr")
    openssl("x509", "-req", "-in", dest + ".csr", "-CA", pki("ca.crt"), "-CAkey",
            pki("ca.key"), "-CAcreateserial", "-CAserial", dest + ".srl", "-days", "2",
            "-sha256", "-extfile", ext, "-out", dest + ".crt")


# ---------------------------------------------------------------- daemons and tools

def base_settings():
    """The environment's hotlined.conf as a dict."""
    settings = {}
    with open(os.path.join(VAR, "hotlined.conf")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                settings[k.strip()] = v.strip()
    return settings


class Daemon:
    """A hotlined process on its own port (and its metrics on another), with its
    own configuration file and log (stderr) in VAR."""

    def __init__(self, name="hotlined", **overrides):
        self.name = name
        self.port = free_port()
        self.metrics_port = free_port()
        self.conf = os.path.join(VAR, "test-%s-%d.conf" % (name, self.port))
        self.logpath = os.path.join(VAR, "test-%s-%d.log" % (name, self.port))
        settings = base_settings()
        settings["listen"] = "127.0.0.1:%d" % self.port
        if "metrics_listen" in settings:    # not in an older release's configuration
            settings["metrics_listen"] = "127.0.0.1:%d" % self.metrics_port
        settings.update({k: str(v) for k, v in overrides.items()})
        with open(self.conf, "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        self.proc = None
        daemons.append(self)

    def __repr__(self):
        return "hotlined %s (port %d)" % (self.name, self.port)

    def start(self, wait_ready=True, max_files=None, env=None):
        """Start and wait for /healthz (and /readyz); max_files (soft, hard) limits its
        descriptors, env adds to its environment."""
        def limit():
            if max_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, max_files)
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen([BINARY, "-d", "-f", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True,
                                         preexec_fn=limit, env=dict(os.environ, **(env or {})))
        if not wait_until(self._healthy, 20, 0.05):
            raise AssertionError("%r did not answer /healthz; log:\n%s" % (self, self.logtail()))
        if wait_ready and not wait_until(self._ready, 20, 0.1):
            raise AssertionError("%r not ready; log:\n%s" % (self, self.logtail()))
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("%r exited with %s:\n%s" % (self, self.proc.returncode,
                                                             self.logtail()))
        try:
            return Client(self, None, timeout=2).get("/healthz")[0] == 200
        except OSError:
            return False

    def _ready(self):
        try:
            return Client(self, None, timeout=5).get("/readyz")[0] == 200
        except OSError:
            return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def metrics(self):
        """(status, headers with lower-case names, text) of GET /metrics."""
        return http_get("127.0.0.1", self.metrics_port, "/metrics")

    def metric(self, name, **labels):
        """The value of one sample of GET /metrics (labels must match exactly), or
        None if there is no such sample."""
        return metric_value(self.metrics()[2], name, **labels)

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def logtext(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def logtail(self, n=15):
        return "\n".join(self.logtext().splitlines()[-n:])

    def sanitizer_reports(self):
        return [line for line in self.logtext().splitlines()
                if any(m in line for m in SANITIZER_MARKS)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def http_get(host, port, path, method="GET", timeout=10):
    """A plain HTTP request: (status, headers with lower-case names, text)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def metric_value(text, name, **labels):
    """The value of the sample of a Prometheus exposition with this name and
    exactly these labels, or None."""
    want = ",".join(sorted('%s="%s"' % kv for kv in labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        sname, _, rest = series.partition("{")
        if sname != name:
            continue
        got = ",".join(sorted(p for p in re.findall(r'\w+="[^"]*"', rest)))
        if got == want:
            return float(value)
    return None


def write_conf(name, **overrides):
    """A configuration file in VAR: the environment's with some settings changed; its path."""
    settings = base_settings()
    settings.update({k: str(v) for k, v in overrides.items()})
    path = os.path.join(VAR, "test-%s.conf" % name)
    with open(path, "w") as f:
        for k, v in settings.items():
            f.write("%s = %s\n" % (k, v))
    return path


def stop_cleanly(d):
    """Stop a daemon and check that it exits 0."""
    code = d.stop()
    check(code == 0, "%r stops with exit status 0 on SIGTERM" % d, "status %s\n%s" % (
        code, d.logtail()))


@atexit.register
def kill_leftovers():
    """Kill every daemon still running (a test that gave up, an aborted run)."""
    for d in daemons:
        if d.running():
            d.proc.kill()
            d.proc.wait()


def hotlinectl(*args, conf=None):
    """Run the administrator's tool against the test database (with the environment's
    hotlined.conf, or conf); (exit, stdout+stderr)."""
    env = dict(os.environ)
    env["HOTLINED_CONF"] = conf or os.path.join(VAR, "hotlined.conf")
    out = subprocess.run([CTL] + list(args), capture_output=True, text=True, timeout=120, env=env)
    return out.returncode, out.stdout + out.stderr


# ---------------------------------------------------------------- clients

def tls_context(cert):
    """A client TLS context trusting the deployment CA, with a client
    certificate by name (None: no certificate)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki("ca.crt"))
    if cert is not None:
        ctx.load_cert_chain(pki(cert + ".crt"), pki(cert + ".key"))
    return ctx


def tls_connect(port, cert="gateway", timeout=10):
    """A TLS socket to the daemon, handshake done."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return tls_context(cert).wrap_socket(s, server_hostname="localhost")
    except Exception:
        s.close()
        raise


class Client:
    """An HTTPS client with a named client certificate (or none) and one
    keep-alive connection."""

    def __init__(self, daemon, cert="console", timeout=15):
        self.port = daemon.port if isinstance(daemon, Daemon) else daemon
        self.cert = cert
        self.ctx = tls_context(cert)
        self.timeout = timeout
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                    timeout=self.timeout)
        return self.conn

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers with lower-case names, parsed JSON or raw bytes)."""
        h = {}
        if body is not None:
            h["Content-Type"] = "application/json"
            if isinstance(body, (dict, list)):
                body = json.dumps(body, ensure_ascii=False).encode()
            elif isinstance(body, str):
                body = body.encode()
            remember_sent(body)
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}     # None: leave the header out
        c = self._conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, key=None, headers=None):
        h = dict(headers or {})
        if key is not None:
            h["Idempotency-Key"] = key
        return self.request("POST", path, body=body, headers=h)

    def raw(self, data, timeout=5):
        """Send exact bytes on a new TLS connection; what comes back."""
        return raw_tls(self.port, data, self.cert, timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _response_complete(out):
    """True once out holds a whole response with a Content-Length."""
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
    return False


def raw_tls(port, data, cert="console", timeout=5):
    """Send raw bytes over TLS; return what comes back before the daemon closes
    the connection, one complete response arrives, or the time is up."""
    try:
        t = tls_connect(port, cert, timeout)
    except (ssl.SSLError, OSError):
        return b""
    out = b""
    try:
        t.sendall(data)
        while not _response_complete(out):
            chunk = t.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    finally:
        t.close()
    return out


def status_of(raw):
    """The status code of a raw HTTP response, or None."""
    if not raw.startswith(b"HTTP/1."):
        return None
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def responses(raw):
    """Split raw bytes into (status, body) of each complete HTTP response."""
    out = []
    while raw.startswith(b"HTTP/1."):
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            break
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if len(rest) < length:
            break
        out.append((status_of(head), rest[:length]))
        raw = rest[length:]
    return out


def read_responses(sock, n, seconds=5):
    """Read from a socket until n complete responses arrived (or the time is up)."""
    raw = b""
    sock.settimeout(0.5)
    end = time.monotonic() + seconds
    while len(responses(raw)) < n and time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except OSError:
            break
        if not chunk:
            break
        raw += chunk
    return responses(raw)


def closed_within(sock, seconds):
    """True if the peer closes the connection within the time (data read
    meanwhile is discarded)."""
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


# ---------------------------------------------------------------- filing and reading

def _body(body):
    """A request body: an example's name, or a dict / bytes as given."""
    if isinstance(body, str) and body.endswith(".json"):
        return example(body)
    return body


def submit(daemon, client, endpoint, body):
    """POST a report or a call under a fresh key; the 201 body (asserts 201)."""
    st, h, b = Client(daemon, client).post("/v1/" + endpoint, _body(body), new_key())
    assert st == 201, (endpoint, client, st, b)
    return b


def file_report(daemon, body="reports.self-harm.valid.json", client="gateway"):
    """File a mandatory report (an example's name, a dict or bytes); the 201 body."""
    return submit(daemon, client, "reports", body)


def log_call(daemon, body="calls.case-opened.valid.json", client="console"):
    """Log a call (an example's name, a dict or bytes); the 201 body."""
    return submit(daemon, client, "calls", body)


def post_in_background(daemon, cert, path, body, k, timeout=20):
    """POST from a thread; returns (thread, result list)."""
    return in_background(lambda: Client(daemon, cert, timeout).post(path, _body(body), k))


def attempt(daemon, cert, method="GET", path="/v1/cases/2026-320102-00000001", body=None):
    """A request that the daemon may refuse at the TLS handshake: the response,
    or ("refused", reason, None).  A POST goes under a fresh key."""
    try:
        c = Client(daemon, cert, timeout=5)
        if method == "GET":
            return c.get(path)
        return c.post(path, _body(body), new_key())
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return ("refused", str(e), None)


def curl(daemon, cert, path, data_file, *extra):
    """POST a file with curl under a fresh key; (HTTP code, body, stderr)."""
    with open(data_file, "rb") as f:
        remember_sent(f.read())
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", pki("ca.crt"),
         "--cert", pki(cert + ".crt"), "--key", pki(cert + ".key"),
         "-H", "Content-Type: application/json", "-H", "Idempotency-Key: " + new_key(),
         "--data-binary", "@" + data_file, "-w", "\n%{http_code}"] + list(extra)
        + ["https://127.0.0.1:%d%s" % (daemon.port, path)],
        capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    return code, body, out.stderr


def view(daemon, who, number):
    """GET a case as a client: (status, headers, body)."""
    return Client(daemon, who).get("/v1/cases/" + number)


def queue(daemon, agency, query=""):
    """An agency's queue (asserts 200)."""
    st, h, b = Client(daemon, agency).get("/v1/queue" + query)
    assert st == 200, (st, b)
    return b["assignments"]


def assignment_of(daemon, agency, number):
    """The agency's live assignment on a case, as the agency sees it (None if it has none)."""
    st, h, v = view(daemon, agency, number)
    if st != 200:
        return None
    mine = [a for a in v["assignments"] if a["agency"] == agency and a["state"] != "transferred"]
    return mine[0] if mine else None
