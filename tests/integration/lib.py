"""Test harness for hotlined: real daemons, real TLS, a real PostgreSQL.

Daemon starts the binary on its own port with a configuration derived from
the environment's hotlined.conf; Client speaks HTTPS with a client
certificate; psql() queries the database as its superuser.
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time

VAR = None          # the environment directory made by daemon/dev/setup.sh
ENV = {}            # its env.sh variables
BINARY = None
SANITIZERS = False
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "proto", "examples")
daemons = []        # every daemon started, for the sanitizer check


def setup(var, binary, sanitizers):
    global VAR, BINARY, SANITIZERS
    VAR, BINARY, SANITIZERS = var, binary, sanitizers
    with open(os.path.join(var, "env.sh")) as f:
        for line in f:
            if line.startswith("export "):
                k, v = line[7:].strip().split("=", 1)
                ENV[k] = v
    os.environ.update(ENV)


def pki(name):
    return os.path.join(ENV["HOTLINED_PKI"], name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def psql(sql, *args):
    """Run SQL as the superuser; returns rows as lists of strings."""
    cmd = ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args):
        cmd += ["-v", "a%d=%s" % (i, a)]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise AssertionError("psql failed: " + out.stderr.strip())
    return [line.split("\t") for line in out.stdout.splitlines() if line != ""]


def scalar(sql, *args):
    rows = psql(sql, *args)
    return rows[0][0] if rows else None


def pg_stop():
    subprocess.run(["bash", os.path.join(ROOT, "daemon/dev/pg.sh"), "stop",
                    os.path.join(VAR, "pg")], check=True, timeout=60)


def pg_start():
    subprocess.run(["bash", os.path.join(ROOT, "daemon/dev/pg.sh"), "start",
                    os.path.join(VAR, "pg")], check=True, timeout=90)


def example(name):
    with open(os.path.join(EXAMPLES, name), "rb") as f:
        return f.read()


def wait_until(pred, timeout, interval=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


class Daemon:
    """A hotlined process on its own port."""

    def __init__(self, name="hotlined", **overrides):
        self.name = name
        self.port = free_port()
        self.conf = os.path.join(VAR, "test-%s-%d.conf" % (name, self.port))
        self.logpath = os.path.join(VAR, "test-%s-%d.log" % (name, self.port))
        settings = {}
        with open(os.path.join(VAR, "hotlined.conf")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    settings[k.strip()] = v.strip()
        settings["listen"] = "127.0.0.1:%d" % self.port
        settings.update({k: str(v) for k, v in overrides.items()})
        with open(self.conf, "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        self.proc = None
        daemons.append(self)

    def start(self, wait_ready=True):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([BINARY, "-d", "-f", self.conf],
                                     stdout=self.log, stderr=self.log)
        ok = wait_until(self._healthy, 20, 0.05)
        if not ok:
            raise AssertionError("%s did not start; log: %s" % (self.name, self.logtail()))
        if wait_ready:
            if not wait_until(self._ready, 20, 0.1):
                raise AssertionError("%s not ready; log: %s" % (self.name, self.logtail()))
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s: %s" % (self.name, self.proc.returncode,
                                                            self.logtail()))
        try:
            return Client(self, None).get("/healthz")[0] == 200
        except OSError:
            return False

    def _ready(self):
        try:
            return Client(self, None).get("/readyz")[0] == 200
        except OSError:
            return False

    def stop(self, timeout=15):
        """SIGTERM; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s did not stop within %ss" % (self.name, timeout))

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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def tls_context(cert):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki("ca.crt"))
    if cert is not None:
        ctx.load_cert_chain(pki(cert + ".crt"), pki(cert + ".key"))
    return ctx


class Client:
    """An HTTPS client with a named client certificate (or none)."""

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
        h = {}
        if body is not None:
            h["Content-Type"] = "application/json"
            if isinstance(body, (dict, list)):
                body = json.dumps(body, ensure_ascii=False).encode()
            elif isinstance(body, str):
                body = body.encode()
        h.update(headers or {})
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

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def raw_tls(port, data, cert="console", timeout=5):
    """Send raw bytes over TLS; return what comes back before close/timeout."""
    ctx = tls_context(cert)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    out = b""
    try:
        t.sendall(data)
        while True:
            chunk = t.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and b"Connection: close" not in out:
                head, _, body = out.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(body) >= int(line.split(b":")[1]):
                            return out
    except (socket.timeout, ssl.SSLError, ConnectionError):
        pass
    finally:
        t.close()
    return out


def status_of(raw):
    if not raw.startswith(b"HTTP/1."):
        return None
    return int(raw.split(b" ", 2)[1])


def counts():
    """Row counts of every table a submission writes."""
    row = psql("select (select count(*) from hotline.calls), (select count(*) from hotline.cases),"
               " (select count(*) from hotline.reports), (select count(*) from hotline.children),"
               " (select count(*) from hotline.case_events),"
               " (select count(*) from hotline.idempotency)")[0]
    return tuple(int(x) for x in row)
