"""Test harness for hotlined: real daemons, real TLS, a real PostgreSQL.

Daemon starts the binary on its own port with a configuration derived from
the environment's hotlined.conf; Client speaks HTTPS with a client
certificate; psql() queries the database as its superuser; the example
helpers load proto/examples.  Python 3 standard library only.
"""

import atexit
import glob
import hashlib
import http.client
import json
import os
import resource
import signal
import socket
import ssl
import subprocess
import threading
import time

VAR = None          # the environment directory made by daemon/dev/setup.sh
ENV = {}            # its env.sh variables
BINARY = None
SANITIZERS = False
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "proto", "examples")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
daemons = []        # every daemon started, for the sanitizer and log checks


def setup(var, binary, sanitizers):
    global VAR, BINARY, SANITIZERS
    VAR, BINARY, SANITIZERS = os.path.abspath(var), os.path.abspath(binary), sanitizers
    with open(os.path.join(var, "env.sh")) as f:
        for line in f:
            if line.startswith("export "):
                k, v = line[7:].strip().split("=", 1)
                ENV[k] = v
    os.environ.update(ENV)


def free_port():
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
    rows = psql(sql, *args)
    return rows[0][0] if rows else None


def counts():
    """Row counts of every table an intake submission writes."""
    row = psql("select (select count(*) from hotline.calls), (select count(*) from hotline.cases),"
               " (select count(*) from hotline.reports), (select count(*) from hotline.children),"
               " (select count(*) from hotline.case_events where kind = 'created'),"
               " (select count(*) from hotline.idempotency)")[0]
    return tuple(int(x) for x in row)


class TableLock:
    """Holds an exclusive lock on a table from a psql session for some seconds,
    so that submissions wait for the database."""

    def __init__(self, seconds, table="hotline.cases"):
        self.seconds, self.table = seconds, table

    def __enter__(self):
        self.proc = subprocess.Popen(
            [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("begin; lock table %s in exclusive mode; select pg_sleep(%s); commit;\n"
                              % (self.table, self.seconds))
        self.proc.stdin.close()
        rel = self.table.split(".")[-1]
        if not wait_until(lambda: scalar(
                "select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
                " where c.relname = :'a0' and l.mode = 'ExclusiveLock' and l.granted", rel) == "1",
                10):
            raise AssertionError("could not lock " + self.table)
        return self

    def release(self):
        """Wait for the lock holder to finish (it commits after its sleep)."""
        if self.proc.poll() is None:
            self.proc.wait(self.seconds + 30)

    def __exit__(self, *exc):
        self.release()


def pg_ctl(action):
    cmd = ["bash", os.path.join(ROOT, "daemon/dev/pg.sh"), action, os.path.join(VAR, "pg")]
    if action == "start":
        cmd.append(ENV["PGPORT"])
    subprocess.run(cmd, check=True, timeout=90, capture_output=True)


def pg_stop():
    pg_ctl("stop")


def pg_start():
    pg_ctl("start")


# ---------------------------------------------------------------- the contract's examples

def example(name):
    """The bytes of proto/examples/<name>."""
    with open(os.path.join(EXAMPLES, name), "rb") as f:
        return f.read()


def example_json(name):
    return json.loads(example(name))


def example_names(suffix=".json"):
    return sorted(n for n in os.listdir(EXAMPLES) if n.endswith(suffix) and n != "expected.json")


def expected_errors():
    with open(os.path.join(EXAMPLES, "expected.json")) as f:
        return json.load(f)


PERSONAL_FIELDS = {"name", "phone", "caller_phone", "id_number", "school", "address", "narrative",
                   "summary", "actions_taken", "birth_date"}


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


def register_client(name, role):
    """Register (or re-activate) a certificate made by make_client_cert."""
    psql("select hotline.client_upsert(:'a0', :'a1', null, :'a2')", name, role,
         fingerprint(pki(name + ".crt")))


# ---------------------------------------------------------------- daemons

def base_settings():
    settings = {}
    with open(os.path.join(VAR, "hotlined.conf")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                settings[k.strip()] = v.strip()
    return settings


class Daemon:
    """A hotlined process on its own port, with its own configuration file and
    log (stderr) in VAR."""

    def __init__(self, name="hotlined", **overrides):
        self.name = name
        self.port = free_port()
        self.conf = os.path.join(VAR, "test-%s-%d.conf" % (name, self.port))
        self.logpath = os.path.join(VAR, "test-%s-%d.log" % (name, self.port))
        settings = base_settings()
        settings["listen"] = "127.0.0.1:%d" % self.port
        settings.update({k: str(v) for k, v in overrides.items()})
        with open(self.conf, "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        self.proc = None
        daemons.append(self)

    def __repr__(self):
        return "hotlined %s (port %d)" % (self.name, self.port)

    def start(self, wait_ready=True, max_files=None):
        """Start and wait for /healthz (and /readyz); max_files limits its descriptors."""
        def limit():
            if max_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen([BINARY, "-d", "-f", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True,
                                         preexec_fn=limit)
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


@atexit.register
def kill_leftovers():
    """Kill every daemon still running (a test that gave up, an aborted run)."""
    for d in daemons:
        if d.running():
            d.proc.kill()
            d.proc.wait()


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
