"""The hotline operator's day, through the real daemon: a centre's seats
share its cases (another centre's see nothing of them); a case is opened
and routed while the child is still on the line, and the call logged on it
afterwards; later calls about the child join the same case; operators note,
re-grade, add categories and correct the child; the centre's caseload pages
by keyset; callers and children are looked up by keyed digest only, every
lookup logged; cases are linked by hand; a reporter supplements its report
and the agencies see the case updated.  The demo's seats: console and
console2 of the Nanjing centre (320100), console-b of the Suzhou centre
(320500)."""

import json
import random
import urllib.parse
import uuid
from datetime import datetime, timedelta

from . import lib
from .lib import (SHANGHAI, Client, access_log_count, assignment_of, check, example,
                  example_json, file_report, history, id_number, is_error, new_key, psql, queue,
                  rfc3339, scalar, test, view)

NANJING, SUZHOU = "320100", "320500"


def phone_number():
    """A mobile number no other test uses."""
    return "13" + str(random.randint(5, 9)) + str(random.randint(0, 10 ** 8 - 1)).zfill(8)


def open_case(daemon, body="cases.bullying-with-injury.valid.json", client="console", **changes):
    """Open a case during a call (POST /v1/cases): the 201 body (asserts 201)."""
    b = example_json(body) if isinstance(body, str) else body
    b = dict(b, **changes)
    st, h, r = Client(daemon, client).post("/v1/cases", b, new_key())
    assert st == 201, (st, r)
    return r


def post(daemon, client, path, body):
    """POST under a fresh key: (status, body)."""
    st, h, r = Client(daemon, client).post(path, body, new_key())
    return st, r


def lookup_count():
    """Rows of the lookup log."""
    return int(scalar("select count(*) from hotline.lookup_log"))


def access_rows(number, basis):
    """The access log of a case with this basis: client names, in order."""
    return [r[0] for r in psql("select k.name from hotline.access_log l join hotline.cases c"
                               " on c.id = l.case_id join hotline.clients k on k.id = l.client_id"
                               " where c.case_number = :'a0' and l.basis = :'a1' order by l.id",
                               number, basis)]


def lookup_child(client, **params):
    """GET /v1/children/cases with these parameters (remembered for the log search)."""
    lib.remember_sent(json.dumps(params, ensure_ascii=False).encode())
    return client.get("/v1/children/cases?" + urllib.parse.urlencode(params))


def caller(client, phone):
    """GET /v1/callers/{phone}/history (the number remembered for the log search)."""
    lib.remember_sent(json.dumps({"caller_phone": phone}).encode())
    return client.get("/v1/callers/%s/history" % urllib.parse.quote(phone, safe="-"))


@test
def the_centre_is_the_unit_of_access(daemon):
    made = open_case(daemon)
    n = made["case_number"]
    check(made["risk_level"] == 2 and {(a["agency"], a["role"]) for a in made["assignments"]}
          == {("education-320104", "primary"), ("police-320104", "primary"),
              ("procuratorate-320104", "supervise")},
          "POST /v1/cases opens a case and routes it at once (bullying at risk 2: education,"
          " police, procuratorate)", made)
    st, h, v = view(daemon, "console2", n)
    check(st == 200 and v["access"] == "full" and v["child"]["name"] == "测试儿童戊",
          "another seat of the same centre reads the case in full", (st, v))
    check(access_rows(n, "centre") == ["console2"], "and the read is in the access log with basis"
          " centre", access_rows(n, "centre"))
    st, h, v = view(daemon, "console-b", n)
    check(is_error(st, v, 404, "not_found"), "a seat of another centre gets 404", (st, v))
    st, r = post(daemon, "console-b", "/v1/cases/%s/notes" % n, {"text": "（测试）不属于本中心"})
    check(is_error(st, r, 404, "not_found"), "and cannot note it (404)", (st, r))
    call = dict(example_json("calls.follow-up.valid.json"), case_number=n)
    st, r = post(daemon, "console-b", "/v1/calls", call)
    check(is_error(st, r, 422, "unknown_case") and r["error"]["field"] == "case_number",
          "nor log a call on it: 422 unknown_case (case_number)", (st, r))
    st, h, lst = Client(daemon, "console-b").get("/v1/cases?limit=200")
    check(st == 200 and n not in [c["case_number"] for c in lst["cases"]],
          "nor sees it in its caseload", lst)
    st, r = post(daemon, "console2", "/v1/calls", call)
    check(st == 201 and r["case_number"] == n, "a seat of the centre logs a call on it", (st, r))


@test
def a_red_case_opened_during_a_crisis_call_is_followed_up_by_the_day_shift(daemon):
    night = (datetime.now(SHANGHAI) - timedelta(days=1)).replace(hour=2, minute=10, second=0,
                                                                microsecond=0)
    phone = phone_number()
    child = {"name": "危机儿童" + uuid.uuid4().hex[:6], "gender": "female", "age": 15,
             "phone": phone, "region_code": "320102"}
    # 02:12, while the child is on the line: a red case, routed at once.
    made = open_case(daemon, "cases.suicide-in-progress.valid.json", child=child)
    n = made["case_number"]
    roles = {(a["agency"], a["role"]) for a in made["assignments"]}
    check(made["risk_level"] == 1 and ("police-320102", "primary") in roles
          and ("health-320102", "primary") in roles,
          "02:12 the night operator opens a red case during the call: police and health have it"
          " at once", made)
    mine = [a for a in queue(daemon, "police-320102", "?limit=500") if a["case_number"] == n]
    ok = check(len(mine) == 1 and any(k["kind"] == "acknowledge" and k["status"] == "running"
                                      for k in mine[0]["clocks"]),
               "it is in the county police's queue, its 10-minute acknowledge clock running",
               mine)
    if ok:
        st, h, r = Client(daemon, "police-320102").post(
            "/v1/assignments/%s/ack" % mine[0]["assignment_id"], None, new_key())
        check(st == 200 and r["state"] == "acknowledged", "02:15 the police acknowledge", (st, r))
    # The call, once it ended, is logged on the case it opened.
    first = {"started_at": rfc3339(night), "ended_at": rfc3339(night + timedelta(minutes=38)),
             "caller_type": "child_self", "caller_phone": phone,
             "topic": {"category": "psychological", "subcategory": "suicidal"},
             "summary": "（测试）危机来电" + uuid.uuid4().hex[:6], "disposition": "case_opened",
             "case_number": n}
    st, r = post(daemon, "console", "/v1/calls", first)
    check(st == 201 and r["case_number"] == n and "earlier_calls" not in r,
          "02:48 the call is logged with disposition case_opened on that case", (st, r))
    again = dict(first, started_at=rfc3339(night + timedelta(minutes=50)),
                 ended_at=rfc3339(night + timedelta(minutes=51)))
    st, r = post(daemon, "console", "/v1/calls", again)
    check(is_error(st, r, 409, "invalid_transition") and r["error"]["field"] == "disposition",
          "a second call claiming to have opened it is 409 (log it as follow_up)", (st, r))
    # 09:00: the child calls back; the day shift (another seat) finds it by the number.
    logged, rows = lookup_count(), access_log_count(n)
    st, h, hist = caller(Client(daemon, "console2"), phone)
    ok = check(st == 200 and hist["total"] == 1 and hist["calls"][0]["case_number"] == n
               and hist["calls"][0]["summary"] == first["summary"]
               and hist["calls"][0]["disposition"] == "case_opened"
               and [c["case_number"] for c in hist["cases"]] == [n]
               and hist["cases"][0]["risk_level"] == 1,
               "09:00 the day-shift seat looks the ringing number up: the night's call, its"
               " summary and the red case", (st, hist))
    check(lookup_count() == logged + 1 and access_log_count(n) == rows + 1
          and access_rows(n, "lookup")[-1:] == ["console2"],
          "the lookup is logged, and in the case's access log (basis lookup)",
          access_rows(n, "lookup"))
    day = night.replace(hour=9, minute=0)
    follow = {"started_at": rfc3339(day), "ended_at": rfc3339(day + timedelta(minutes=17)),
              "caller_type": "child_self", "caller_phone": phone,
              "summary": "（测试）回电，情绪平稳" + uuid.uuid4().hex[:6],
              "disposition": "follow_up", "case_number": n}
    st, r = post(daemon, "console2", "/v1/calls", follow)
    check(st == 201 and r["case_number"] == n and r.get("earlier_calls", {}).get("count") == 1,
          "and logs the call as a follow-up on the same case (a repeat caller: 1 earlier call)",
          (st, r))
    st, h, v = view(daemon, "console2", n)
    calls = v.get("calls", [])
    check(st == 200 and [(c["disposition"], c["summary"]) for c in calls]
          == [("case_opened", first["summary"]), ("follow_up", follow["summary"])]
          and lib.instant(calls[0]["started_at"]) == night,
          "the case shows both calls, in the order they started, with their summaries", calls)
    kinds = [e["kind"] for e in v.get("history", [])]
    check(kinds.count("call_logged") == 2 and "acknowledged" in kinds,
          "its history has the acknowledgement and each call logged on it", kinds)
    mine = [a for a in queue(daemon, "police-320102", "?limit=500") if a["case_number"] == n]
    check(mine and lib.instant(mine[0].get("case_updated_at", "2000-01-01T00:00:00Z"))
          >= lib.instant(v["history"][-1]["at"]),
          "the police's queue shows the case as updated by the follow-up call", mine)


@test
def every_operator_and_supplement_example_behaves_as_documented(daemon):
    expected = lib.expected_errors()
    report = file_report(daemon, lib.personal_report())
    paths = {"notes": "notes", "risk": "risk", "categories": "categories", "child": "child",
             "links": "links"}
    for name in lib.example_names():
        endpoint = name.split(".")[0]
        if endpoint not in paths and endpoint not in ("cases", "supplements"):
            continue
        body = example(name)
        valid = name.endswith(".valid.json")
        if endpoint == "cases":
            client, path, target = "console", "/v1/cases", None
        elif endpoint == "supplements":
            client, path = "gateway", "/v1/reports/%s/supplements" % report["receipt_id"]
            target = report["case_number"]
        else:
            target = open_case(daemon)["case_number"]
            client, path = "console", "/v1/cases/%s/%s" % (target, paths[endpoint])
            if valid and "case_number" in json.loads(body):
                body = json.dumps(dict(json.loads(body), case_number=open_case(daemon)[
                    "case_number"])).encode()
        before = (lib.counts(), len(history(target)) if target else 0)
        st, h, r = Client(daemon, client).post(path, body, new_key())
        after = (lib.counts(), len(history(target)) if target else 0)
        if valid:
            grew = after[0][1] - before[0][1] if endpoint == "cases" else after[1] - before[1]
            check(st == 201 and grew >= 1, "valid example %s is stored (201, %s)" % (
                name, "a case" if endpoint == "cases" else "a history event"), (st, r))
        else:
            exp = expected.get(name, {})
            err = r.get("error", {}) if isinstance(r, dict) else {}
            check(st == exp.get("status") and err.get("code") == exp.get("code")
                  and err.get("field") == exp.get("field"),
                  "invalid example %s gets %s %s %s" % (name, exp.get("status"), exp.get("code"),
                                                        exp.get("field", "")), (st, r))
            check(after == before, "invalid example %s stores nothing" % name, (before, after))


def clocks_of(v, agency):
    """{clock kind: due_at} of an agency's live assignment in a case view."""
    for a in v["assignments"]:
        if a["agency"] == agency and a["state"] != "transferred":
            return {k["kind"]: lib.instant(k["due_at"]) for k in a["clocks"]}
    return {}


@test
def a_risk_raised_routes_and_tightens_the_clocks_and_a_risk_lowered_loosens_none(daemon):
    made = open_case(daemon, risk_level=3)          # bullying, medium: education alone
    n = made["case_number"]
    check([(a["agency"], a["role"]) for a in made["assignments"]] == [("education-320104",
                                                                       "primary")],
          "a bullying case at level 3 goes to the county education bureau alone", made)
    st, h, v = view(daemon, "console", n)
    before = clocks_of(v, "education-320104")
    opened = lib.instant(v["created_at"])
    st, r = post(daemon, "console2", "/v1/cases/%s/risk" % n,
                 {"risk_level": 1, "reason": "（测试）孩子说明天还会被堵在校门口" + uuid.uuid4().hex[:4]})
    ok = check(st == 201 and r["risk_level"] == 1, "another seat raises it to level 1 (201)",
               (st, r))
    if not ok:
        return
    agencies = {(a["agency"], a["role"]) for a in r["assignments"]}
    check({("police-320104", "primary"), ("procuratorate-320104", "supervise")} <= agencies,
          "the agencies level 1 brings in (police, procuratorate) get assignments at once",
          agencies)
    st, h, v = view(daemon, "console", n)
    after = clocks_of(v, "education-320104")
    check(abs((after["acknowledge"] - opened).total_seconds() - 600) < 2
          and abs((after["first_action"] - opened).total_seconds() - 3600) < 2
          and abs((after["resolve"] - opened).total_seconds() - 7 * 86400) < 2
          and after["investigation"] == before["investigation"],
          "education's running service clocks are brought forward to level 1's deadlines from"
          " its start (10 min, 1 h, 7 days); the statutory investigation clock is untouched",
          (before, after))
    police = clocks_of(v, "police-320104")
    check(police and abs((police["acknowledge"] - lib.instant(
        [a for a in v["assignments"] if a["agency"] == "police-320104"][0]["created_at"]))
        .total_seconds() - 600) < 2, "the police's new assignment has level 1's clocks", police)
    st, r = post(daemon, "console", "/v1/cases/%s/risk" % n,
                 {"risk_level": 4, "reason": "（测试）学校已介入" + uuid.uuid4().hex[:4]})
    st2, h, v2 = view(daemon, "console", n)
    check(st == 201 and v2["risk_level"] == 4 and clocks_of(v2, "education-320104") == after
          and clocks_of(v2, "police-320104") == police,
          "lowered to level 4, no clock is loosened", (st, r))
    st, r = post(daemon, "console", "/v1/cases/%s/risk" % n, {"risk_level": 4, "reason": "（测试）"})
    check(is_error(st, r, 409, "invalid_transition") and r["error"]["field"] == "risk_level",
          "the level it has already is 409 invalid_transition", (st, r))
    changes = [e for e in v2["history"] if e["kind"] == "risk_changed"]
    check([(e["from"], e["to"]) for e in changes] == [(3, 1), (1, 4)]
          and all(e["note"].startswith("（测试）") for e in changes),
          "each change is in the history, from and to, with its reason", changes)
    st, h, rv = view(daemon, "procuratorate-320104", n)
    check(st == 200 and rv["access"] == "redacted" and all(
        e["note"] == {"withheld": True} for e in rv["history"] if e["kind"] == "risk_changed"),
        "a supervising procuratorate sees the changes, their reasons withheld", rv.get("history"))


@test
def categories_added_route_the_case_for_them(daemon):
    made = open_case(daemon, "cases.suicide-in-progress.valid.json", risk_level=2)
    n = made["case_number"]
    st, r = post(daemon, "console", "/v1/cases/%s/categories" % n,
                 {"categories": [{"category": "legal", "subcategory": "legal_aid"},
                                 {"category": "psychological", "subcategory": "suicidal"}],
                  "reason": "（测试）孩子需要法律援助" + uuid.uuid4().hex[:4]})
    ok = check(st == 201 and {"category": "legal", "subcategory": "legal_aid"} in r["categories"],
               "an operator adds a category (201)", (st, r))
    if ok:
        check(("legal_aid-320102", "primary") in {(a["agency"], a["role"])
                                                 for a in r["assignments"]}
              and not any(a["agency"].startswith("coordination") for a in r["assignments"]),
              "the case is routed for it: the legal aid centre gets a primary assignment (and"
              " no fallback to the coordination office)", r["assignments"])
    st, h, v = view(daemon, "console", n)
    added = [e for e in v["history"] if e["kind"] == "categories_added"]
    check(len(added) == 1 and added[0]["categories"] == [{"category": "legal",
                                                          "subcategory": "legal_aid"}],
          "the history names the category added, not the one the case had", added)
    st, r = post(daemon, "console", "/v1/cases/%s/categories" % n,
                 {"categories": [{"category": "legal", "subcategory": "legal_aid"}]})
    check(is_error(st, r, 409, "invalid_transition"), "adding it again is 409", (st, r))


@test
def a_corrected_child_is_found_by_its_new_details_and_its_old_ones_kept(daemon):
    tag = uuid.uuid4().hex[:6]
    old_id, new_id = id_number("20120501"), id_number("20120501")
    child = {"name": "更正前" + tag, "gender": "female", "age": 14, "birth_date": "2012-05-01",
             "id_number": old_id, "region_code": "320102"}
    n = open_case(daemon, "cases.suicide-in-progress.valid.json", child=child)["case_number"]
    c2 = Client(daemon, "console2")
    st, r = post(daemon, "console2", "/v1/cases/%s/child" % n,
                 {"name": "更正后" + tag, "id_number": new_id, "age": 13,
                  "reason": "（测试）孩子说出真实姓名" + tag})
    check(st == 201 and r["fields"] == ["name", "age", "id_number"], "the child's name, age and"
          " ID number are corrected (201, the fields named)", (st, r))
    st, h, v = view(daemon, "console", n)
    check(v["child"]["name"] == "更正后" + tag and v["child"]["id_number"] == new_id
          and v["child"]["age"] == 13 and v["child"]["birth_date"] == "2012-05-01",
          "the case shows the corrected child", v["child"])
    fix = [e for e in v["history"] if e["kind"] == "child_corrected"]
    check(len(fix) == 1 and fix[0]["was"] == {"name": "更正前" + tag, "id_number": old_id,
                                              "age": 14}
          and fix[0]["note"] == "（测试）孩子说出真实姓名" + tag,
          "the history keeps the old values for full access, with the reason", fix)
    st, h, rv = view(daemon, "police-320102", n)
    check(st == 200 and [e["was"] for e in rv["history"] if e["kind"] == "child_corrected"]
          == [{"name": "更正前" + tag, "id_number": old_id, "age": 14}],
          "the primary police (full access) see them too", rv.get("history"))
    found = {}
    for what, params in (("new name", {"name": "更正后" + tag, "birth_date": "2012-05-01"}),
                         ("old name", {"name": "更正前" + tag, "birth_date": "2012-05-01"}),
                         ("new ID", {"id_number": new_id}), ("old ID", {"id_number": old_id})):
        st, h, r = lookup_child(c2, **params)
        found[what] = [c["case_number"] for c in r["cases"]] if st == 200 else st
    check(found == {"new name": [n], "old name": [], "new ID": [n], "old ID": []},
          "the case is found by the corrected name (with the birth date it had) and ID number,"
          " no longer by the old ones", found)


@test
def lookups_are_exact_logged_and_bound_to_the_centre(daemon):
    tag = uuid.uuid4().hex[:6]
    landline = "010-6%07d" % random.randint(0, 10 ** 7 - 1)
    intl = "+86" + landline.replace("-", "")              # +8601062345678: the trunk 0 kept
    call = dict(example_json("calls.counselled-study-pressure.valid.json"), caller_phone=intl,
                summary="（测试）座机来电" + tag)
    st, r = post(daemon, "console", "/v1/calls", call)
    check(st == 201, "a call from a landline written +86 with its trunk 0 is logged", (st, r))
    st, r = post(daemon, "console", "/v1/calls", dict(call, caller_phone=landline))
    check(st == 201 and r.get("earlier_calls", {}).get("count") == 1,
          "the same number written 010-… is the same caller (earlier_calls 1)", (st, r))
    c2 = Client(daemon, "console2")
    for written in (landline, intl, "%2B86" + landline.replace("-", "")[1:]):
        st, h, hist = c2.get("/v1/callers/%s/history" % written)
        check(st == 200 and hist["total"] == 2 and {c["summary"] for c in hist["calls"]}
              == {call["summary"]} and hist["cases"] == [],
              "GET /v1/callers/%s/history finds both calls of the centre (no case)" % written,
              (st, hist))
    logged = lookup_count()
    st, h, hist = c2.get("/v1/callers/%s/history" % landline[:7])
    check(st == 404, "a part of the number is not a number: 404, nothing is searched by"
          " substring", (st, hist))
    st, h, hist = caller(Client(daemon, "console-b"), landline)
    check(st == 200 and hist == {"total": 0, "calls": [], "cases": []},
          "another centre's seat finds none of them", (st, hist))
    st, h, hist = caller(c2, phone_number())
    check(st == 200 and hist["total"] == 0, "a number never heard: 200, empty", (st, hist))
    check(lookup_count() == logged + 2, "every lookup is logged, even one that finds nothing",
          lookup_count() - logged)
    child = {"name": "查找儿童" + tag, "birth_date": "2013-02-03", "region_code": "320104"}
    n = open_case(daemon, child=child)["case_number"]
    st, h, r = lookup_child(c2, name="查找儿童" + tag, birth_date="2013-02-03")
    check(st == 200 and [(c["case_number"], c["matched"]) for c in r["cases"]]
          == [(n, "name_birth")] and "查找儿童" not in json.dumps(r, ensure_ascii=False),
          "a child is found by name and birth date (and the answer names no one)", r)
    st, h, r = lookup_child(c2, name="查找儿童" + tag[:3], birth_date="2013-02-03")
    check(st == 200 and r["cases"] == [], "a part of the name finds nothing", r)
    st, h, r = lookup_child(c2, name=" 查找儿童 " + tag, birth_date="2013-02-03")
    check(st == 200 and [c["case_number"] for c in r["cases"]] == [n],
          "white space in a name does not matter (as in the digest)", r)
    st, h, r = lookup_child(Client(daemon, "console-b"), name="查找儿童" + tag,
                            birth_date="2013-02-03")
    check(st == 200 and r["cases"] == [], "another centre finds nothing", r)
    check(access_rows(n, "lookup") == ["console2", "console2"],
          "each lookup that returned the case is in its access log", access_rows(n, "lookup"))
    st, h, log = Client(daemon, "admin").get("/v1/cases/%s/access-log" % n)
    check(st == 200 and [x["client"] for x in log["reads"] if x["basis"] == "lookup"]
          == ["console2", "console2"], "as GET /v1/cases/{n}/access-log shows an admin", log)
    for params, code, field in (({}, "missing_field", "id_number"),
                                ({"name": "查找儿童"}, "missing_field", "birth_date"),
                                ({"birth_date": "2013-02-03"}, "missing_field", "name"),
                                ({"id_number": id_number(), "name": "x", "birth_date":
                                  "2013-02-03"}, "inconsistent", "name"),
                                ({"id_number": "320102201503120026"}, "invalid_value",
                                 "id_number"),
                                ({"name": "x", "birth_date": "2013-02-30"}, "invalid_value",
                                 "birth_date"),
                                ({"name": "长" * 65, "birth_date": "2013-02-03"}, "too_long",
                                 "name")):
        st, h, r = lookup_child(c2, **params)
        check(is_error(st, r, 400, code) and r["error"].get("field") == field,
              "a child lookup with %s is 400 %s (%s)" % (sorted(params) or "nothing", code, field),
              (st, r))
    for who in ("police-320102", "gateway", "admin"):
        st, h, r = Client(daemon, who).get("/v1/callers/%s/history" % landline)
        st2, h, r2 = Client(daemon, who).get("/v1/children/cases?id_number=" + id_number())
        check(is_error(st, r, 403, "forbidden") and is_error(st2, r2, 403, "forbidden"),
              "%s may not look callers or children up: 403" % who, (st, r, st2, r2))


@test
def the_caseload_pages_by_keyset_newest_first(daemon):
    made = [open_case(daemon, client="console-b", risk_level=1 + i % 3)["case_number"]
            for i in range(7)]
    c = Client(daemon, "console-b")
    pages, cursor = [], None
    while len(pages) < 10:
        st, h, p = c.get("/v1/cases?limit=3" + ("&cursor=" + cursor if cursor else ""))
        if st != 200:
            break
        pages.append([x["case_number"] for x in p["cases"]])
        cursor = p.get("next_cursor")
        if not cursor:
            break
    listed = [n for p in pages for n in p]
    check(listed[:7] == made[::-1] and len(listed) == len(set(listed))
          and all(len(p) == 3 for p in pages[:-1]),
          "the centre's cases come newest first, three a page, each once, by cursor", pages)
    st, h, p = c.get("/v1/cases?risk=1&limit=200")
    check(st == 200 and [x["case_number"] for x in p["cases"]][:3] == [made[6], made[3],
                                                                       made[0]]
          and all(x["risk_level"] == 1 for x in p["cases"]), "risk= filters", p)
    item = p["cases"][0]
    check(set(item) >= {"case_number", "risk_level", "categories", "region_code", "status",
                        "created_at", "assignments", "next_due"}
          and item["next_due"]["kind"] == "acknowledge"
          and "测试" not in json.dumps(p, ensure_ascii=False) and "child" not in item,
          "an item holds its state, assignments and next clock, and no personal data", item)
    st, h, p = c.get("/v1/cases?state=closed")
    check(st == 200 and all(x["status"] == "closed" for x in p["cases"]), "state= filters", p)
    since = urllib.parse.quote(rfc3339(datetime.now(SHANGHAI) + timedelta(minutes=5)))
    st, h, p = c.get("/v1/cases?since=" + since)
    check(st == 200 and p["cases"] == [] and "next_cursor" not in p,
          "since= in the future lists nothing", p)
    st, h, p = Client(daemon, "console").get("/v1/cases?limit=200")
    check(st == 200 and not set(made) & {x["case_number"] for x in p["cases"]},
          "another centre's caseload lists none of them", len(p.get("cases", [])))
    for q, code, field in (("state=pending", "invalid_value", "state"),
                           ("risk=5", "out_of_range", "risk"), ("limit=201", "out_of_range",
                                                                "limit"),
                           ("since=yesterday", "invalid_value", "since"),
                           ("cursor=abc", "invalid_value", "cursor"),
                           ("cursor=" + made[0].replace("320104", "320102"), "invalid_value",
                            "cursor")):
        st, h, r = c.get("/v1/cases?" + q)
        check(is_error(st, r, 400, code) and r["error"]["field"] == field,
              "GET /v1/cases?%s is 400 %s" % (q, code), (st, r))
    for who in ("police-320104", "gateway", "admin"):
        st, h, r = Client(daemon, who).get("/v1/cases")
        check(is_error(st, r, 403, "forbidden"), "%s has no caseload: 403" % who, (st, r))


@test
def two_cases_of_one_child_are_linked_by_hand(daemon):
    a = open_case(daemon)["case_number"]
    b = open_case(daemon, "cases.neglect-child-region-only.valid.json")["case_number"]
    other = open_case(daemon, client="console-b")["case_number"]
    st, r = post(daemon, "console2", "/v1/cases/%s/links" % a, {"case_number": b})
    check(st == 201 and [x["case_number"] for x in r["linked_cases"]] == [b],
          "an operator links two cases of its centre (201)", (st, r))
    for n, o in ((a, b), (b, a)):
        st, h, v = view(daemon, "console", n)
        check([x["case_number"] for x in v["linked_cases"]] == [o]
              and [e["linked"] for e in v["history"] if e["kind"] == "case_linked"] == [o],
              "%s lists the other and has the link in its history" % n, v.get("linked_cases"))
    st, h, v = view(daemon, "education-320104", a)
    check(st == 200 and [x["case_number"] for x in v["linked_cases"]] == [],
          "an agency not on the other case does not see it listed",
          v.get("linked_cases"))
    for who, target, body, status, code in (
            ("console", a, {"case_number": b}, 409, "invalid_transition"),
            ("console", a, {"case_number": a}, 422, "invalid_value"),
            ("console", a, {"case_number": other}, 422, "unknown_case"),
            ("console-b", a, {"case_number": other}, 404, "not_found"),
            ("gateway", a, {"case_number": b}, 403, "forbidden")):
        st, r = post(daemon, who, "/v1/cases/%s/links" % target, body)
        check(is_error(st, r, status, code), "%s linking %s: %d %s" % (who, body, status, code),
              (st, r))
    # The school's (320102) education bureau is informed of the report, in
    # the school's county (009_routing_by_law.sql); the child's police are
    # its primary.
    report = file_report(daemon, lib.personal_report(region="320104"))["case_number"]
    informed = assignment_of(daemon, "education-320102", report)
    st, r = post(daemon, "education-320102", "/v1/cases/%s/links" % report, {"case_number": a})
    check(informed and informed["role"] == "inform" and is_error(st, r, 403, "forbidden"),
          "an agency informed of a case does not link it: 403", (informed, st, r))
    st, r = post(daemon, "police-320104", "/v1/cases/%s/links" % report, {"case_number": a})
    check(st == 201 and [x["case_number"] for x in r["linked_cases"]] == [a],
          "the primary police link their report case to the operator's case they also have",
          (st, r))
    st, h, v = view(daemon, "console", a)
    check([e["linked"] for e in v["history"] if e["kind"] == "case_linked"] == [b, report]
          and [x["case_number"] for x in v["linked_cases"]] == [b],
          "the operator sees the police's link in the history, and lists only the cases it"
          " may see", (v.get("linked_cases"), v.get("history")))


@test
def an_operators_notes_are_bound_to_their_place_in_the_history(daemon):
    # Sealed under note:<id> (010_casework.sql), as the agencies' notes are:
    # each event keeps its note id, and a ciphertext moved to another
    # event's row no longer opens.
    n = open_case(daemon)["case_number"]
    tag = uuid.uuid4().hex[:6]
    st, r = post(daemon, "console", "/v1/cases/%s/notes" % n, {"text": "（测试）笔记" + tag})
    st2, r2 = post(daemon, "console", "/v1/cases/%s/risk" % n,
                   {"risk_level": 1, "reason": "（测试）升级理由" + tag})
    if not check(st == 201 and st2 == 201, "an operator notes a case and re-grades it with a"
                 " reason (201)", (st, r, st2, r2)):
        return
    seqs = (r["seq"], r2["seq"])
    ids = scalar("select count(distinct e.data->>'note_id') from hotline.case_events e"
                 " join hotline.cases c on c.id = e.case_id where c.case_number = :'a0'"
                 " and e.seq in (:a1, :a2) and e.data->>'note_id' ~ '^[0-9a-f]{32}$'", n, *seqs)
    st, h, v = view(daemon, "console", n)
    notes = {e["seq"]: e.get("note") for e in v["history"]}
    check(ids == "2" and notes.get(seqs[0]) == "（测试）笔记" + tag
          and notes.get(seqs[1]) == "（测试）升级理由" + tag,
          "each keeps a note id of its own in its event, and opens in place", (ids, notes))
    psql("update hotline.case_notes m set text = (select x.text from hotline.case_notes x"
         " where x.case_id = m.case_id and x.seq = :a1) from hotline.cases c"
         " where c.id = m.case_id and c.case_number = :'a0' and m.seq = :a2", n, *seqs)
    st, h, v = view(daemon, "console", n)
    notes = {e["seq"]: e.get("note") for e in v["history"]}
    check(notes.get(seqs[1]) == {"unreadable": True} and notes.get(seqs[0]) == "（测试）笔记" + tag,
          "the note's ciphertext moved to the reason's event does not open there", notes)


@test
def a_reporter_supplements_its_report_and_the_agencies_see_it(daemon):
    made = file_report(daemon, lib.personal_report())
    n, receipt = made["case_number"], made["receipt_id"]
    text = "（测试）补充：孩子又说出一个细节" + uuid.uuid4().hex[:6]
    st, r = post(daemon, "gateway", "/v1/reports/%s/supplements" % receipt, {"text": text})
    check(st == 201 and r["receipt_id"] == receipt and r["seq"] > 1,
          "the gateway adds a supplement to its report (201)", (st, r))
    mine = [a for a in queue(daemon, "police-320102", "?limit=500") if a["case_number"] == n]
    check(mine and "case_updated_at" in mine[0], "the police's queue shows the case as updated",
          mine)
    st, h, v = view(daemon, "police-320102", n)
    sup = [e for e in v["history"] if e["kind"] == "supplement"]
    check(st == 200 and len(sup) == 1 and sup[0]["note"] == text,
          "the primary police read the supplement in the history", sup)
    st, h, v = view(daemon, "education-320102", n)
    check(st == 200 and [e["note"] for e in v["history"] if e["kind"] == "supplement"]
          == [{"withheld": True}], "an informed education bureau sees that it came, not what it"
          " says", v.get("history"))
    for who, status, code in (("gateway2", 404, "not_found"), ("console", 403, "forbidden"),
                              ("police-320102", 403, "forbidden")):
        st, r = post(daemon, who, "/v1/reports/%s/supplements" % receipt, {"text": text})
        check(is_error(st, r, status, code), "%s: %d %s" % (who, status, code), (st, r))
    code, out = lib.hotlinectl("purge", "--case", n)
    st, r = post(daemon, "gateway", "/v1/reports/%s/supplements" % receipt, {"text": text})
    check(code == 0 and is_error(st, r, 409, "case_purged"),
          "once the case is purged: 409 case_purged", (code, out, st, r))
