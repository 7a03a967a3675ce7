"""Visibility and access: what each viewer of a case sees (full, redacted,
or 404), the access log of every read of personal data, access requests
with approval and expiry (an admin's too, approved by another admin), notes
shown only to those who may read them, and cases linked by the child they
are about."""

import json
import random
import uuid

from . import lib
from .lib import (Client, access_log_count, check, error_code, example_json, file_report,
                  hotlinectl, id_number, is_error, log_call, new_key, personal_report, psql,
                  scalar, test, view, wait_until)


@test
def each_viewer_sees_what_its_role_allows(daemon):
    r = personal_report()
    n = file_report(daemon, r)["case_number"]
    name, reporter, narrative = r["child"]["name"], r["reporter"]["name"], r["narrative"]
    # (client, status, access, child name, narrative, reporter visible)
    matrix = [
        ("admin", 200, "redacted", False, False, False),                 # no request
        ("police-320102", 200, "full", True, True, True),               # primary
        ("procuratorate-320102", 200, "redacted", False, False, False),  # supervise
        ("education-320102", 200, "redacted", False, False, False),      # inform
        ("gateway", 200, "full", True, True, False),                     # filed it
        ("gateway2", 404, None, False, False, False),
        ("police-320104", 404, None, False, False, False),
        ("console", 404, None, False, False, False),
    ]
    bad = []
    for who, want, access, see_child, see_text, see_reporter in matrix:
        st, h, v = view(daemon, who, n)
        text = json.dumps(v, ensure_ascii=False)
        got = (st, v.get("access") if st == 200 else None, name in text, narrative in text,
               reporter in text)
        if got != (want, access, see_child, see_text, see_reporter):
            bad.append((who, got))
        if st == 200 and not see_reporter and v["report"]["reporter"] != {"withheld": True}:
            bad.append((who, "reporter marker", v["report"]["reporter"]))
        if st == 200 and access == "redacted" and (v["narrative"] != {"withheld": True}
                                                   or not v["child"].get("withheld")):
            bad.append((who, "redaction markers"))
        if st == 200 and see_child and (v["child"]["id_number"] != r["child"]["id_number"]
                                        or v["child"]["address"] != r["child"]["address"]):
            bad.append((who, "child fields differ from what was sent"))
    check(not bad, "the visibility matrix holds: the primary police see all; inform and"
          " supervise agencies and admins get a redacted case; the filing gateway never sees the"
          " reporter; others get 404 (%d viewers)" % len(matrix), bad)
    st, h, v = view(daemon, "procuratorate-320102", n)
    check(st == 200 and v["categories"] and v["history"] and v["assignments"]
          and v["risk_level"] and v["region_code"] == "320102",
          "a redacted case still shows categories, risk, region, status and timeline")


@test
def every_read_of_personal_data_is_logged_with_its_basis(daemon):
    n = file_report(daemon, personal_report())["case_number"]
    before = access_log_count(n)
    view(daemon, "police-320102", n)
    view(daemon, "education-320102", n)          # redacted: nothing personal read
    view(daemon, "admin", n)                     # redacted too
    view(daemon, "gateway", n)
    view(daemon, "police-320104", n)             # 404
    check(access_log_count(n) == before + 2, "a full view writes one access-log row, a redacted"
          " or refused one none", (before, access_log_count(n)))
    st, h, b = Client(daemon, "admin").get("/v1/cases/%s/access-log" % n)
    reads = b.get("reads", []) if st == 200 else []
    check(st == 200 and [(x["client"], x["basis"], x["reporter"]) for x in reads[-2:]]
          == [("police-320102", "primary", True), ("gateway", "creator", False)],
          "admins list who read the case, when and on what basis", b)
    st, h, b = Client(daemon, "police-320102").get("/v1/cases/%s/access-log" % n)
    check(is_error(st, b, 403, "forbidden"), "nobody else reads the access log", (st, b))
    code, out = hotlinectl("access-log", n)
    check(code == 0 and "police-320102" in out and "primary" in out and "2 reads of " + n in out,
          "hotlinectl access-log lists the same reads", out[-600:])
    out = psql("select count(*) from hotline.access_log")
    try:
        psql("delete from hotline.access_log")
        deleted = True
    except AssertionError:
        deleted = False
    check(not deleted and psql("select count(*) from hotline.access_log") == out,
          "the access log refuses deletion, even by the database superuser")


@test
def an_access_request_must_be_approved_and_expires(daemon):
    r = personal_report()
    n = file_report(daemon, r)["case_number"]
    edu = Client(daemon, "education-320102")
    st, h, b = edu.post("/v1/cases/%s/access-requests" % n, {"purpose": "核实学校安全措施", "hours": 2},
                        new_key())
    check(st == 201 and b["access_request"]["state"] == "pending", "an inform agency asks for"
          " access, stating a purpose", (st, b))
    rid = b["access_request"]["access_request_id"]
    st, h, v = edu.get("/v1/cases/" + n)
    check(v["access"] == "redacted", "until it is approved the case stays redacted")
    st, h, b = edu.post("/v1/access-requests/%s/approve" % rid, None, new_key())
    check(is_error(st, b, 403, "forbidden"), "a clerk cannot approve it", (st, b))
    st, h, b = Client(daemon, "police-320102-approver").post("/v1/access-requests/%s/approve" % rid,
                                                             None, new_key())
    check(is_error(st, b, 404, "not_found"), "another agency's approver cannot see it", (st, b))
    st, h, b = Client(daemon, "education-320102-approver").get("/v1/access-requests?state=pending")
    check(st == 200 and rid in [x["access_request_id"] for x in b["access_requests"]],
          "the agency's approver finds it among pending requests", b)
    st, h, b = Client(daemon, "education-320102-approver").post(
        "/v1/access-requests/%s/approve" % rid, None, new_key())
    check(st == 200 and b["access_request"]["state"] == "approved"
          and b["access_request"]["valid_until"], "the agency's approver approves it", (st, b))
    st, h, b2 = Client(daemon, "education-320102-approver").post(
        "/v1/access-requests/%s/deny" % rid, None, new_key())
    check(is_error(st, b2, 409, "invalid_transition"), "a decided request cannot be decided again")
    st, h, v = edu.get("/v1/cases/" + n)
    text = json.dumps(v, ensure_ascii=False)
    check(v["access"] == "full" and v["child"]["name"] == r["child"]["name"]
          and v["report"]["reporter"] == {"withheld": True} and r["reporter"]["name"] not in text,
          "with approval the clerk sees the child's data, never the reporter", v.get("report"))
    kinds = [e["kind"] for e in v["history"]]
    check("access_requested" in kinds and "access_approved" in kinds,
          "the request and its approval are in the case history", kinds)
    st, h, b = Client(daemon, "admin").get("/v1/cases/%s/access-log" % n)
    mine = [x for x in b["reads"] if x["client"] == "education-320102"]
    check(mine and mine[-1]["basis"] == "access_request" and mine[-1]["purpose"] == "核实学校安全措施",
          "the access log records the request and its purpose", mine)
    psql("update hotline.access_requests set valid_until = now() - interval '1 second'"
         " where request_id = :'a0'", rid)
    st, h, v = edu.get("/v1/cases/" + n)
    check(v["access"] == "redacted" and r["child"]["name"] not in json.dumps(v, ensure_ascii=False),
          "once it expires the case is redacted again")
    st, h, b = edu.get("/v1/access-requests?state=expired")
    check(st == 200 and rid in [x["access_request_id"] for x in b["access_requests"]],
          "and the request is listed as expired")
    proc = Client(daemon, "procuratorate-320102")
    st, h, b = proc.post("/v1/cases/%s/access-requests" % n, {"purpose": "立案监督审查"}, new_key())
    rid2 = b["access_request"]["access_request_id"]
    st, h, b = Client(daemon, "admin").post("/v1/access-requests/%s/approve" % rid2, None,
                                            new_key())
    st, h, v = proc.get("/v1/cases/" + n)
    check(v["access"] == "full" and v["report"]["reporter"].get("name") == r["reporter"]["name"],
          "an approved procuratorate sees the reporter (an admin approved)", v.get("report"))
    st, h, b = Client(daemon, "police-320102").post("/v1/cases/%s/access-requests" % n,
                                                    {"purpose": "x"}, new_key())
    check(is_error(st, b, 409, "access_not_needed"), "the primary assignee needs no request")
    st, h, b = Client(daemon, "police-320104").post("/v1/cases/%s/access-requests" % n,
                                                    {"purpose": "x"}, new_key())
    check(is_error(st, b, 404, "not_found"), "an agency without an assignment cannot even ask")
    st, h, b = edu.post("/v1/cases/%s/access-requests" % n, {"purpose": "x", "hours": 1000},
                        new_key())
    check(st == 400 and error_code(b) == "out_of_range", "hours are bounded", (st, b))
    st, h, b = edu.post("/v1/cases/%s/access-requests" % n, {"hours": 1}, new_key())
    check(is_error(st, b, 400, "missing_field") and b["error"]["field"] == "purpose",
          "a purpose is required", (st, b))


@test
def an_admin_reads_a_case_only_with_another_admins_approval(daemon):
    r = personal_report()
    n = file_report(daemon, r)["case_number"]
    adm = Client(daemon, "admin")
    st, h, v = adm.get("/v1/cases/" + n)
    text = json.dumps(v, ensure_ascii=False)
    check(st == 200 and v["access"] == "redacted" and r["child"]["name"] not in text
          and r["narrative"] not in text and r["reporter"]["name"] not in text
          and v["assignments"] and v["history"],
          "an admin sees the case redacted: the timeline and the assignments, no personal data",
          (st, v.get("access")))
    before = access_log_count(n)
    st, h, b = adm.post("/v1/cases/%s/access-requests" % n, {"purpose": "核查转办记录", "hours": 1},
                        new_key())
    check(st == 201 and b["access_request"]["state"] == "pending"
          and "agency" not in b["access_request"],
          "an admin asks for access, saying why (a request of no agency)", (st, b))
    rid = b["access_request"]["access_request_id"] if st == 201 else "x"
    st, h, b = adm.post("/v1/access-requests/%s/approve" % rid, None, new_key())
    check(is_error(st, b, 403, "forbidden"), "it cannot approve its own request", (st, b))
    st, h, b = Client(daemon, "education-320102-approver").post(
        "/v1/access-requests/%s/approve" % rid, None, new_key())
    check(is_error(st, b, 404, "not_found"), "nor can an agency's approver (it is no agency's)",
          (st, b))
    other = lib.make_client_cert("it-admin-" + uuid.uuid4().hex[:8])
    lib.register_client(other, "admin")
    wait_until(lambda: Client(daemon, other).get("/v1/version")[0] == 200, 3, 0.1)
    st, h, b = Client(daemon, other).post("/v1/access-requests/%s/approve" % rid, None, new_key())
    check(st == 200 and b["access_request"]["state"] == "approved"
          and b["access_request"]["decided_by"] == other,
          "another admin approves it", (st, b))
    st, h, v = adm.get("/v1/cases/" + n)
    text = json.dumps(v, ensure_ascii=False)
    check(v["access"] == "full" and v["child"]["name"] == r["child"]["name"]
          and v["narrative"] == r["narrative"] and v["report"]["reporter"] == {"withheld": True}
          and r["reporter"]["name"] not in text,
          "then the admin reads the child and the narrative, never the reporter", v.get("report"))
    st, h, v2 = Client(daemon, other).get("/v1/cases/" + n)
    check(v2["access"] == "redacted", "the approving admin still sees it redacted")
    st, h, b = adm.get("/v1/cases/%s/access-log" % n)
    mine = [x for x in b["reads"] if x["client"] == "admin"]
    check(access_log_count(n) == before + 1 and mine and mine[-1]["basis"] == "access_request"
          and mine[-1]["purpose"] == "核查转办记录" and mine[-1]["reporter"] is False,
          "the read is in the access log, with the request and its purpose", mine)
    psql("update hotline.access_requests set valid_until = now() - interval '1 second'"
         " where request_id = :'a0'", rid)
    st, h, v = adm.get("/v1/cases/" + n)
    check(v["access"] == "redacted", "once it expires the case is redacted again")
def an_access_request_for_a_case_the_agency_cannot_see_is_404(daemon):
    n = file_report(daemon, personal_report())["case_number"]
    before = scalar("select count(*) from hotline.access_requests")
    st, h, b = Client(daemon, "legal_aid-320104").post(
        "/v1/cases/%s/access-requests" % n, {"purpose": "核实", "hours": 2}, new_key())
    check(is_error(st, b, 404, "not_found"), "an agency with nothing to do with the case asks"
          " for access: 404 not_found, as for a case that does not exist", (st, b))
    check(scalar("select count(*) from hotline.access_requests") == before,
          "and nothing is stored")


@test
def notes_are_sealed_and_shown_only_to_those_who_may_see_them(daemon):
    n = file_report(daemon, personal_report())["case_number"]
    text = "（测试）警方笔记" + uuid.uuid4().hex[:8]
    st, h, b = Client(daemon, "police-320102").post("/v1/cases/%s/events" % n,
                                                    {"type": "note", "text": text}, new_key())
    check(st == 201, "the police post a note", (st, b))
    raw = scalar("select encode(n.text, 'escape') from hotline.case_notes n join hotline.cases c"
                 " on c.id = n.case_id where c.case_number = :'a0'", n)
    check(raw is not None and text not in raw, "the note is stored sealed")
    st, h, v = view(daemon, "police-320102", n)
    notes = [e.get("note") for e in v["history"] if e["kind"] == "note"]
    check(notes == [text], "the police read it back", notes)
    st, h, v = view(daemon, "education-320102", n)
    notes = [e.get("note") for e in v["history"] if e["kind"] == "note"]
    check(notes == [{"withheld": True}], "an informed agency sees that a note exists, not its text",
          notes)


@test
def a_call_and_a_report_about_the_same_child_are_linked(daemon):
    ident = id_number("20140707")
    tag = uuid.uuid4().hex[:6]
    call = example_json("calls.case-opened.valid.json")
    call["open_case"]["child"].update(name="同一儿童" + tag, birth_date="2014-07-07",
                                      id_number=ident)
    first = log_call(daemon, call)["case_number"]
    # The report gives the ID number with a lower-case x where it has one,
    # and the name with spaces: both are normalised before hashing.
    child = {"name": " 同一 儿童" + tag, "gender": "female", "age": 12, "birth_date": "2014-07-07",
             "region_code": "320102"}
    second = file_report(daemon, personal_report(child=child))["case_number"]
    third = file_report(daemon, personal_report())["case_number"]
    st, h, v = view(daemon, "police-320102", second)
    related = {x["case_number"]: x["matched"] for x in v.get("related_cases", [])}
    check(first in related and related[first] == ["name_birth"] and third not in related,
          "a report about a child known from a call lists the call's case (name and birth date)",
          related)
    child2 = {"name": "别名" + tag, "gender": "female", "age": 12, "id_number": ident,
              "region_code": "320102"}
    fourth = file_report(daemon, personal_report(child=child2))["case_number"]
    st, h, v = view(daemon, "police-320102", fourth)
    related = {x["case_number"]: x["matched"] for x in v.get("related_cases", [])}
    check(first in related and related[first] == ["id"], "so does one with the same ID number",
          related)
    st, h, v = view(daemon, "education-320102", fourth)
    check("related_cases" not in v, "a redacted view shows no related cases")
    phone = "136" + str(int(tag, 16) % 10 ** 8).zfill(8)
    c1 = dict(example_json("calls.counselled-study-pressure.valid.json"), caller_phone=phone)
    b1 = log_call(daemon, c1)
    b2 = log_call(daemon, dict(c1, caller_phone="+86" + phone), client="console2")
    check("earlier_calls" not in b1 and b2.get("earlier_calls", {}).get("count") == 1,
          "a repeat caller's earlier call is found, whatever the number's format", (b1, b2))


@test
def a_case_numbered_past_99999999_is_reachable(daemon):
    saved = scalar("select last_value from hotline.case_number_seq")
    psql("select setval('hotline.case_number_seq', :a0)", 100000000 + random.randint(0, 10 ** 7))
    try:
        r = personal_report()
        n = file_report(daemon, r)["case_number"]
    finally:
        psql("select setval('hotline.case_number_seq', :a0)", saved)
    check(len(n.split("-")[2]) == 9, "a case numbered past 99,999,999 in its county-year has a"
          " sequence of 9 digits, as the schema allows", n)
    st, h, v = view(daemon, "gateway", n)
    check(st == 200 and v.get("case_number") == n and v.get("narrative") == r["narrative"],
          "its reporter reads it", (st, v if st != 200 else v.get("case_number")))
    st, h, b = Client(daemon, "police-320102").post(
        "/v1/cases/%s/events" % n, {"type": "note", "text": "（测试）九位编号"}, new_key())
    check(st == 201, "and its police post to it", (st, b))
    st, h, b = Client(daemon, "gateway").get("/v1/cases/2026-320102-" + "1" * 19)
    check(is_error(st, b, 404, "not_found"), "a sequence of 19 digits is still no case", (st, b))
