"""Casework that follows the law, scenario by scenario (domain.md): routing
of mandatory reports (straight to the police; the reporter's sector
department; bullying to the school's county; the default office; a region's
own rule), the clocks (police acknowledge reports within the hour; the
24-hour transfer clock; a transfer buys no time; criminal procedure after
立案; any first action; one escalation per clock; the school's
investigation), assignments that finish (inform and supervise closing,
escalated copies standing down, closing the case), supervision across the
region, the reporter's milestones, a declined case's clocks and notes bound
to their place in the history.  Real daemon, real database, deadlines of a
few seconds where a clock must fall due."""

import json
import time
import uuid

from .lib import (Client, ShortDeadlines, assignment_of, check, example_json, file_report,
                  history, log_call, new_key, personal_report, psql, queue, scalar, test, view,
                  wait_until)


# ---------------------------------------------------------------- helpers

def report(name="reports.sexual-abuse.valid.json", **changes):
    """An example report with changes: institution_type=, institution_region=
    (None: left out), child_region=, situations=, categories=,
    immediate_danger=."""
    body = example_json(name)
    if "institution_type" in changes:
        body["institution"]["type"] = changes["institution_type"]
    if "institution_region" in changes:
        if changes["institution_region"] is None:
            body["institution"].pop("region_code", None)
        else:
            body["institution"]["region_code"] = changes["institution_region"]
    if "child_region" in changes:
        body["child"]["region_code"] = changes["child_region"]
    for k in ("situations", "categories", "immediate_danger"):
        if k in changes:
            body[k] = changes[k]
    return body


def call(categories, risk, region="320102"):
    """A call that opens a case with these categories, risk and region."""
    body = example_json("calls.case-opened.valid.json")
    body["open_case"]["categories"] = categories
    body["open_case"]["risk_level"] = risk
    body["open_case"]["child"]["region_code"] = region
    return body


def roles(n):
    """{agency: role} of a case's assignments not transferred away."""
    return dict((r[0], r[1]) for r in psql(
        "select g.code, a.role from hotline.assignments a join hotline.agencies g on"
        " g.id = a.agency_id join hotline.cases c on c.id = a.case_id"
        " where c.case_number = :'a0' and a.state <> 'transferred'", n))


def post(daemon, who, n, body):
    """POST an event to a case as an agency; (status, body)."""
    st, h, b = Client(daemon, who).post("/v1/cases/%s/events" % n, body, new_key())
    return st, b


def ack(daemon, who, assignment):
    """Acknowledge an assignment; (status, body)."""
    st, h, b = Client(daemon, who).post("/v1/assignments/%s/ack" % assignment, None, new_key())
    return st, b


def transfer(daemon, who, assignment, target, reason="（测试）属地管辖"):
    """Transfer an assignment; (status, body)."""
    st, h, b = Client(daemon, who).post("/v1/assignments/%s/transfer" % assignment,
                                        {"target_agency": target, "reason": reason}, new_key())
    return st, b


def clocks(n, agency, states=("open", "acknowledged", "accepted", "case_opened", "declined",
                              "outside_jurisdiction", "prosecution", "resolved")):
    """{kind: (status, due epoch)} of an agency's live assignment's clocks on a case."""
    return {r[0]: (r[1], float(r[2])) for r in psql(
        "select k.kind, case when k.stopped_at is not null then 'stopped'"
        " when k.fired_at is not null then 'missed' else 'running' end,"
        " extract(epoch from k.due_at) from hotline.clocks k"
        " join hotline.assignments a on a.id = k.assignment_id"
        " join hotline.agencies g on g.id = a.agency_id join hotline.cases c on c.id = a.case_id"
        " where c.case_number = :'a0' and g.code = :'a1'"
        " and a.state = any (string_to_array(:'a2', ',')) order by k.id", n, agency,
        ",".join(states))}


def events(n, kind):
    """The data of a case's history events of one kind."""
    return [json.loads(r[0]) for r in psql(
        "select e.data from hotline.case_events e join hotline.cases c on c.id = e.case_id"
        " where c.case_number = :'a0' and e.kind = :'a1' order by e.seq", n, kind)]


def state_of(n, agency, level=0):
    """The state of an agency's assignment on a case at an escalation level (the newest)."""
    return scalar("select a.state from hotline.assignments a join hotline.agencies g on"
                  " g.id = a.agency_id join hotline.cases c on c.id = a.case_id"
                  " where c.case_number = :'a0' and g.code = :'a1' and a.escalation_level = :a2"
                  " order by a.id desc limit 1", n, agency, level)


class Rows:
    """Rows of a table of settings (settings, deadlines, statutory_clocks)
    changed for the duration of a block, and put back row by row (key: an
    expression naming each row)."""

    def __init__(self, table, key, column, value, where):
        self.table, self.key, self.column = table, key, column
        self.value, self.where = value, where

    def __enter__(self):
        self.saved = psql("select %s, %s::text from hotline.%s where %s"
                          % (self.key, self.column, self.table, self.where))
        psql("update hotline.%s set %s = :'a0' where %s" % (self.table, self.column, self.where),
             self.value)
        return self

    def __exit__(self, *exc):
        for k, v in self.saved:
            psql("update hotline.%s set %s = :'a0' where %s = :'a1'"
                 % (self.table, self.column, self.key), v, k)


def setting(name, value):
    """A setting changed for a block."""
    return Rows("settings", "name", "value", value, "name = '%s'" % name)


def statutory(outcome, within):
    """The statutory clocks an outcome starts, of another length for a block."""
    return Rows("statutory_clocks", "outcome || '/' || clock", "within", within,
                "outcome = '%s'" % outcome)


def resolve_within(within):
    """Every risk level's resolve clock of another length for a block."""
    return Rows("deadlines", "risk_level::text", "resolve", within, "true")


def status_of(daemon, receipt):
    """The reporter's status (as the gateway reads it)."""
    st, h, b = Client(daemon, "gateway").get("/v1/reports/%s/status" % receipt)
    assert st == 200, (st, b)
    return b


# ---------------------------------------------------------------- routing by law

@test
def a_mandatory_report_reaches_the_police_whatever_its_situation(daemon):
    n = file_report(daemon, "reports.self-harm.valid.json")["case_number"]
    check(roles(n) == {"police-320102": "primary", "health-320102": "primary",
                       "education-320102": "inform"},
          "a child disabled by self-harm or a beating (situation 5) reaches the county police as"
          " primary, the crisis team, and the school's education bureau", roles(n))
    for name in ("reports.neglect-community.valid.json", "reports.organised-begging.valid.json",
                 "reports.pregnancy-clinic.valid.json"):
        b = json.loads(json.dumps(example_json(name)))
        n = file_report(daemon, b)["case_number"]
        police = "police-" + b["child"]["region_code"]
        check(roles(n).get(police) == "primary", "%s reaches %s as primary" % (name, police),
              roles(n))
    n = file_report(daemon, report("reports.domestic-violence-hospital.valid.json",
                                   categories=[{"category": "bullying",
                                                "subcategory": "physical"}]))["case_number"]
    cats = scalar("select string_agg(category || '/' || subcategory, ',') from"
                  " hotline.case_categories k join hotline.cases c on c.id = k.case_id"
                  " where c.case_number = :'a0'", n)
    check(cats == "bullying/physical",
          "a report of multiple injuries (situation 4) says it is bullying in its categories", cats)
    st, h, b = Client(daemon, "gateway").post("/v1/reports", report(
        "reports.missing-immediate-danger.valid.json", situations=[7],
        categories=[{"category": "bullying", "subcategory": "cyber"}]), new_key())
    check(st == 422 and b["error"] == {"code": "category_not_allowed", "field": "categories[0]",
                                       "message": b["error"].get("message")},
          "a category none of its situations may carry is 422 category_not_allowed", (st, b))


@test
def the_reporters_sector_department_is_informed_by_institution_type(daemon):
    want = {"school": "education-320104", "kindergarten": "education-320104",
            "nursery": "health-320104", "hospital": "health-320104", "clinic": "health-320104",
            "welfare_institution": "civil_affairs-320104",
            "social_work_agency": "civil_affairs-320104", "hotel": None}
    got = {}
    for kind in want:
        n = file_report(daemon, report("reports.self-harm.valid.json", institution_type=kind,
                                       institution_region="320104"))["case_number"]
        informed = [a for a, r in roles(n).items() if r == "inform"]
        got[kind] = informed[0] if len(informed) == 1 else (informed or None)
    check(got == want, "schools and kindergartens inform education, nurseries (托育), hospitals and"
          " clinics health, welfare bodies civil affairs, of the institution's county", got)


@test
def bullying_goes_to_the_schools_county(daemon):
    b = report("reports.kindergarten-injury.valid.json", situations=[4], institution_type="school",
               institution_region="320104", child_region="320102",
               categories=[{"category": "bullying", "subcategory": "physical"}])
    n = file_report(daemon, b)["case_number"]
    check(roles(n) == {"police-320102": "primary", "education-320104": "primary",
                       "police-320104": "primary", "procuratorate-320104": "supervise"},
          "bullying at risk 2 reported by a school of 320104 about a child living in 320102: the"
          " school's county's education bureau and police, its procuratorate supervising, and"
          " the child's county's police as for every report", roles(n))
    n = log_call(daemon, call([{"category": "bullying", "subcategory": "verbal"}], 3))["case_number"]
    check(roles(n) == {"education-320102": "primary"}, "bullying at risk 3 by phone: education"
          " only", roles(n))


@test
def a_case_no_agency_serves_goes_to_the_default_office(daemon):
    n = log_call(daemon, call([{"category": "psychological", "subcategory": "anxiety_depression"}],
                              3, "340102"))["case_number"]
    check(roles(n) == {"coordination-320100": "primary"}, "a call from 瑶海区, where no agency"
          " serves it and no coordination office is above it, goes to the default office",
          roles(n))
    b = report("reports.self-harm.valid.json", child_region="340102", institution_type="hotel",
               institution_region=None)
    n = file_report(daemon, b)["case_number"]
    check(roles(n) == {"police-340102": "primary"}, "a report there reaches its police", roles(n))
    with ShortDeadlines(ack=2, action=600):
        n = file_report(daemon, b)["case_number"]
    ok = wait_until(lambda: any(e["kind"] == "escalated" and e["agency"] == "coordination-320100"
                                for e in history(n)), 15, 0.25)
    check(ok, "and its late police escalate to the default office",
          [(e["kind"], e["agency"]) for e in history(n)])
    q = [a["case_number"] for a in queue(daemon, "coordination-320100", "?limit=500")]
    check(n in q, "which has it in its queue")


@test
def a_regions_own_rule_applies_to_its_cases(daemon):
    n = file_report(daemon, "reports.village-abandonment.valid.json")["case_number"]
    check(roles(n).get("coordination-320104") == "inform",
          "秦淮区's own rule (region_prefix 320104): its coordination office is told of a child"
          " abandoned there", roles(n))
    n = file_report(daemon, "reports.neglect-community.valid.json")["case_number"]
    check("coordination-320102" not in roles(n), "not of one in 玄武区", roles(n))


# ---------------------------------------------------------------- clocks

@test
def the_police_acknowledge_a_report_within_the_hour_whatever_its_risk(daemon):
    b = file_report(daemon, "reports.neglect-community.valid.json")      # risk 3
    n = b["case_number"]
    created = float(scalar("select extract(epoch from created_at) from hotline.cases"
                           " where case_number = :'a0'", n))
    due = clocks(n, "police-320102")["acknowledge"][1] - created
    check(b["risk_level"] == 3 and 3590 < due < 3610,
          "a risk-3 report's police acknowledge clock is due in 1 hour, not 24 (%.0f s)" % due)
    with setting("report_police_acknowledge", "5 minutes"):
        n = file_report(daemon, "reports.neglect-community.valid.json")["case_number"]
    created = float(scalar("select extract(epoch from created_at) from hotline.cases"
                           " where case_number = :'a0'", n))
    due = clocks(n, "police-320102")["acknowledge"][1] - created
    check(290 < due < 310, "the setting report_police_acknowledge decides it (%.0f s)" % due)
    n = log_call(daemon, call([{"category": "abuse", "subcategory": "neglect"}], 3))["case_number"]
    created = float(scalar("select extract(epoch from created_at) from hotline.cases"
                           " where case_number = :'a0'", n))
    due = clocks(n, "police-320102")["acknowledge"][1] - created
    check(due > 86000, "a call's police keep the risk level's deadline (%.0f s)" % due)


@test
def outside_jurisdiction_starts_the_24_hour_transfer_clock(daemon):
    b = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = b["case_number"]
    a = assignment_of(daemon, "police-320102", n)
    before = clocks(n, "police-320102")
    st, r = post(daemon, "police-320102", n, {"type": "outcome", "outcome": "outside_jurisdiction",
                                              "reason": "（测试）案发地不在本辖区"})
    now = time.time()
    k = clocks(n, "police-320102")
    carried = {kind: due for kind, (s, due) in k.items() if s == "running" and kind != "transfer"}
    check(st == 201 and r["assignment"]["state"] == "outside_jurisdiction"
          and k.get("transfer", ("", 0))[0] == "running"
          and abs(k["transfer"][1] - now - 86400) < 60,
          "marking it outside the jurisdiction starts the 24-hour transfer clock", (st, r, k))
    st, r = transfer(daemon, "police-320102", a["assignment_id"], "education-320104")
    check(st == 422 and r["error"]["field"] == "target_agency",
          "a transfer needs a target agency of the same kind", (st, r))
    st, r = transfer(daemon, "police-320102", a["assignment_id"], "police-320104")
    check(st == 201 and clocks(n, "police-320102", ("transferred",)).get("transfer", ("",))[0]
          == "stopped", "the transfer stops the transfer clock", (st, r))
    got = clocks(n, "police-320104")
    check(carried and all(got.get(kind, ("", 0))[1] == due for kind, due in carried.items())
          and "transfer" not in got and got.get("acknowledge", ("",))[0] == "running",
          "the receiver's clocks carry the time left (due at the same instants); its"
          " acknowledgement is its own", (got, carried))
    st, r = ack(daemon, "police-320104", r["new"]["assignment_id"])
    check(st == 200 and r["state"] == "acknowledged", "the receiver acknowledges as usual", (st, r))
    back = assignment_of(daemon, "police-320104", n)
    st, r = transfer(daemon, "police-320104", back["assignment_id"], "police-320102")
    again = clocks(n, "police-320102")
    check(st == 201 and again["resolve"][1] == before["resolve"][1] and "first_action" not in again,
          "passing it back buys no time: the resolve clock keeps its due time, the first action"
          " done is not asked again", (again, before))
    ms = [m["milestone"] for m in status_of(daemon, b["receipt_id"])["milestones"]]
    check(ms.count("transferred") == 2, "the reporter's milestones show each transfer", ms)
    # A transfer clock left to run out escalates like any other.
    with statutory("outside_jurisdiction", "2 seconds"):
        n2 = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
        st, r = post(daemon, "police-320102", n2, {"type": "outcome",
                                                   "outcome": "outside_jurisdiction"})
    ok = wait_until(lambda: any(e["kind"] == "escalated" and e["clock"] == "transfer"
                                for e in history(n2)), 15, 0.25)
    check(st == 201 and ok, "a transfer not made within its time escalates to the city police",
          [(e["kind"], e["clock"], e["agency"]) for e in history(n2)])


@test
def criminal_procedure_replaces_the_resolve_clock_after_case_opening(daemon):
    with resolve_within("4 seconds"):
        b = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = b["case_number"]
    p = "police-320102"
    st, r = post(daemon, p, n, {"type": "outcome", "outcome": "case_opened",
                                "police_case_number": "A3201020000002026119999"})
    k = clocks(n, p)
    check(st == 201 and k["resolve"][0] == "stopped" and k["feedback"][0] == "running",
          "立案 stops the resolve clock and starts the 3-day feedback clock", k)
    time.sleep(5)
    missed = [e["clock"] for e in history(n) if e["kind"] == "clock_missed"
              and e["agency"] == p]
    check("resolve" not in missed and not any(e["kind"] == "escalated" for e in history(n)
                                              if e["agency"] == "police-320100"),
          "so a criminal case is not escalated to the city when the service deadline passes",
          missed)
    st, r = post(daemon, p, n, {"type": "outcome", "outcome": "prosecution"})
    check(st == 409 and r["error"]["code"] == "invalid_transition",
          "移送审查起诉 before the reporting unit is told is refused", (st, r))
    st, r = post(daemon, p, n, {"type": "feedback", "notice": "prosecution",
                                "text": "（测试）本案将移送审查起诉"})
    check(st == 201, "the police tell the reporting unit before 移送审查起诉", (st, r))
    st, r = post(daemon, p, n, {"type": "outcome", "outcome": "prosecution"})
    check(st == 201 and r["assignment"]["state"] == "prosecution"
          and clocks(n, p)["resolve"][0] == "stopped",
          "then 移送审查起诉 is recorded, the resolve clock still stopped", (st, r))
    ms = [m["milestone"] for m in status_of(daemon, b["receipt_id"])["milestones"]]
    check(ms == ["received", "accepted", "case_opened", "prosecution_notice"],
          "the reporter's milestones include the notice before 移送审查起诉", ms)
    st, r = post(daemon, p, n, {"type": "feedback", "notice": "prosecution"})
    check(st == 409 and r["error"]["field"] == "notice",
          "the notice is given while the case is open (立案), not after", (st, r))


@test
def any_first_action_stops_the_first_action_clock(daemon):
    n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    a = assignment_of(daemon, "police-320102", n)
    st, r = ack(daemon, "police-320102", a["assignment_id"])
    k = clocks(n, "police-320102")
    check(st == 200 and k["first_action"][0] == "running",
          "acknowledging leaves the first-action clock running", k)
    st, r = post(daemon, "police-320102", n, {"type": "note", "text": "（测试）已联系学校"})
    k = clocks(n, "police-320102")
    check(st == 201 and k["first_action"][0] == "stopped" and k["resolve"][0] == "running",
          "a note posted after acknowledging stops it (and only it)", k)
    n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    post(daemon, "police-320102", n, {"type": "feedback", "text": "（测试）已受理"})
    check(clocks(n, "police-320102")["first_action"][0] == "stopped",
          "so does feedback to the reporting unit")


@test
def an_assignment_escalates_once_per_clock_and_its_copies_follow_the_work(daemon):
    with ShortDeadlines(ack=2, action=600):
        n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    p = "police-320102"
    ok = wait_until(lambda: state_of(n, "police-320100", 1) is not None, 15, 0.25)
    check(ok, "the county police miss their acknowledge clock: a copy goes to the city police")
    a = assignment_of(daemon, p, n)
    st, r = ack(daemon, p, a["assignment_id"])
    copy = [x for x in view(daemon, "police-320100", n)[2]["assignments"]
            if x["agency"] == "police-320100"][0]
    check(st == 200 and copy["state"] == "returned"
          and copy.get("escalated_from", {}).get("state") == "acknowledged"
          and all(c["status"] in ("stopped", "missed") for c in copy["clocks"]),
          "the county acknowledges late: the city's copy shows it and stands down (returned)",
          copy)
    check(n not in [x["case_number"] for x in queue(daemon, "police-320100", "?limit=500")],
          "and leaves the city's queue of open work")
    check(any(e["kind"] == "returned" for e in history(n)), "the history says so")
    with statutory("accepted", "2 seconds"):
        st, r = post(daemon, p, n, {"type": "outcome", "outcome": "accepted"})
    ok = wait_until(lambda: len(events(n, "escalated")) == 2, 15, 0.25)
    esc = [(e["clock"], e["level"]) for e in events(n, "escalated")]
    froms = {e["from"] for e in events(n, "escalated")}
    check(st == 201 and ok and esc == [("acknowledge", 1), ("feedback", 1)]
          and froms == {a["assignment_id"]},
          "having escalated for a late acknowledgement, it escalates again when it misses its"
          " statutory feedback clock", esc)
    check(state_of(n, "police-320100", 1) == "open", "the new copy is open at the city")


@test
def every_copy_up_the_chain_stands_down_when_the_county_acts(daemon):
    with ShortDeadlines(ack=2, action=600):
        n = log_call(daemon, call([{"category": "psychological", "subcategory": "self_harm"}],
                                  2))["case_number"]
        ok = wait_until(lambda: state_of(n, "procuratorate-320100", 3) is not None, 20, 0.25)
    check(ok, "nobody acts: the crisis team's case climbs to the city, the coordination office and"
          " the procuratorate", [(e["kind"], e["agency"]) for e in history(n)])
    a = assignment_of(daemon, "health-320102", n)
    st, r = ack(daemon, "health-320102", a["assignment_id"])
    got = {x: state_of(n, x, lvl) for x, lvl in (("health-320100", 1), ("coordination-320100", 2),
                                                  ("procuratorate-320100", 3))}
    check(st == 200 and set(got.values()) == {"returned"},
          "the county acknowledges late: the copies at the city, the coordination office and the"
          " procuratorate all stand down", got)
    check(sorted(e["agency"] for e in events(n, "returned")) == sorted(got),
          "each with its event in the history", events(n, "returned"))
    check(not any(x["case_number"] == n for x in queue(daemon, "procuratorate-320100",
                                                        "?limit=500")),
          "and leaves the procuratorate's supervision queue")


@test
def escalated_copies_never_block_closing_the_case(daemon):
    with ShortDeadlines(ack=2, action=600):
        n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    wait_until(lambda: state_of(n, "police-320100", 1) is not None, 15, 0.25)
    city = assignment_of(daemon, "police-320100", n)
    ack(daemon, "police-320100", city["assignment_id"])
    st, r = post(daemon, "police-320100", n, {"type": "outcome", "outcome": "accepted"})
    check(st == 201, "the city police take the case over (受案)", (st, r))
    p = "police-320102"
    a = assignment_of(daemon, p, n)
    ack(daemon, p, a["assignment_id"])
    check(state_of(n, "police-320100", 1) == "accepted",
          "a copy that took the work over does not stand down when the county acts")
    edu = assignment_of(daemon, "education-320102", n)
    ack(daemon, "education-320102", edu["assignment_id"])
    for body in ({"type": "outcome", "outcome": "declined", "reason": "（测试）不构成犯罪"},
                 {"type": "feedback"}, {"type": "outcome", "outcome": "closed"}):
        st, r = post(daemon, p, n, body)
    st2, h, v = view(daemon, "admin", n)
    live = [x["agency"] for x in v["assignments"] if x["state"] not in ("closed", "transferred",
                                                                       "returned")]
    closed_events = [e["agency"] for e in events(n, "assignment_closed")]
    check(st == 201 and v["status"] == "closed" and not live
          and sorted(closed_events) == ["education-320102", "police-320100",
                                        "procuratorate-320102"]
          and events(n, "case_closed"),
          "closing the primary closes the case and its remaining live work (the city's copy, the"
          " informed and supervising agencies), each with a history event", (v["status"], live,
                                                                             closed_events))
    check(not any(x["case_number"] == n for x in queue(daemon, "education-320102", "?limit=500")),
          "and they leave the queues")


@test
def the_schools_investigation_clock_starts_at_intake_and_never_restarts(daemon):
    b = report("reports.kindergarten-injury.valid.json", situations=[4], institution_type="school",
               institution_region="320104", child_region="320102",
               categories=[{"category": "bullying", "subcategory": "physical"}])
    with ShortDeadlines(ack=2, action=600):
        n = file_report(daemon, b)["case_number"]
    created = float(scalar("select extract(epoch from created_at) from hotline.cases"
                           " where case_number = :'a0'", n))
    inv = clocks(n, "education-320104").get("investigation")
    check(inv and inv[0] == "running" and abs(inv[1] - created - 10 * 86400) < 5,
          "the education bureau of the school's county gets the 10-day investigation clock at"
          " intake", inv)
    check(not clocks(n, "police-320104").get("investigation"), "the police do not")
    ok = wait_until(lambda: state_of(n, "education-320100", 1) is not None, 15, 0.25)
    check(ok and "investigation" not in clocks(n, "education-320100"),
          "its escalated copy at the city gets no investigation clock of its own",
          clocks(n, "education-320100"))
    a = assignment_of(daemon, "education-320104", n)
    st, r = transfer(daemon, "education-320104", a["assignment_id"], "education-320102")
    moved = clocks(n, "education-320102").get("investigation")
    check(st == 201 and moved and moved[1] == inv[1],
          "a transfer carries it with its due time", (st, moved, inv))


# ---------------------------------------------------------------- assignments that finish

@test
def inform_and_supervise_assignments_are_closed_by_their_agency(daemon):
    n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    st, r = post(daemon, "education-320102", n, {"type": "outcome", "outcome": "closed"})
    check(st == 409 and r["error"]["code"] == "invalid_transition",
          "an informed agency closes only what it acknowledged", (st, r))
    st, r = post(daemon, "education-320102", n, {"type": "outcome", "outcome": "accepted"})
    check(st == 403, "and records no other outcome", (st, r))
    for agency, note in (("education-320102", "（测试）已知悉, 无需处理"),
                         ("procuratorate-320102", "（测试）监督结束")):
        a = assignment_of(daemon, agency, n)
        ack(daemon, agency, a["assignment_id"])
        st, r = post(daemon, agency, n, {"type": "outcome", "outcome": "closed", "text": note})
        check(st == 201 and r["assignment"]["state"] == "closed",
              "%s closes its acknowledged assignment with a note" % agency, (st, r))
        q = [x["case_number"] for x in queue(daemon, agency, "?limit=500")]
        check(n not in q, "and it leaves %s's queue" % agency)
    check(scalar("select status from hotline.cases where case_number = :'a0'", n) == "open",
          "the case stays open while its primary works on")
    st, h, v = view(daemon, "police-320102", n)
    notes = [e.get("note") for e in v["history"] if e["kind"] == "outcome"
             and e.get("outcome") == "closed"]
    check(notes == ["（测试）已知悉, 无需处理", "（测试）监督结束"],
          "the police read the closing notes", notes)


# ---------------------------------------------------------------- what readers see

@test
def the_case_number_and_supervision_type_are_shown_to_those_entitled(daemon):
    n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    post(daemon, "police-320102", n, {"type": "outcome", "outcome": "case_opened",
                                      "police_case_number": "A3201020000002026110077"})
    st, r = post(daemon, "procuratorate-320102", n, {
        "type": "supervision", "supervision": "case_filing_supervision",
        "recipient_agency": "police-320102", "text": "（测试）立案监督"})
    check(st == 201, "the procuratorate records 立案监督 addressed to the county police", (st, r))

    def item(who, kind):
        st, h, v = view(daemon, who, n)
        return [e for e in v["history"] if e["kind"] == kind][0]
    check(item("police-320102", "outcome").get("police_case_number") == "A3201020000002026110077",
          "the police see the 立案 case number in the case view")
    check("police_case_number" not in item("education-320102", "outcome"),
          "an informed agency (redacted) does not")
    s = item("education-320102", "supervision")
    check(s.get("supervision") == "case_filing_supervision" and s.get("recipient") ==
          "police-320102" and s.get("note") == {"withheld": True},
          "the supervision's type and recipient are shown to every reader, its text to full"
          " readers only", s)
    s = item("police-320102", "supervision")
    check(s.get("note") == "（测试）立案监督", "the police read its text", s)


@test
def the_procuratorate_supervises_its_whole_region(daemon):
    b = file_report(daemon, "reports.neglect-community.valid.json")
    n = b["case_number"]
    st, h, v = view(daemon, "procuratorate-320100", n)
    check(st == 200 and v["access"] == "redacted",
          "the city procuratorate opens a case of its region without an assignment (redacted)",
          (st, v.get("access")))
    check(view(daemon, "procuratorate-320104", n)[0] == 404,
          "another county's procuratorate does not")
    city = Client(daemon, "procuratorate-320100")
    st, h, r = city.post("/v1/cases/%s/events" % n, {
        "type": "supervision", "supervision": "case_filing_supervision",
        "recipient_agency": "police-320102"}, new_key())
    st2, h, r2 = city.post("/v1/cases/%s/events" % n, {
        "type": "supervision", "supervision": "procuratorial_suggestion",
        "recipient_agency": "civil_affairs-320102", "text": "（测试）检察建议"}, new_key())
    check(st == 201 and st2 == 201 and "assignment" not in r2, "and records 立案监督 addressed to"
          " the police and a 检察建议 addressed to civil affairs, without holding an assignment",
          (st, r, st2, r2))
    for body, code in (({"recipient_agency": "police-340102"}, "invalid_value"),
                       ({"recipient_agency": "nowhere-320102"}, "unknown_agency")):
        st, h, r = city.post("/v1/cases/%s/events" % n, dict(
            {"type": "supervision", "supervision": "procuratorial_suggestion"}, **body), new_key())
        check(st == 422 and r["error"]["code"] == code and r["error"]["field"] ==
              "recipient_agency", "a recipient %s is 422 %s" % (body["recipient_agency"], code),
              (st, r))
    st, h, r = city.post("/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, new_key())
    check(st == 404, "a note needs an assignment", (st, r))
    st, h, recs = city.get("/v1/supervision/records")
    mine = [x for x in recs.get("records", []) if x["case_number"] == n]
    check(st == 200 and mine and mine[0]["supervision"] == "procuratorial_suggestion"
          and mine[0]["recipient_agency"] == "civil_affairs-320102",
          "GET /v1/supervision/records lists its records", recs)
    st, h, page = city.get("/v1/supervision/records?limit=1")
    st2, h, page2 = city.get("/v1/supervision/records?limit=1&cursor=" + page.get(
        "next_cursor", "1"))
    check(st == 200 and st2 == 200 and len(page["records"]) == 1 and "next_cursor" in page
          and page2["records"] and page2["records"][0] != page["records"][0],
          "page by page with a cursor", (page, page2))
    st, h, r = city.get("/v1/supervision/records?since=2099-01-01T00:00:00Z")
    check(st == 200 and r["records"] == [], "since= leaves out older records", r)
    st, h, r = Client(daemon, "procuratorate-320104").get("/v1/supervision/records")
    check(st == 200 and not any(x["case_number"] == n for x in r["records"]),
          "another procuratorate's list is its own")
    st, h, r = Client(daemon, "police-320102").get("/v1/supervision/records")
    check(st == 403, "only a procuratorate has one", (st, r))
    for q, field in (("since=yesterday", "since"), ("cursor=-1", "cursor"),
                     ("kind=army", "kind"), ("state=lost", "state")):
        st, h, r = city.get("/v1/supervision/overdue?" + q)
        check(st == 400 and r["error"]["field"] == field, "overdue?%s is 400" % q, (st, r))


@test
def the_overdue_list_filters_and_pages_and_leaves_closed_work_out(daemon):
    with ShortDeadlines(ack=2, action=600):
        n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
        m = file_report(daemon, "reports.self-harm.valid.json")["case_number"]
    wait_until(lambda: state_of(n, "police-320100", 1) and state_of(m, "health-320100", 1),
               15, 0.25)
    since = scalar("select to_char((now() - interval '1 minute') at time zone 'UTC',"
                   " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    city = Client(daemon, "procuratorate-320100")
    st, h, r = city.get("/v1/supervision/overdue?kind=police&since=" + since + "&limit=500")
    got = {(x["case_number"], x["agency"]) for x in r["assignments"]}
    check(st == 200 and (n, "police-320102") in got and (n, "police-320100") in got
          and not any(a.startswith("health") for _, a in got),
          "kind=police: the police's overdue work only", got)
    st, h, r = city.get("/v1/supervision/overdue?kind=health&since=" + since)
    check(st == 200 and any(x["case_number"] == m for x in r["assignments"]),
          "kind=health: the crisis team's", r)
    st, h, r = city.get("/v1/supervision/overdue?since=2099-01-01T00:00:00%2B08:00")
    check(st == 200 and r["assignments"] == [], "since= in the future: nothing", r)
    st, h, p1 = city.get("/v1/supervision/overdue?limit=1&since=" + since)
    st2, h, p2 = city.get("/v1/supervision/overdue?limit=1&since=%s&cursor=%s"
                          % (since, p1.get("next_cursor", "1")))
    check(st == 200 and st2 == 200 and len(p1["assignments"]) == 1 and p2["assignments"]
          and p1["assignments"][0]["assignment_id"] != p2["assignments"][0]["assignment_id"],
          "page by page with a cursor", (p1.get("next_cursor"), p2))
    a = assignment_of(daemon, "police-320102", n)
    ack(daemon, "police-320102", a["assignment_id"])
    for body in ({"type": "outcome", "outcome": "resolved"}, {"type": "outcome", "outcome": "closed"}):
        post(daemon, "police-320102", n, body)
    st, h, r = city.get("/v1/supervision/overdue?limit=500&since=" + since)
    check(not any(x["case_number"] == n for x in r["assignments"]),
          "closed work leaves the list", [x["state"] for x in r["assignments"]])
    st, h, r = city.get("/v1/supervision/overdue?state=closed&limit=500&since=" + since)
    check(any(x["case_number"] == n and x["agency"] == "police-320102" for x in r["assignments"]),
          "unless state=closed asks for it")


@test
def the_reporter_sees_the_milestones_and_the_feedback_text(daemon):
    b = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = b["case_number"]
    p = "police-320102"
    post(daemon, p, n, {"type": "outcome", "outcome": "declined", "reason": "（测试）理由不公开"})
    text = "（测试）经审查不予立案, 已书面告知" + uuid.uuid4().hex[:6]
    st, r = post(daemon, p, n, {"type": "feedback", "text": text})
    s = status_of(daemon, b["receipt_id"])
    check(st == 201 and [m["milestone"] for m in s["milestones"]]
          == ["received", "declined", "feedback_given"]
          and s["milestones"][-1].get("text") == text,
          "the reporter sees 不予立案 and the feedback with its text for the reporting unit", s)
    check("理由" not in json.dumps(s, ensure_ascii=False), "never the reason of 不予立案")
    raw = scalar("select encode(n.text, 'escape') from hotline.case_notes n join hotline.cases c"
                 " on c.id = n.case_id where c.case_number = :'a0' order by n.seq desc limit 1", n)
    check(raw is not None and text not in raw, "the feedback text is stored sealed")
    reads = psql("select l.basis, k.name from hotline.access_log l join hotline.cases c on"
                 " c.id = l.case_id join hotline.clients k on k.id = l.client_id"
                 " where c.case_number = :'a0'", n)
    check(["creator", "gateway"] in reads, "and its reading is in the access log", reads)


@test
def a_declined_case_stops_its_service_clocks(daemon):
    with resolve_within("4 seconds"):
        n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    p = "police-320102"
    st, r = post(daemon, p, n, {"type": "outcome", "outcome": "declined",
                                "reason": "（测试）不构成犯罪"})
    k = clocks(n, p)
    check(st == 201 and k["resolve"][0] == "stopped" and k["decline_notice"][0] == "running"
          and all(s != "running" for kind, (s, _) in k.items() if kind != "decline_notice"),
          "不予立案 stops the resolve (and any investigation) clock; the decline notice clock runs",
          k)
    time.sleep(5)
    missed = [(e["clock"], e["agency"]) for e in history(n) if e["kind"] == "clock_missed"]
    check(("resolve", p) not in missed and not events(n, "escalated"),
          "and the declined work is not escalated when the resolve deadline passes", missed)


@test
def notes_are_bound_to_their_place_in_the_history(daemon):
    n = file_report(daemon, personal_report())["case_number"]
    p = "police-320102"
    for text in ("（测试）第一条笔记", "（测试）第二条笔记"):
        post(daemon, p, n, {"type": "note", "text": text})
    ids = [e.get("note_id") for e in events(n, "note")]
    check(len(ids) == 2 and all(i and len(i) == 32 for i in ids) and ids[0] != ids[1],
          "each note's id is kept in its (hash-chained) history event", ids)
    st, h, v = view(daemon, p, n)
    check([e.get("note") for e in v["history"] if e["kind"] == "note"]
          == ["（测试）第一条笔记", "（测试）第二条笔记"], "the notes open in place")
    psql("with s as (select n.seq, n.text from hotline.case_notes n join hotline.cases c on"
         " c.id = n.case_id join hotline.case_events e on e.case_id = n.case_id and"
         " e.seq = n.seq where c.case_number = :'a0' and e.kind = 'note')"
         " update hotline.case_notes t set text = (select s.text from s where s.seq <> t.seq)"
         " from hotline.cases c where c.id = t.case_id and c.case_number = :'a0'"
         " and t.seq in (select seq from s)", n)
    st, h, v = view(daemon, p, n)
    check([e.get("note") for e in v["history"] if e["kind"] == "note"]
          == [{"unreadable": True}, {"unreadable": True}],
          "two notes' ciphertexts swapped in the database: each is shown unreadable")


@test
def casework_answers_conform_to_the_published_schemas(daemon):
    from .test_intake import schema_validator
    try:
        v = {s: schema_validator(s + ".schema.json") for s in (
            "case.response", "queue.response", "report-status.response",
            "supervision-records.response")}
    except ImportError as e:
        check(False, "jsonschema is installed", e)
        return
    with ShortDeadlines(ack=2, action=600):
        b = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = b["case_number"]
    wait_until(lambda: state_of(n, "police-320100", 1) is not None, 15, 0.25)
    p = "police-320102"
    ack(daemon, p, assignment_of(daemon, p, n)["assignment_id"])
    post(daemon, p, n, {"type": "outcome", "outcome": "case_opened",
                        "police_case_number": "A3201020000002026110088"})
    post(daemon, p, n, {"type": "feedback", "notice": "prosecution", "text": "（测试）将移送审查起诉"})
    post(daemon, "procuratorate-320102", n, {"type": "supervision",
                                             "supervision": "case_filing_supervision",
                                             "recipient_agency": p})
    answers = [
        ("case.response", view(daemon, p, n)),
        ("case.response", view(daemon, "police-320100", n)),
        ("queue.response", Client(daemon, p).get("/v1/queue?limit=500")),
        ("queue.response", Client(daemon, "procuratorate-320100").get(
            "/v1/supervision/overdue?limit=2")),
        ("report-status.response", Client(daemon, "gateway").get(
            "/v1/reports/%s/status" % b["receipt_id"])),
        ("supervision-records.response", Client(daemon, "procuratorate-320102").get(
            "/v1/supervision/records?limit=2")),
    ]
    for schema, (st, h, body) in answers:
        errs = list(v[schema].iter_errors(body)) if st == 200 else ["status %s" % st]
        check(not errs, "a casework answer conforms to %s" % schema,
              [getattr(e, "message", e)[:200] for e in errs[:3]])
