"""Escalation and clocks: work acknowledged in time never escalates; a missed
deadline climbs county, city, coordination office, procuratorate, in order;
clocks fire once across a daemon outage and with two daemons; police
outcomes start and stop the statutory clocks, and the reporter's status
shows the milestones."""

import json
import subprocess
import time

from . import lib
from .lib import (Client, Daemon, ShortDeadlines, TableLock, assignment_of, check, example_json,
                  file_report, history, log_call, new_key, psql, scalar, stop_cleanly, test,
                  wait_until)


def crisis_call():
    """A call about a child's self-harm at risk 2: the crisis team (health) alone."""
    body = example_json("calls.case-opened.valid.json")
    body["open_case"]["categories"] = [{"category": "psychological", "subcategory": "self_harm"}]
    body["open_case"]["risk_level"] = 2
    body["open_case"]["child"]["region_code"] = "320102"
    return body


@test
def acknowledging_in_time_prevents_escalation(daemon):
    with ShortDeadlines(ack=3, action=4):
        b = file_report(daemon, "reports.self-harm.valid.json")
    n = b["case_number"]
    for agency, outcome in (("health-320102", "resolved"), ("police-320102", "accepted")):
        a = assignment_of(daemon, agency, n)
        st, h, r = Client(daemon, agency).post("/v1/assignments/%s/ack" % a["assignment_id"],
                                               None, new_key())
        check(st == 200 and r["state"] == "acknowledged", "%s acknowledges" % agency, (st, r))
        st, h, r = Client(daemon, agency).post(
            "/v1/cases/%s/events" % n, {"type": "outcome", "outcome": outcome}, new_key())
        check(st == 201, "and records a first action", (st, r))
    time.sleep(5)
    kinds = [e["kind"] for e in history(n)]
    check("clock_missed" not in kinds and "escalated" not in kinds,
          "no clock fires for work done in time", kinds)


@test
def a_missed_deadline_escalates_up_the_chain_in_order(daemon):
    with ShortDeadlines(ack=2, action=30):
        b = log_call(daemon, crisis_call())
        n = b["case_number"]
        filed = time.time()
        ok = wait_until(lambda: any(e["kind"] == "escalated" and e["agency"] == "procuratorate-320100"
                                    for e in history(n)), 15, 0.25)
    h = history(n)
    check(ok, "nobody acts: the case climbs to the procuratorate within seconds",
          [(e["kind"], e["clock"], e["agency"]) for e in h])
    esc = [e["agency"] for e in h if e["kind"] == "escalated"]
    check(esc == ["health-320100", "coordination-320100", "procuratorate-320100"],
          "escalation goes county -> city -> coordination office -> procuratorate", esc)
    first_warn = next((e for e in h if e["kind"] == "clock_warning"), None)
    first_miss = next((e for e in h if e["kind"] == "clock_missed"), None)
    check(first_warn and first_miss and first_warn["seq"] < first_miss["seq"],
          "a warning comes before the deadline is missed")
    check(first_miss and float(first_miss["at"]) - filed < 3.5,
          "the clock fires within about a second of its due time (%.2fs after filing, due at 2s)"
          % (float(first_miss["at"]) - filed if first_miss else -1))
    st, h2, body = Client(daemon, "procuratorate-320100").get("/v1/supervision/overdue")
    check(st == 200 and any(a["case_number"] == n for a in body["assignments"]),
          "the city procuratorate sees it in its overdue list", st)
    st, h2, body = Client(daemon, "procuratorate-320104").get("/v1/supervision/overdue")
    check(st == 200 and not any(a["case_number"] == n for a in body["assignments"]),
          "another county's procuratorate does not", st)
    st, h2, body = Client(daemon, "police-320102").get("/v1/supervision/overdue")
    check(st == 403, "only a procuratorate has an overdue list", (st, body))
    st, h2, view = Client(daemon, "health-320102").get("/v1/cases/" + n)
    orig = [a for a in view["assignments"] if a["agency"] == "health-320102"]
    check(orig and orig[0]["state"] == "open" and any(c["status"] == "missed"
                                                      for c in orig[0]["clocks"]),
          "the original assignment stays visible with its missed clock", orig)
    st, h2, r = Client(daemon, "procuratorate-320100").post(
        "/v1/cases/%s/events" % n, {"type": "supervision", "supervision": "procuratorial_suggestion",
                                    "recipient_agency": "health-320102", "text": "（测试）检察建议"},
        new_key())
    check(st == 201, "the procuratorate records a supervision record on the case", (st, r))


@test
def escalation_survives_a_daemon_outage_and_happens_once(daemon):
    daemon.stop()
    x = Daemon("outage").start()
    try:
        with ShortDeadlines(ack=2, action=60):
            b = file_report(x, "reports.self-harm.valid.json")
        n = b["case_number"]
        x.kill9()
        time.sleep(3.5)
        check(not any(e["kind"] == "clock_missed" for e in history(n)),
              "with no daemon running nothing fires")
        x2 = Daemon("after-outage").start()
        ok = wait_until(lambda: any(e["kind"] == "escalated" for e in history(n)), 5, 0.2)
        time.sleep(1)
        missed = [e for e in history(n) if e["kind"] == "clock_missed" and e["clock"] == "acknowledge"
                  and e["agency"] == "health-320102"]
        check(ok and len(missed) == 1, "the restarted daemon catches up, exactly once", missed)
        check(x2.stop() == 0, "the catching-up daemon stops cleanly")
    finally:
        daemon.start()


@test
def two_daemons_never_fire_the_same_clock_twice(daemon):
    other = Daemon("rival").start()
    try:
        # Each self-harm report has two primaries, the police and the crisis
        # team: two chains of three steps each.
        with ShortDeadlines(ack=2, action=60):
            numbers = [file_report(daemon if i % 2 else other)["case_number"] for i in range(6)]
            wait_until(lambda: all(sum(e["kind"] == "escalated" and e["agency"] ==
                                       "procuratorate-320100" for e in history(n)) == 2
                                   for n in numbers), 20, 0.5)
        dup = psql("select e.data->>'assignment', e.data->>'clock', count(*) from hotline.case_events e"
                   " join hotline.cases c on c.id = e.case_id where e.kind = 'clock_missed'"
                   " and c.case_number = any (string_to_array(:'a0', ','))"
                   " group by 1, 2 having count(*) > 1", ",".join(numbers))
        esc = psql("select count(*) from hotline.assignments a join hotline.cases c on c.id = a.case_id"
                   " where a.escalation_level > 0 and c.case_number = any (string_to_array(:'a0', ','))"
                   " group by a.escalated_from having count(*) > 1", ",".join(numbers))
        fired = scalar("select count(*) from hotline.case_events e join hotline.cases c on"
                       " c.id = e.case_id where e.kind = 'escalated'"
                       " and c.case_number = any (string_to_array(:'a0', ','))", ",".join(numbers))
        check(not dup and not esc and fired == str(6 * 2 * 3),
              "two daemons: every clock fired once, one escalation per step (%s escalations)" % fired,
              (dup, esc))
    finally:
        check(other.stop() == 0, "the rival daemon stops cleanly")



class RowHold:
    """Holds a row (SELECT ... FOR UPDATE) of a table from a psql session for
    some seconds, as a long transaction on it would."""

    def __init__(self, table, row_id, seconds):
        self.table, self.row_id, self.seconds = table, row_id, seconds

    def __enter__(self):
        self.proc = subprocess.Popen(
            [lib.PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("begin; select 'held' from %s where id = %d for update;"
                              " select pg_sleep(%s); commit;\n" % (self.table, self.row_id,
                                                                   self.seconds))
        self.proc.stdin.close()
        if self.proc.stdout.readline().strip() != "held":
            raise AssertionError("could not hold %s %d" % (self.table, self.row_id))
        return self

    def __exit__(self, *exc):
        self.proc.wait(self.seconds + 30)


@test
def a_pass_runs_one_statement_a_shard_and_a_held_case_holds_back_only_its_own():
    # escalation_workers = 2: each pass runs as two statements at once, one
    # on the cases of even id, one on those of odd id.  A transaction holding
    # one case (its history) makes its shard's statement wait; the other
    # statement fires its clocks and commits meanwhile.
    d = Daemon("shards", escalation_workers=2).start()
    try:
        numbers = []
        while len(numbers) < 6 or len({int(case_id(n)) % 2 for n in numbers}) < 2:
            numbers.append(file_report(d)["case_number"])
        held = numbers[0]
        other = [n for n in numbers if int(case_id(n)) % 2 != int(case_id(held)) % 2]
        with RowHold("hotline.cases", int(case_id(held)), 8):
            psql("update hotline.clocks k set due_at = now() - interval '1 second',"
                 " warn_at = now() - interval '2 seconds' from hotline.cases c"
                 " where c.id = k.case_id and c.case_number = any (string_to_array(:'a0', ','))"
                 " and k.kind = 'acknowledge' and k.stopped_at is null and k.fired_at is null;"
                 " select pg_notify('hotline_clock', '')", ",".join(numbers))
            fired = wait_until(lambda: all(any(e["kind"] == "escalated" for e in history(n))
                                           for n in other), 6, 0.25)
            blocked = not any(e["kind"] == "clock_missed" for e in history(held))
        check(fired and blocked, "while a transaction holds one case, the other shard's %d cases"
              " fire and escalate; the held case waits" % len(other),
              [(n, [e["kind"] for e in history(n)]) for n in [held] + other])
        after = wait_until(lambda: all(any(e["kind"] == "escalated" for e in history(n))
                                       for n in numbers), 10, 0.25)
        check(after, "once it ends, the held case's clocks (and its shard's) fire too",
              [e["kind"] for e in history(held)])
        dup = psql("select coalesce(e.data->>'assignment', e.data->>'from'), e.data->>'clock',"
                   " e.kind, count(*) from hotline.case_events e join hotline.cases c"
                   " on c.id = e.case_id where e.kind in ('clock_missed', 'escalated')"
                   " and c.case_number = any (string_to_array(:'a0', ','))"
                   " group by 1, 2, 3 having count(*) > 1", ",".join(numbers))
        log = d.logtext()
        check(not dup and "escalation_failed" not in log and "escalation_bisect" not in log,
              "every clock fired once and escalated once; no statement failed", dup)
    finally:
        stop_cleanly(d)


@test
def a_due_clock_held_by_another_transaction_is_looked_at_again_shortly_not_at_once():
    # A due clock locked by another transaction (another daemon's pass) is
    # skipped; the next due time the pass returns is that clock's, already
    # past.  The loop looks again after a quarter of a second, not in a
    # loop of passes a round trip each.
    d = Daemon("busy").start()
    try:
        n = file_report(d)["case_number"]
        k = scalar("select k.id from hotline.clocks k join hotline.cases c on c.id = k.case_id"
                   " where c.case_number = :'a0' and k.kind = 'acknowledge' order by k.id"
                   " limit 1", n)
        psql("update hotline.clocks set due_at = now() + interval '1.5 seconds', warn_at = now()"
             " + interval '1.4 seconds' where id = :a0; select pg_notify('hotline_clock', '')", k)
        due = time.monotonic() + 1.5
        with RowHold("hotline.clocks", int(k), 6):
            time.sleep(max(0, due - time.monotonic()) + 0.5)
            p0 = d.metric("hotlined_escalation_passes_total", result="ok") or 0
            time.sleep(2)
            p1 = d.metric("hotlined_escalation_passes_total", result="ok") or 0
            missed = [e for e in history(n) if e["kind"] == "clock_missed"]
        check(2 <= p1 - p0 <= 14 and not missed, "while the due clock is held, the loop looks"
              " again every quarter of a second: %d passes in 2 s" % (p1 - p0), missed)
        fired = wait_until(lambda: [e for e in history(n) if e["kind"] == "clock_missed"], 5,
                           0.2)
        check(fired and len(fired) == 1, "once the holder ends, the clock fires, once",
              fired)
    finally:
        stop_cleanly(d)


def case_id(number):
    return scalar("select id from hotline.cases where case_number = :'a0'", number)


@test
def police_outcomes_start_the_statutory_clocks(daemon):
    b = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = b["case_number"]
    p = Client(daemon, "police-320102")

    def event(body, who=p):
        return who.post("/v1/cases/%s/events" % n, body, new_key())

    def clocks():
        a = assignment_of(daemon, "police-320102", n) or {}
        return {c["kind"]: c["status"] for c in a.get("clocks", [])}
    st, h, r = event({"type": "outcome", "outcome": "accepted"})
    check(st == 201 and clocks().get("feedback") == "running",
          "受案 starts the 3-day feedback clock", clocks())
    due = [c for c in assignment_of(daemon, "police-320102", n)["clocks"]
           if c["kind"] == "feedback"][0]
    days = scalar("select round(extract(epoch from (:'a0'::timestamptz - now())) / 86400)", due["due_at"])
    check(days == "3", "and it is due in three days", due)
    st, h, r = event({"type": "outcome", "outcome": "case_opened"})
    check(st == 400 and r["error"]["field"] == "police_case_number",
          "立案 needs the police case number", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "case_opened",
                      "police_case_number": "A3201020000002026110001"})
    check(st == 201, "立案 with its number is recorded", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "accepted"})
    check(st == 409 and r["error"]["code"] == "invalid_transition",
          "going back from 立案 to 受案 is refused", (st, r))
    st, h, r = event({"type": "feedback"})
    check(st == 201 and clocks().get("feedback") == "stopped",
          "feedback to the reporting unit stops the feedback clock", clocks())
    st, h, r = event({"type": "outcome", "outcome": "prosecution"})
    check(st == 409, "移送审查起诉 waits until the reporting unit is told", (st, r))
    st, h, r = event({"type": "feedback", "notice": "prosecution"})
    check(st == 201, "the police tell it (feedback with notice prosecution)", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "prosecution"})
    check(st == 201 and assignment_of(daemon, "police-320102", n)["state"] == "prosecution",
          "移送审查起诉 follows 立案", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "accepted"},
                     Client(daemon, "education-320102"))
    check(st == 403, "an informed agency cannot record outcomes", (st, r))
    b2 = file_report(daemon, "reports.sexual-abuse.valid.json")
    st, h, r = Client(daemon, "police-320102").post(
        "/v1/cases/%s/events" % b2["case_number"], {"type": "outcome", "outcome": "declined"},
        new_key())
    check(st == 400 and r["error"]["field"] == "reason", "不予立案 needs a reason", (st, r))
    st, h, r = Client(daemon, "police-320102").post("/v1/cases/%s/events" % b2["case_number"],
                                                    {"type": "outcome", "outcome": "declined",
                                                     "reason": "（测试）不构成犯罪"}, new_key())
    row = psql("select k.kind, k.stopped_at is null from hotline.clocks k join hotline.assignments a"
               " on a.id = k.assignment_id join hotline.cases c on c.id = a.case_id"
               " where c.case_number = :'a0' and k.kind = 'decline_notice'", b2["case_number"])
    check(st == 201 and row == [["decline_notice", "t"]],
          "不予立案 starts the 3-day notice clock", (st, row))
    status = Client(daemon, "gateway").get("/v1/reports/%s/status" % b["receipt_id"])
    ms = [m["milestone"] for m in status[2]["milestones"]]
    check(status[0] == 200 and ms == ["received", "accepted", "case_opened", "feedback_given",
                                      "prosecution_notice"],
          "the reporter's status shows the milestones in order", status)
    text = json.dumps(status[2], ensure_ascii=False)
    check(set(status[2]) == {"receipt_id", "milestones"} and "测试" not in text
          and n not in text, "and nothing of the case's content", text)
    st, h, r = Client(daemon, "gateway2").get("/v1/reports/%s/status" % b["receipt_id"])
    check(st == 404, "another gateway cannot read that status", (st, r))


@test
def readyz_answers_503_while_the_escalation_loop_cannot_complete_a_pass():
    d = Daemon("stall", liveness_timeout=4).start()
    try:
        st, h, b = Client(d, None).get("/readyz")
        check(st == 200 and b["checks"]["escalation"] == "ok", "the loop runs: ready", (st, b))
        with TableLock(12, "hotline.clocks", "access exclusive"):
            t0 = time.monotonic()
            stalled = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
                Client(d, None).get("/readyz")), 10, 0.25)
            took = time.monotonic() - t0
        check(stalled and stalled[2]["checks"]["escalation"] == "stalled"
              and stalled[2]["error"]["code"] == "not_ready"
              and stalled[2]["seconds_since_ok"]["escalation"] >= 4,
              "with its passes blocked, /readyz answers 503 not_ready naming the escalation loop"
              " once none has completed for liveness_timeout (%.1fs)" % took, stalled)
        back = wait_until(lambda: Client(d, None).get("/readyz")[0] == 200, 15, 0.25)
        check(back, "once the loop completes a pass again, /readyz is 200", d.logtail())
    finally:
        stop_cleanly(d)
