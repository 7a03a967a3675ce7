"""Routing and queues: reports and calls reach the agencies that must act
(by situation, category, risk, region and institution), a long poll wakes
when work arrives through another daemon, and an assignment can be
transferred."""

import threading
import time

from .lib import (Client, Daemon, assignment_of, check, example_json, file_report, log_call,
                  new_key, psql, test)


@test
def reports_reach_the_agencies_that_must_act(daemon):
    b = file_report(daemon, "reports.missing-immediate-danger.valid.json")
    n = b["case_number"]
    roles = {}
    for agency in ("police-320104", "procuratorate-320104", "civil_affairs-320104",
                   "education-320104", "police-320102", "health-320104"):
        a = assignment_of(daemon, agency, n)
        roles[agency] = a and a["role"]
    check(roles == {"police-320104": "primary", "procuratorate-320104": "supervise",
                    "civil_affairs-320104": "inform", "education-320104": None,
                    "police-320102": None, "health-320104": None},
          "a trafficking report reaches the child's county police, procuratorate and civil affairs",
          roles)
    a = assignment_of(daemon, "police-320104", n)
    kinds = sorted(c["kind"] for c in a["clocks"])
    check(kinds == ["acknowledge", "first_action", "resolve"] and a["risk_level"] == 1,
          "the primary assignment has its own acknowledge, action and resolve clocks", a)
    check(not assignment_of(daemon, "procuratorate-320104", n)["clocks"],
          "supervision and inform assignments carry no service clocks")
    st, h, view = Client(daemon, "police-320104").get("/v1/cases/" + n)
    check(st == 200 and len(view["assignments"]) == 3 and all(
        x["clocks"] is not None for x in view["assignments"]),
          "the case view shows every assignment, its state and each clock", view.get("assignments"))
    school = file_report(daemon, "reports.sexual-abuse.valid.json")
    check(assignment_of(daemon, "education-320102", school["case_number"])["role"] == "inform",
          "a report from a school informs the county education bureau")
    hosp = file_report(daemon, "reports.domestic-violence-hospital.valid.json")
    check(assignment_of(daemon, "health-320104", hosp["case_number"])["role"] == "inform",
          "a report from a hospital informs the county health commission")


@test
def calls_route_by_category_and_risk(daemon):
    def open_case(categories, risk, region="320102"):
        body = example_json("calls.case-opened.valid.json")
        body["open_case"]["categories"] = categories
        body["open_case"]["risk_level"] = risk
        body["open_case"]["child"]["region_code"] = region
        return log_call(daemon, body)["case_number"]

    def agencies(n):
        return sorted(r[0] + ":" + r[1] for r in psql(
            "select g.code, a.role from hotline.assignments a join hotline.agencies g on"
            " g.id = a.agency_id join hotline.cases c on c.id = a.case_id"
            " where c.case_number = :'a0'", n))
    n = open_case([{"category": "bullying", "subcategory": "verbal"}], 3)
    check(agencies(n) == ["education-320102:primary"], "repeated bullying goes to education only",
          agencies(n))
    n = open_case([{"category": "bullying", "subcategory": "physical"}], 2)
    check(agencies(n) == ["education-320102:primary", "police-320102:primary",
                          "procuratorate-320102:supervise"],
          "serious bullying also reaches police, with the procuratorate supervising", agencies(n))
    n = open_case([{"category": "psychological", "subcategory": "suicidal"}], 1, "320104")
    check(agencies(n) == ["health-320104:primary", "police-320104:primary"],
          "a suicide in progress reaches the crisis team and police", agencies(n))
    n = open_case([{"category": "legal", "subcategory": "rights_complaint"},
                   {"category": "psychological", "subcategory": "study_pressure"}], 4)
    check(agencies(n) == ["health-320102:primary", "legal_aid-320102:primary",
                          "procuratorate-320102:inform"],
          "a case with two categories reaches every agency each needs", agencies(n))


@test
def a_long_poll_wakes_when_work_arrives_in_another_daemon(daemon):
    other = Daemon("poller").start()
    try:
        res = [None]
        t0 = time.monotonic()

        def poll():
            try:
                res[0] = Client(other, "police-320104", timeout=30).get(
                    "/v1/queue?state=open&limit=500&wait=20")
            except Exception as e:
                res[0] = e
        # Earlier tests left open work in this queue: mark it seen, so the poll waits.
        psql("update hotline.assignments set state = 'acknowledged' where state = 'open' and"
             " agency_id = (select id from hotline.agencies where code = 'police-320104')")
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(1.0)
        check(t.is_alive(), "with nothing open the long poll waits")
        b = file_report(daemon, "reports.missing-immediate-danger.valid.json")
        t.join(25)
        elapsed = time.monotonic() - t0
        got = res[0]
        ok = (not isinstance(got, Exception) and got[0] == 200 and
              any(a["case_number"] == b["case_number"] for a in got[2]["assignments"]))
        check(ok and elapsed < 10, "a report filed through one daemon wakes a long poll in another"
              " (%.1fs)" % elapsed, got)
        t0 = time.monotonic()
        # Only police prosecute: an education bureau's list of such work stays empty.
        st, h, body = Client(other, "education-320104").get("/v1/queue?state=prosecution&wait=2")
        check(st == 200 and body["assignments"] == [] and 1.5 < time.monotonic() - t0 < 5,
              "a long poll with nothing new answers an empty list when the wait ends")
        st, h, body = Client(other, "police-320102").get("/v1/queue?wait=9999")
        check(st == 400 and body["error"]["field"] == "wait", "an excessive wait is refused", body)
        st, h, body = Client(other, "police-320102").get("/v1/queue?state=lost")
        check(st == 400 and body["error"]["field"] == "state", "an unknown state is refused", body)
    finally:
        check(other.stop() == 0, "the polling daemon stops cleanly")


@test
def an_assignment_can_be_transferred(daemon):
    b = file_report(daemon, "reports.missing-immediate-danger.valid.json")
    n = b["case_number"]
    a = assignment_of(daemon, "police-320104", n)
    c = Client(daemon, "police-320104")
    st, h, r = c.post("/v1/assignments/%s/transfer" % a["assignment_id"],
                      {"target_agency": "police-320102", "reason": "（测试）属地管辖"}, new_key())
    check(st == 201 and r["transferred"]["state"] == "transferred" and r["new"]["agency"] ==
          "police-320102" and r["new"]["state"] == "open", "the work is handed over", (st, r))
    new = assignment_of(daemon, "police-320102", n)
    sent = {x["kind"]: x["due_at"] for x in a["clocks"]}
    check(new is not None and {x["kind"]: x["due_at"] for x in new["clocks"]} == sent
          and all(x["status"] == "running" for x in new["clocks"]),
          "the new agency's assignment carries the time left: the same clocks, due when they"
          " were (a transfer restarts no deadline)", (new, sent))
    for who in ("police-320104", "police-320102"):
        st, h, v = Client(daemon, who).get("/v1/cases/" + n)
        check(st == 200 and any(e["kind"] == "transferred" for e in v["history"]),
              "%s sees the transfer in the history" % who, st)
    st, h, r = c.post("/v1/assignments/%s/transfer" % a["assignment_id"],
                      {"target_agency": "police-320100", "reason": "again"}, new_key())
    check(st == 409, "a transferred assignment cannot be transferred again", (st, r))
    st, h, r = Client(daemon, "police-320102").post(
        "/v1/assignments/%s/transfer" % new["assignment_id"],
        {"target_agency": "nowhere", "reason": "x"}, new_key())
    check(st == 422 and r["error"]["code"] == "unknown_agency", "an unknown target is 422", (st, r))
