"""Signals: SIGTERM drains the requests in flight and exits 0; SIGHUP
reloads the server certificate and keeps serving, and keeps the loaded one
when the new file is broken; under systemd (NOTIFY_SOCKET) the daemon says
when it is ready, reloading and stopping."""

import json
import os
import signal
import socket
import subprocess
import time
import uuid

from . import lib
from .lib import (Client, Daemon, TableLock, case_count, check, example, new_key,
                  new_server_cert, post_in_background, read_responses, stop_cleanly, test,
                  tls_connect, wait_until)


@test
def sigterm_finishes_requests_in_flight():
    d = Daemon("draining").start()
    kept = tls_connect(d.port)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    read_responses(kept, 1)
    with TableLock(1.5):
        posts = [post_in_background(d, "gateway", "/v1/reports",
                                    example("reports.self-harm.valid.json"), new_key())
                 for i in range(4)]
        time.sleep(0.5)
        d.signal(signal.SIGTERM)
        time.sleep(0.2)
        kept.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = read_responses(kept, 1)
        kept.close()
        check([r[0] for r in got] == [503], "while draining /readyz is 503", got)
        for t, _ in posts:
            t.join(20)
    try:
        code = d.proc.wait(10)
    except subprocess.TimeoutExpired:
        code = None
    res = [r[0] for _, r in posts]
    check(all(isinstance(r, tuple) and r[0] == 201 for r in res),
          "requests in flight at SIGTERM complete with 201", res)
    check(all(case_count(r[2]["case_number"]) == "1" for r in res if isinstance(r, tuple)
              and r[0] == 201), "and their cases are stored")
    check(code == 0, "the daemon exits 0 after draining", "%s\n%s" % (code, d.logtail()))
    if code is None:
        d.kill9()


def server_cert_der(port):
    """The DER of the certificate the daemon presents on a new connection."""
    s = tls_connect(port)
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


@test
def sighup_reloads_certificates_and_keeps_serving():
    base = os.path.join(lib.VAR, "test-reload-%s" % uuid.uuid4().hex[:6])
    new_server_cert(base + "-a", "reload-a")
    crt, keyf = base + ".crt", base + ".key"
    os.replace(base + "-a.crt", crt)
    os.replace(base + "-a.key", keyf)
    d = Daemon("reload", tls_cert=crt, tls_key=keyf).start()
    try:
        old = server_cert_der(d.port)
        kept = tls_connect(d.port)
        new_server_cert(base + "-b", "reload-b")
        os.replace(base + "-b.key", keyf)
        os.replace(base + "-b.crt", crt)
        d.signal(signal.SIGHUP)
        got = wait_until(lambda: server_cert_der(d.port) != old, 5, 0.1)
        check(got, "after SIGHUP new connections get the new server certificate", d.logtail())
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check([r[0] for r in read_responses(kept, 1)] == [200],
              "a connection opened before the reload keeps working")
        kept.close()
        st, h, b = Client(d, "gateway").post("/v1/reports", example("reports.self-harm.valid.json"),
                                             new_key())
        check(st == 201 and d.running(), "the daemon keeps serving after SIGHUP", (st, b))
        now = server_cert_der(d.port)
        with open(crt, "w") as f:
            f.write("not a certificate\n")
        d.signal(signal.SIGHUP)
        time.sleep(0.5)
        check(d.running() and server_cert_der(d.port) == now,
              "a SIGHUP with a broken certificate file keeps the loaded one", d.logtail())
    finally:
        stop_cleanly(d)


@test
def systemd_hears_ready_reloading_and_stopping():
    path = os.path.join(lib.VAR, "notify-%s.sock" % uuid.uuid4().hex[:8])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    d = Daemon("notify")
    try:
        d.start(env={"NOTIFY_SOCKET": path})
        check(sock.recv(256) == b"READY=1", "under systemd (NOTIFY_SOCKET) the daemon says READY=1")
        d.signal(signal.SIGHUP)
        got = [sock.recv(256), sock.recv(256)]
        check(got == [b"RELOADING=1", b"READY=1"], "SIGHUP: RELOADING=1, then READY=1", got)
        d.signal(signal.SIGTERM)
        got = sock.recv(256)
        check(got == b"STOPPING=1", "SIGTERM: STOPPING=1 as it drains", got)
    finally:
        stop_cleanly(d)
        sock.close()
        os.unlink(path)


@test
def a_request_still_waiting_for_the_database_at_shutdown_is_answered_before_the_daemon_exits():
    d = Daemon("stopping", request_timeout=3).start()
    late = tls_connect(d.port)
    late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    check([r[0] for r in read_responses(late, 1)] == [200], "a keep-alive connection is open")
    body = example("reports.self-harm.valid.json")
    with TableLock(12):
        t, first = post_in_background(d, "gateway", "/v1/reports", body, new_key())
        time.sleep(0.5)
        d.signal(signal.SIGTERM)
        # More than a second into the drain, a request on the kept connection: its own
        # deadline (3 s) falls after the drain's (request_timeout + 1 s from SIGTERM).
        time.sleep(1.5)
        late.sendall(lib.raw_post_request("/v1/reports", lib.personal_report(), new_key()))
        got = read_responses(late, 1, 10)
        late.close()
        try:
            code = d.proc.wait(10)
        except subprocess.TimeoutExpired:
            code = None
        t.join(10)
    check(code == 0, "the daemon exits 0 when the drain deadline passes with a database job"
          " outstanding (no crash)", "%s\n%s" % (code, d.logtail()))
    check([r[0] for r in got] == [503] and lib.error_code(json.loads(got[0][1])) in (
        "outcome_unknown", "unavailable"),
          "the request still waiting is answered 503 before the daemon exits", got)
    r = first[0]
    check(isinstance(r, tuple) and r[0] == 503, "the first, past its deadline, got 503", r)
    check(not d.sanitizer_reports(), "no sanitizer report", d.sanitizer_reports()[:5])
    if code is None:
        d.kill9()
