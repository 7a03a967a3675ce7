"""Authentication and the authorization matrix: clients are who their
certificate says (no certificate, another CA, unregistered, revoked,
expired, never a resumed session), a revocation takes effect within two
seconds, and each role reaches only the endpoints and objects that are its
own."""

import json
import os
import signal
import socket
import ssl
import time
import uuid

from . import lib
from .lib import (Client, Daemon, assignment_of, attempt, check, counts, example, file_report,
                  is_error, new_key, psql, queue, stop_cleanly, test, wait_until)


@test
def clients_are_identified_by_certificate(daemon):
    before = counts()
    st, h, b = attempt(daemon, None, "POST", "/v1/calls", example("calls.silent.valid.json"))
    check(is_error(st, b, 401, "certificate_required"),
          "no certificate on /v1/calls is 401 certificate_required", (st, b))
    st, h, b = attempt(daemon, None)
    check(is_error(st, b, 401, "certificate_required"), "no certificate on GET /v1/cases is 401",
          (st, b))
    r = attempt(daemon, "stranger", "POST", "/v1/calls", example("calls.silent.valid.json"))
    check(r[0] == "refused" or r[0] in (401, 403),
          "a certificate from another CA is refused (handshake fails or 401/403)", r)
    st, h, b = attempt(daemon, "unregistered", "POST", "/v1/calls",
                       example("calls.silent.valid.json"))
    check(is_error(st, b, 403, "client_unknown"),
          "a CA-signed but unregistered certificate is 403 client_unknown", (st, b))
    st, h, b = attempt(daemon, "revoked", "POST", "/v1/calls", example("calls.silent.valid.json"))
    check(is_error(st, b, 403, "client_revoked"), "a revoked client is 403 client_revoked", (st, b))
    st, h, b = attempt(daemon, "gateway", "POST", "/v1/calls", example("calls.silent.valid.json"))
    check(is_error(st, b, 403, "forbidden"), "a gateway may not log calls: 403 forbidden", (st, b))
    st, h, b = attempt(daemon, "console", "POST", "/v1/reports",
                       example("reports.self-harm.valid.json"))
    check(is_error(st, b, 403, "forbidden"), "an operator may not file reports: 403 forbidden",
          (st, b))
    for who, path in (("admin", "/v1/reports"), ("police-320102", "/v1/reports"),
                      ("admin", "/v1/calls")):
        body = example("reports.self-harm.valid.json" if path == "/v1/reports"
                       else "calls.silent.valid.json")
        st, h, b = attempt(daemon, who, "POST", path, body)
        check(is_error(st, b, 403, "forbidden"), "%s may not POST %s: 403" % (who, path), (st, b))
    check(counts() == before, "refused requests store nothing", (before, counts()))


@test
def a_revocation_takes_effect_within_two_seconds(daemon):
    name = lib.make_client_cert("it-seat-" + uuid.uuid4().hex[:8])
    lib.register_client(name, "operator")
    c = Client(daemon, name)
    ok = wait_until(lambda: c.post("/v1/calls", example("calls.hang-up.valid.json"),
                                   new_key())[0] == 201, 3, 0.1)
    check(ok, "a newly registered seat can log calls within moments")
    st, h, made = c.post("/v1/calls", example("calls.case-opened.valid.json"), new_key())
    number = made.get("case_number") if isinstance(made, dict) else None
    psql("select hotline.client_revoke(:'a0')", name)
    t0 = time.monotonic()
    got = wait_until(lambda: Client(daemon, name).get("/v1/cases/%s" % number)[0] == 403, 2, 0.05)
    check(got, "after revocation its reads get 403 within 2 s (%.2fs)" % (time.monotonic() - t0))
    st, h, b = c.post("/v1/calls", example("calls.hang-up.valid.json"), new_key())
    check(is_error(st, b, 403, "client_revoked"),
          "even on a connection opened before the revocation: 403 client_revoked", (st, b))
    lib.register_client(name, "operator")
    got = wait_until(lambda: Client(daemon, name).get("/v1/cases/%s" % number)[0] == 200, 2, 0.05)
    check(got, "re-registering the certificate restores access within 2 s")


@test
def a_revocation_announced_while_a_reload_fails_is_not_lost():
    d = Daemon("reloadfail", db_pool_size=1).start()
    name = lib.make_client_cert("it-reload-" + uuid.uuid4().hex[:8])
    lib.register_client(name, "gateway")
    case = "/v1/cases/2026-320102-00000001"
    try:
        check(wait_until(lambda: Client(d, name).get(case)[0] in (200, 404), 5, 0.1),
              "a newly registered gateway is let in")
        pids = lib.backend_pids(d)
        check(len(pids) == 1, "the daemon's one pool connection is found", pids)
        os.kill(pids[0], signal.SIGSTOP)
        try:
            psql("notify hotline_clients")      # a reload goes out, and hangs
            time.sleep(0.5)
            psql("select hotline.client_revoke(:'a0')", name)     # announced meanwhile
            time.sleep(0.5)
            psql("select pg_terminate_backend(:a0)", pids[0])      # the reload fails
        finally:
            os.kill(pids[0], signal.SIGCONT)
        t0 = time.monotonic()
        refused = wait_until(lambda: Client(d, name).get(case)[0] == 403, 5, 0.1)
        check(refused, "the revocation announced while the failing reload was out takes effect"
              " within seconds, not at the next periodic refresh (%.1fs)"
              % (time.monotonic() - t0), d.logtail())
    finally:
        stop_cleanly(d)


@test
def tls_sessions_are_never_resumed(daemon):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = lib.tls_context("gateway")
        ctx.minimum_version = ctx.maximum_version = version
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", daemon.port), timeout=5),
                            server_hostname="localhost")
        s.sendall(b"GET /v1/cases/2026-320102-00000001 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
        session = s.session
        s.close()
        s2 = ctx.wrap_socket(socket.create_connection(("127.0.0.1", daemon.port), timeout=5),
                             server_hostname="localhost", session=session)
        check(not s2.session_reused, "a %s session is not resumed (every connection presents"
              " and verifies its certificate)" % version.name)
        s2.close()


@test
def an_expired_client_certificate_is_refused(daemon):
    name = lib.make_expired_client_cert("it-expired-" + uuid.uuid4().hex[:8])
    lib.register_client(name, "gateway")
    before = counts()
    r = attempt(daemon, name, "POST", "/v1/reports", example("reports.self-harm.valid.json"))
    check(r[0] == "refused" or r[0] in (401, 403),
          "a registered but expired certificate is refused", r)
    check(counts() == before, "and nothing is stored")


@test
def nobody_sees_what_is_not_theirs(daemon):
    b = file_report(daemon, "reports.sexual-abuse.valid.json")          # police-320102 primary
    n, receipt = b["case_number"], b["receipt_id"]
    own = assignment_of(daemon, "police-320102", n)["assignment_id"]
    matrix = []

    def expect(who, method, path, body, want):
        c = Client(daemon, who)
        if method == "GET":
            st, h, r = c.get(path)
        else:
            st, h, r = c.post(path, body, new_key())
        matrix.append((who, method, path.split("/")[2], want, st))
        return st == want
    rows = [
        # (client, method, path, body, expected)
        ("police-320102", "GET", "/v1/cases/" + n, None, 200),
        ("police-320104", "GET", "/v1/cases/" + n, None, 404),
        ("education-320102", "GET", "/v1/cases/" + n, None, 200),
        ("education-320104", "GET", "/v1/cases/" + n, None, 404),
        ("console", "GET", "/v1/cases/" + n, None, 404),
        ("gateway2", "GET", "/v1/cases/" + n, None, 404),
        ("police-320104", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 404),
        ("console", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 403),
        ("gateway", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 403),
        ("police-320104", "POST", "/v1/assignments/%s/ack" % own, None, 404),
        ("education-320102", "POST", "/v1/assignments/%s/ack" % own, None, 404),
        ("console", "POST", "/v1/assignments/%s/ack" % own, None, 403),
        ("police-320104", "POST", "/v1/assignments/%s/transfer" % own,
         {"target_agency": "police-320104", "reason": "x"}, 404),
        ("admin", "POST", "/v1/assignments/%s/transfer" % own,
         {"target_agency": "police-320104", "reason": "x"}, 403),
        ("console", "GET", "/v1/queue", None, 403),
        ("gateway", "GET", "/v1/queue", None, 403),
        ("police-320102", "GET", "/v1/reports/%s/status" % receipt, None, 403),
        ("gateway2", "GET", "/v1/reports/%s/status" % receipt, None, 404),
        ("gateway", "GET", "/v1/reports/%s/status" % receipt, None, 200),
        ("console", "GET", "/v1/supervision/overdue", None, 403),
        ("education-320102", "GET", "/v1/supervision/overdue", None, 403),
        ("police-320102", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "（测试）"}, 201),
        ("police-320102", "POST", "/v1/assignments/%s/ack" % own, None, 200),
    ]
    bad = [r for r in rows if not expect(*r)]
    check(not bad, "the authorization matrix holds (%d role x endpoint x object cases)" % len(rows),
          [m for m in matrix if m[3] != m[4]])
    st, h, view = Client(daemon, "education-320102").get("/v1/cases/" + n)
    check(st == 200 and view["report"]["reporter"] == {"withheld": True}
          and "测试教师" not in json.dumps(view, ensure_ascii=False),
          "an informed education bureau never sees who reported", view.get("report"))
    st, h, view = Client(daemon, "police-320102").get("/v1/cases/" + n)
    check(st == 200 and view["report"]["reporter"]["name"].startswith("测试"),
          "the police see the reporter", st)
    st, h, view = Client(daemon, "procuratorate-320102").get("/v1/cases/" + n)
    check(st == 200 and view["report"]["reporter"] == {"withheld": True},
          "the supervising procuratorate sees it only after an approved access request", st)
    theirs = [a["case_number"] for a in queue(daemon, "police-320104", query="?limit=500")]
    check(n not in theirs, "another county's police queue never lists the case")


@test
def only_live_assignments_act_and_see_in_full(daemon):
    b = file_report(daemon, lib.personal_report())        # police-320102 primary
    n, receipt = b["case_number"], b["receipt_id"]
    own = assignment_of(daemon, "police-320102", n)["assignment_id"]
    st, h, r = Client(daemon, "police-320102").post("/v1/assignments/%s/transfer" % own, {
        "target_agency": "police-320104", "reason": "（测试）属地管辖"}, new_key())
    check(st == 201, "the county police transfer the case away", (st, r))
    edu = assignment_of(daemon, "education-320102", n)["assignment_id"]
    ec = Client(daemon, "education-320102")
    ec.post("/v1/assignments/%s/ack" % edu, None, new_key())
    st, h, r = ec.post("/v1/cases/%s/events" % n, {"type": "outcome", "outcome": "closed"},
                       new_key())
    check(st == 201, "the informed education bureau closes its assignment", (st, r))
    matrix = []
    rows = [
        # (client, path, body, expected): an agency whose work there ended
        # (transferred away, closed) posts nothing, with or without a text
        # to seal (case_key) and gets no key; the receiver acts.
        ("police-320102", "/v1/cases/%s/events" % n, {"type": "feedback"}, 409),
        ("police-320102", "/v1/cases/%s/events" % n, {"type": "feedback", "text": "（测试）"}, 409),
        ("police-320102", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 409),
        ("police-320102", "/v1/cases/%s/events" % n, {"type": "outcome", "outcome": "accepted"}, 409),
        ("police-320102", "/v1/assignments/%s/ack" % own, None, 409),
        ("police-320102", "/v1/assignments/%s/transfer" % own,
         {"target_agency": "police-320100", "reason": "x"}, 409),
        ("education-320102", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 409),
        ("education-320102", "/v1/cases/%s/events" % n,
         {"type": "outcome", "outcome": "closed"}, 409),
        ("police-320100", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 404),
        ("police-320104", "/v1/cases/%s/events" % n, {"type": "note", "text": "（测试）接收"}, 201),
    ]
    for who, path, body, want in rows:
        st, h, r = Client(daemon, who).post(path, body, new_key())
        matrix.append((who, path.split("/")[2], json.dumps(body, ensure_ascii=False), want, st))
    check(all(m[3] == m[4] for m in matrix),
          "only live assignments act: transferred-away and closed ones are refused (409) on every"
          " endpoint (%d cases)" % len(rows), [m for m in matrix if m[3] != m[4]])
    status = Client(daemon, "gateway").get("/v1/reports/%s/status" % receipt)[2]
    check("feedback_given" not in [m["milestone"] for m in status["milestones"]],
          "so no feedback from the station that handed the case on reaches the reporter", status)
    st, h, v = Client(daemon, "police-320102").get("/v1/cases/" + n)
    text = json.dumps(v, ensure_ascii=False)
    check(st == 200 and v["access"] == "redacted" and v["report"]["reporter"] == {"withheld": True}
          and v["narrative"] == {"withheld": True} and "报告人" not in text,
          "the police that transferred their primary assignment away no longer see the case in"
          " full (redacted)", v.get("access"))
    st, h, v = Client(daemon, "police-320104").get("/v1/cases/" + n)
    check(st == 200 and v["access"] == "full" and v["report"]["reporter"]["name"].startswith("报告人"),
          "the receiving police do", v.get("access"))


@test
def a_centre_works_only_its_own_cases(daemon):
    st, h, made = Client(daemon, "console").post(
        "/v1/cases", example("cases.bullying-with-injury.valid.json"), new_key())
    n = made["case_number"] if st == 201 else "2026-320104-99999999"
    b = file_report(daemon, "reports.sexual-abuse.valid.json")
    receipt = b["receipt_id"]
    matrix = []

    def expect(who, method, path, body, want):
        c = Client(daemon, who)
        st, h, r = c.get(path) if method == "GET" else c.post(path, body, new_key())
        matrix.append((who, method, path, want, st))
        return st == want
    note = {"text": "（测试）授权矩阵"}
    rows = [
        # another centre's seat: the case does not exist for it
        ("console-b", "GET", "/v1/cases/" + n, None, 404),
        ("console-b", "POST", "/v1/cases/%s/notes" % n, note, 404),
        ("console-b", "POST", "/v1/cases/%s/risk" % n, {"risk_level": 1, "reason": "x"}, 404),
        ("console-b", "POST", "/v1/cases/%s/categories" % n,
         {"categories": [{"category": "legal", "subcategory": "legal_aid"}]}, 404),
        ("console-b", "POST", "/v1/cases/%s/child" % n, {"age": 9}, 404),
        ("console-b", "POST", "/v1/cases/%s/links" % n, {"case_number": n}, 404),
        # an agency on the case works it through its own endpoints only
        ("police-320104", "POST", "/v1/cases/%s/notes" % n, note, 403),
        ("police-320104", "POST", "/v1/cases/%s/risk" % n, {"risk_level": 1, "reason": "x"},
         403),
        ("police-320104", "POST", "/v1/cases/%s/categories" % n,
         {"categories": [{"category": "legal", "subcategory": "legal_aid"}]}, 403),
        ("police-320104", "POST", "/v1/cases/%s/child" % n, {"age": 9}, 403),
        ("police-320104", "POST", "/v1/cases", example("cases.bullying-with-injury.valid.json"),
         403),
        ("police-320104", "GET", "/v1/cases", None, 403),
        ("police-320104", "GET", "/v1/callers/13800000001/history", None, 403),
        ("police-320104", "GET", "/v1/children/cases?id_number=320102201503120025", None, 403),
        ("police-320102", "POST", "/v1/cases/%s/links" % n, {"case_number": n}, 404),
        # a gateway, an admin: no operator's endpoint
        ("gateway", "POST", "/v1/cases", example("cases.bullying-with-injury.valid.json"), 403),
        ("gateway", "GET", "/v1/cases", None, 403),
        ("gateway", "POST", "/v1/cases/%s/notes" % n, note, 403),
        ("gateway", "POST", "/v1/cases/%s/links" % n, {"case_number": n}, 403),
        ("gateway", "GET", "/v1/callers/13800000001/history", None, 403),
        ("admin", "POST", "/v1/cases", example("cases.bullying-with-injury.valid.json"), 403),
        ("admin", "GET", "/v1/children/cases?id_number=320102201503120025", None, 403),
        # supplements: the filing gateway only
        ("gateway2", "POST", "/v1/reports/%s/supplements" % receipt, note, 404),
        ("console", "POST", "/v1/reports/%s/supplements" % receipt, note, 403),
        ("police-320102", "POST", "/v1/reports/%s/supplements" % receipt, note, 403),
        # and the centre itself
        ("console2", "POST", "/v1/cases/%s/notes" % n, note, 201),
        ("gateway", "POST", "/v1/reports/%s/supplements" % receipt, note, 201),
    ]
    bad = [r for r in rows if not expect(*r)]
    check(st == 201 and not bad, "the operators' authorization matrix holds (%d role x endpoint x"
          " object cases)" % len(rows), [m for m in matrix if m[3] != m[4]])
