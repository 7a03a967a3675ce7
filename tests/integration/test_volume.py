"""A year's volume: the database holds 100,000+ cases, their assignments and
hundreds of thousands of clocks (tests/volume/fill.sql); the agency actions,
the procuratorate's lists, an operator's work on its centre's cases (the
caseload, lookups, notes, re-grading, links, calls on a case, a case opened
during a call) and the handling of a due clock look rows up by key,
whatever the tables hold; the statistics take the year in and answer from
their rollup, never reading a big table whole; a burst of thousands of
clocks falling due at once all fire, with one daemon and with two; a clock
whose handling fails on its own is set aside and the others go on.

Run by tests/run.sh's "volume" suite in an environment of its own (-k
test_volume); HOTLINED_VOLUME_CASES sets the number of cases (default
100000), HOTLINED_VOLUME_BURST the size of a burst (default 3000)."""

import os
import re
import subprocess
import time

from datetime import datetime, timedelta

from . import lib
from .lib import (PSQL, ROOT, SHANGHAI, Client, Daemon, check, file_report, new_key, pki, psql,
                  scalar, test, wait_until)

CASES = int(os.environ.get("HOTLINED_VOLUME_CASES", "100000"))
BURST = int(os.environ.get("HOTLINED_VOLUME_BURST", "3000"))
BENCH = os.path.join(ROOT, "build", "hotline-bench")
# A clock must fire when it is due, not minutes later: a bound far above the
# loop's real lag (milliseconds) but far below what a stalling loop shows.
LAG_BOUND = 30

# Tables whose size grows with the deployment: a plan that scans one of them
# whole costs more every day.
BIG = ("cases", "children", "reports", "case_categories", "case_events", "case_notes",
       "assignments", "clocks", "calls", "identifiers", "case_access", "access_log",
       "idempotency", "access_requests", "supervision_records", "stats_cases")


def burst(daemon, n, seconds, tag):
    """File n reports at once (hotline-bench, 32 connections) whose level-2
    acknowledge deadline is `seconds`; returns the acknowledge clock ids."""
    saved = scalar("select acknowledge from hotline.deadlines where risk_level = 2")
    psql("update hotline.deadlines set acknowledge = make_interval(secs => :a0)"
         " where risk_level = 2", seconds)
    first = int(scalar("select coalesce(max(id), 0) from hotline.clocks"))
    try:
        out = subprocess.run([BENCH, "-a", "127.0.0.1:%d" % daemon.port, "-A", pki("ca.crt"),
                              "-E", pki("gateway.crt"), "-K", pki("gateway.key"),
                              "-b", os.path.join(ROOT, "proto/examples/reports.sexual-abuse.valid.json"),
                              "-p", "/v1/reports", "-c", "32", "-n", str(n)],
                             capture_output=True, text=True, timeout=300).stdout
    finally:
        psql("update hotline.deadlines set acknowledge = :'a0' where risk_level = 2", saved)
    print("# %s: %s" % (tag, " ".join(out.split())))
    check("ok=%d failed=0" % n in out, "%s: all %d reports are filed" % (tag, n), out)
    return [int(x) for x in scalar(
        "select coalesce(string_agg(k.id::text, ','), '') from hotline.clocks k"
        " join hotline.assignments a on a.id = k.assignment_id"
        " where k.id > :a0 and k.kind = 'acknowledge' and a.escalation_level = 0"
        " and k.due_at - k.started_at = make_interval(secs => :a1)", first, seconds).split(",") if x]


def fired(ids):
    """How many of these clocks have fired, and the lag (s) of each fired one."""
    rows = psql("select extract(epoch from fired_at - due_at) from hotline.clocks"
                " where id = any(string_to_array(:'a0', ',')::bigint[]) and fired_at is not null",
                ",".join(map(str, ids)))
    return len(rows), sorted(float(r[0]) for r in rows)


def lag_figures(lags):
    """p50, p99 and max of the lags, as text."""
    if not lags:
        return "none fired"
    p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
    return "lag p50=%.3fs p99=%.3fs max=%.3fs" % (p(0.5), p(0.99), lags[-1])


def explained(scope, sql, prep="", analyze=False):
    """Run sql as the daemon's role under a scope (after prep, as the
    superuser, in the same transaction, rolled back), with every nested
    statement's plan logged (auto_explain, with the rows each node read if
    analyze); (the plans, any error lines)."""
    script = ("load 'auto_explain';\n"
              "set auto_explain.log_nested_statements = on;\n"
              "set auto_explain.log_level = 'notice';\n"
              "set auto_explain.log_analyze = %s;\n"
              "set auto_explain.log_timing = off;\n"
              "set client_min_messages = notice;\n"
              "begin;\n"
              "%s;\n"
              "set local auto_explain.log_min_duration = 0;\n"
              "set local role hotlined;\n"
              "select set_config('hotline.scope', '%s', true);\n"
              "%s;\n"
              "rollback;\n" % ("on" if analyze else "off", prep or "select 1", scope, sql))
    out = subprocess.run([PSQL, "-X", "-v", "ON_ERROR_STOP=1"],
                         input=script, capture_output=True, text=True, timeout=120)
    plans = re.split(r"NOTICE:  duration: ", out.stderr)[1:]
    errors = [line for line in out.stderr.splitlines() if "ERROR" in line]
    return plans, errors


def seq_scans(scope, sql, prep=""):
    """The number of statements sql runs (see explained), the plans that
    scan a big table whole, and any error."""
    plans, errors = explained(scope, sql, prep)
    bad = []
    for plan in plans:
        scans = re.findall(r"Seq Scan on (%s)\b" % "|".join(BIG), plan)
        if scans:
            q = plan.split("Query Text:")[1].strip().splitlines()[0] if "Query Text:" in plan else ""
            bad.append("%s <- %s" % (",".join(sorted(set(scans))), q[:100]))
    return len(plans), bad, errors


def rows_read(scope, sql, table):
    """How many rows of a table the scans of every statement sql runs read
    (rows times loops of each scan node on it), and any error."""
    plans, errors = explained(scope, sql, analyze=True)
    n = 0
    for plan in plans:
        for line in plan.splitlines():
            m = re.search(r"Scan(?: Backward)? (?:using \S+ )?on %s\b.*\(actual rows=(\d+) loops="
                          r"(\d+)\)" % table, line)
            if m:
                n += int(m.group(1)) * int(m.group(2))
    return n, errors


@test(limit=900)
def the_database_holds_a_years_volume(daemon):
    template = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    t0 = time.monotonic()
    out = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                          "-v", "n=%d" % CASES, "-v", "template=" + template,
                          "-f", os.path.join(ROOT, "tests/volume/fill.sql")],
                         capture_output=True, text=True, timeout=850)
    print("# filled in %.0fs: %s" % (time.monotonic() - t0, out.stdout.strip().splitlines()[-1:]))
    check(out.returncode == 0, "tests/volume/fill.sql fills the database", out.stderr[-2000:])
    cases = int(scalar("select count(*) from hotline.cases"))
    clocks = int(scalar("select count(*) from hotline.clocks"
                        " where stopped_at is null and fired_at is null"))
    check(cases >= CASES and clocks >= 2 * CASES * 0.8,
          "it holds %d cases and %d running clocks" % (cases, clocks))
    st, h, v = Client(daemon, "gateway").get("/v1/cases/" + template)
    check(st == 200, "the daemon still serves the case filed before the fill", st)


@test(limit=600)
def the_statistics_take_the_year_in_and_read_only_their_rollup(daemon):
    queued = int(scalar("select count(*) from hotline.stats_pending"))
    t0 = time.monotonic()
    for _ in range(3000):
        taken, more, busy = psql("set hotline.scope = 'system';"
                                 " select taken, more, busy from hotline.stats_refresh(20000)")[0]
        if busy == "f" and more == "f":
            break
        if busy == "t":
            time.sleep(0.2)
    took = time.monotonic() - t0
    left = int(scalar("select count(*) from hotline.stats_pending"))
    rollup = int(scalar("select count(*) from hotline.stats_daily"))
    cases = int(scalar("select count(*) from hotline.cases"))
    print("# statistics took in about %d queued keys in %.1fs; the rollup holds %d rows for %d"
          " cases" % (queued, took, rollup, cases))
    check(left == 0, "the statistics take in the year's history (%d keys queued)" % queued, left)
    check(int(scalar("select sum(n) from hotline.stats_daily where figure = 'cases'")) == cases,
          "and count each of the %d cases once" % cases)
    check(rollup * 4 < cases, "the rollup of the year is a fraction of its cases (%d rows)" % rollup)
    stat = scalar("select id from hotline.clients where name = 'statistician'")
    end = datetime.now(SHANGHAI).date()
    start = (end - timedelta(days=365)).isoformat()
    for what, region, by in [("a year by region and category", None, "region,category"),
                             ("a year by agency", None, "agency"),
                             ("a county's year by subcategory and risk", "330102",
                              "subcategory,risk_level"),
                             ("a year by six dimensions", "330100",
                              "region,subcategory,risk_level,source,institution_type,situation")]:
        sql = ("select status from hotline.stats_view(%s, '%s', '%s', %s, '%s')"
               % (stat, start, end, "'%s'" % region if region else "null", by))
        plans, bad, errors = seq_scans("", sql)
        t0 = time.monotonic()
        st, h, b = Client(daemon, "statistician").get("/v1/stats?from=%s&to=%s&by=%s%s" % (
            start, end, by, "&region=" + region if region else ""))
        ms = (time.monotonic() - t0) * 1000
        print("# GET /v1/stats, %s: %d cells in %.0f ms" % (what, len(b.get("cells", [])), ms))
        check(st == 200 and plans >= 1 and not bad and not errors,
              "the figures of %s: none of its %d statements reads a big table whole" % (what, plans),
              "\n".join(bad + errors) or (st, b))
    # A refresh's cost follows what it takes: 2000 cases queued again (the
    # transaction is rolled back) are counted by key.
    prep = ("insert into hotline.stats_pending (case_id, seq) select id, 1 from hotline.cases"
            " order by id desc limit 2000")
    plans, bad, errors = seq_scans("system", "select * from hotline.stats_refresh(5000)", prep)
    check(plans >= 3 and not bad and not errors,
          "counting 2000 queued cases: none of its %d statements reads a big table whole" % plans,
          "\n".join(bad + errors))


@test(limit=300)
def agency_actions_look_rows_up_by_key(daemon):
    police = "police-320102"
    report = file_report(daemon, "reports.sexual-abuse.valid.json")
    n = report["case_number"]
    agency, client = psql("select a.id, c.id from hotline.agencies a join hotline.clients c"
                          " on c.agency_id = a.id where c.name = :'a0'", police)[0]
    a = scalar("select x.assignment_id from hotline.assignments x join hotline.cases c"
               " on c.id = x.case_id where c.case_number = :'a0' and x.agency_id = :a1", n, agency)
    note = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
    scope = "agency:%s" % agency
    for what, sql in [
            ("acknowledge", "select * from hotline.assignment_ack(%s, 'k1', '\\x00', '%s')"
             % (client, a)),
            ("an outcome", "select * from hotline.case_post_event(%s, 'k2', '\\x00', '%s',"
             " '{\"type\":\"outcome\",\"outcome\":\"accepted\"}')" % (client, n)),
            ("a note", "select * from hotline.case_post_event(%s, 'k3', '\\x00', '%s',"
             " '{\"type\":\"note\",\"text\":\"%s\"}')" % (client, n, note)),
            ("a transfer", "select * from hotline.assignment_transfer(%s, 'k4', '\\x00', '%s',"
             " '{\"target_agency\":\"police-320104\",\"reason\":\"%s\"}')" % (client, a, note)),
            ("the case view", "select hotline.case_view(%s, '%s')" % (client, n)),
            ("the case key", "select hotline.case_key(%s, '%s', '%s')" % (client, n, a))]:
        plans, bad, errors = seq_scans(scope, sql)
        check(plans > 3 and not bad and not errors,
              "%s: none of its %d statements scans a big table whole" % (what, plans),
              "\n".join(bad + errors))
    proc, proc_client = psql("select a.id, c.id from hotline.agencies a join hotline.clients c"
                             " on c.agency_id = a.id where c.name = 'procuratorate-320100'")[0]
    for what, sql in [
            ("the overdue list", "select * from hotline.supervision_overdue_page(%s, null, null,"
             " null, null, 100)" % proc_client),
            ("a page of police work overdue since a day", "select * from"
             " hotline.supervision_overdue_page(%s, 'open', 'police', now() - interval '1 day',"
             " 9223372036854775807, 20)" % proc_client),
            ("the supervision records", "select * from hotline.supervision_record_list(%s, null,"
             " null, 100)" % proc_client)]:
        plans, bad, errors = seq_scans("agency:%s" % proc, sql)
        check(plans >= 1 and not bad and not errors,
              "%s: none of its %d statements scans a big table whole" % (what, plans),
              "\n".join(bad + errors))
    # A filled county's police: tens of thousands of live assignments.
    big, big_client = psql("select a.id, hotline.client_upsert('volume-police-330102', 'agency',"
                           " 'police-330102', repeat('5', 64)) from hotline.agencies a"
                           " where a.code = 'police-330102'")[0]
    live = scalar("select count(*) from hotline.assignments where agency_id = :a0"
                  " and state in ('open', 'acknowledged')", big)
    page = psql("set hotline.scope = 'system'; select (hotline.queue_page(:a0, null, 50, null,"
                " null)).response->>'next_cursor'", big_client)[-1][0]
    since = scalar("select pg_snapshot_xmin(pg_current_snapshot())::text")
    for what, sql in [
            ("a page of the queue", "select * from hotline.queue_page(%s, null, 50, null, null)"
             % big_client),
            ("the next page", "select * from hotline.queue_page(%s, null, 50, '%s', null)"
             % (big_client, page)),
            ("a claim (the first open assignment)", "select * from hotline.queue_page(%s,"
             " 'open', 1, null, null)" % big_client),
            ("what is new since a moment ago", "select * from hotline.queue_page(%s, null, 50,"
             " null, '%s')" % (big_client, since))]:
        plans, bad, errors = seq_scans("agency:%s" % big, sql)
        check(plans >= 3 and not bad and not errors,
              "%s of %s live assignments: none of its %d statements scans a big table whole"
              % (what, live, plans), "\n".join(bad + errors))
    for what, sql in [
            ("a page of 50", "select * from hotline.queue_page(%s, null, 50, null, null)"
             % big_client),
            ("a claim", "select * from hotline.queue_page(%s, 'open', 1, null, null)"
             % big_client)]:
        read, errors = rows_read("agency:%s" % big, sql, "assignments")
        check(0 < read <= 1000 and not errors, "%s reads %d assignment rows of the %s live ones:"
              " the page, not the backlog" % (what, read, live), errors)
    city, city_client = psql("select a.id, hotline.client_upsert('volume-procuratorate-330100',"
                             " 'agency', 'procuratorate-330100', repeat('6', 64)) from"
                             " hotline.agencies a where a.code = 'procuratorate-330100'")[0]
    overdue = scalar("select count(*) from hotline.assignments where region_city = '3301'"
                     " and overdue_at is not null")
    read, errors = rows_read("agency:%s" % city, "select * from"
                             " hotline.supervision_overdue_page(%s, null, null, null, null, 100)"
                             % city_client, "assignments")
    check(0 < read <= 1000 and not errors, "a page of 100 of the city's %s overdue assignments"
          " reads %d assignment rows" % (overdue, read), errors)
    plans, bad, errors = seq_scans("system", "select hotline.queue_touched('{%s,%s}',"
                                   " '{%s,%s}')" % (big, agency, since, since))
    check(plans >= 1 and not bad and not errors, "the long polls' wake-up query scans no big"
          " table whole", "\n".join(bad + errors))
    twenty = scalar("select string_agg(id::text, ',') from (select id from hotline.clocks"
                    " where stopped_at is null and fired_at is null order by id desc limit 20) x")
    due = ("update hotline.clocks set due_at = now() - interval '1 second'"
           " where id in (%s)" % twenty)
    for what, sql in [
            ("a pass over 20 due clocks", "select * from hotline.escalate_due(20)"),
            ("a pass of one shard of two", "select * from hotline.escalate_due_shard(20, 1, 2)"),
            ("the next due time", "select hotline.clock_next_due()"),
            ("the list of due clocks", "select hotline.clock_due_ids(100)"),
            ("20 due clocks by id", "select * from hotline.escalate_clocks('{%s}')" % twenty)]:
        plans, bad, errors = seq_scans("system", sql, due)
        check(plans >= 1 and not bad and not errors,
              "%s: none of its %d statements scans a big table whole" % (what, plans),
              "\n".join(bad + errors))
    # The same actions through the daemon, in that database.
    c = Client(daemon, police)
    times = {}

    def timed(name, fn):
        t0 = time.monotonic()
        r = fn()
        times[name] = (time.monotonic() - t0) * 1000
        return r
    st, h, r = timed("ack", lambda: c.post("/v1/assignments/%s/ack" % a, None, new_key()))
    check(st == 200, "the county police acknowledge", (st, r))
    st, h, r = timed("outcome", lambda: c.post("/v1/cases/%s/events" % n,
                                               {"type": "outcome", "outcome": "accepted"},
                                               new_key()))
    check(st == 201, "record 受案", (st, r))
    st, h, r = timed("note", lambda: c.post("/v1/cases/%s/events" % n,
                                            {"type": "note", "text": "已联系学校"}, new_key()))
    check(st == 201, "post a note", (st, r))
    st, h, v = timed("view", lambda: c.get("/v1/cases/" + n))
    check(st == 200 and v["narrative"], "open the case", st)
    st, h, r = timed("transfer", lambda: c.post("/v1/assignments/%s/transfer" % a,
                                                {"target_agency": "police-320104",
                                                 "reason": "属地管辖"}, new_key()))
    check(st == 201, "and transfer it", (st, r))
    print("# agency actions at %s cases (ms): %s" % (
        scalar("select count(*) from hotline.cases"),
        " ".join("%s=%.0f" % kv for kv in times.items())))


@test(limit=300)
def an_operators_work_looks_rows_up_by_key(daemon):
    seat = Client(daemon, "console")
    st, h, made = seat.post("/v1/cases", lib.example("cases.suicide-in-progress.valid.json"),
                            new_key())
    check(st == 201, "the seat opens a case in its centre's year of cases", (st, made))
    n = made.get("case_number", "none")
    client, centre, gateway = psql("select c.id, c.centre, g.id from hotline.clients c,"
                                   " hotline.clients g where c.name = 'console'"
                                   " and g.name = 'gateway'")[0]
    other = scalar("select case_number from hotline.cases where centre = :'a0' and"
                   " case_number <> :'a1' order by id desc limit 1", centre, n)
    middle = scalar("select case_number from hotline.cases where centre = :'a0'"
                    " order by id limit 1 offset 20000", centre)
    phone = scalar("select encode(sha256('fill-phone-7'::bytea), 'hex')")
    child = scalar("select encode(i.digest, 'hex') from hotline.identifiers i join hotline.cases c"
                   " on c.id = i.case_id where c.centre = :'a0' and i.kind = 'id'"
                   " order by c.id limit 1 offset 30000", centre)
    receipt = scalar("select r.receipt_id from hotline.reports r order by r.case_id desc limit 1")
    sealed = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
    key = ('{"uid": "6f1c8e2a-0000-4000-8000-000000000009", "kid": "kvol", "wrapped": "%s"}'
           % ("q6ur" * 20))
    scope = "centre:%s" % centre
    for what, who, sql in [
            ("the caseload", scope, "select * from hotline.case_list(%s, null, null, null, null,"
             " 50)" % client),
            ("its open cases", scope, "select * from hotline.case_list(%s, 'open', null, null,"
             " null, 50)" % client),
            ("its cases at risk 1", scope, "select * from hotline.case_list(%s, null, 1, null,"
             " null, 50)" % client),
            ("its cases of the last three days", scope, "select * from hotline.case_list(%s,"
             " null, null, now() - interval '3 days', null, 50)" % client),
            ("a page deep in it", scope, "select * from hotline.case_list(%s, null, null, null,"
             " '%s', 50)" % (client, middle)),
            ("a caller's history", scope, "select * from hotline.caller_history(%s, '%s')"
             % (client, phone)),
            ("a child by ID number", scope, "select * from hotline.child_cases(%s, 'id', '%s')"
             % (client, child)),
            ("the case view", scope, "select hotline.case_view(%s, '%s')" % (client, n)),
            ("the work key", scope, "select hotline.work_key(%s, '%s', null, true)"
             % (client, n)),
            ("a note", scope, "select * from hotline.case_note_add(%s, 'v1', '\\x00', '%s',"
             " '{\"text\": \"%s\"}')" % (client, n, sealed)),
            ("a risk raised", scope, "select * from hotline.case_risk_set(%s, 'v2', '\\x00',"
             " '%s', '{\"risk_level\": 1, \"reason\": \"%s\"}')" % (client, other, sealed)),
            ("categories added", scope, "select * from hotline.case_categories_add(%s, 'v3',"
             " '\\x00', '%s', '{\"categories\": [{\"category\": \"legal\","
             " \"subcategory\": \"legal_aid\"}]}')" % (client, n)),
            ("a correction of the child", scope, "select * from hotline.case_child_correct(%s,"
             " 'v4', '\\x00', '%s', '{\"age\": 9, \"name\": \"%s\"}')" % (client, n, sealed)),
            ("a link", scope, "select * from hotline.case_link(%s, 'v5', '\\x00', '%s',"
             " '{\"case_number\": \"%s\"}')" % (client, n, other)),
            ("a call on the case", "intake", "select * from hotline.intake_call(%s, 'v6',"
             " '\\x00', '{\"started_at\": \"2026-11-02T09:00:00+08:00\", \"ended_at\":"
             " \"2026-11-02T09:05:00+08:00\", \"caller_type\": \"child_self\","
             " \"disposition\": \"follow_up\", \"case_number\": \"%s\", \"$digests\":"
             " {\"caller_phone\": \"%s\"}}')" % (client, n, phone)),
            ("a case opened during a call", "intake", "select * from hotline.case_open(%s, 'v7',"
             " '\\x00', '{\"categories\": [{\"category\": \"psychological\","
             " \"subcategory\": \"suicidal\"}], \"risk_level\": 1, \"child\":"
             " {\"region_code\": \"330102\"}, \"narrative\": \"%s\", \"$key\": %s}')"
             % (client, sealed, key)),
            ("a supplement to a report", "client:%s" % gateway, "select * from"
             " hotline.report_supplement(%s, 'v8', '\\x00', '%s', '{\"text\": \"%s\"}')"
             % (gateway, receipt, sealed))]:
        plans, bad, errors = seq_scans(who, sql)
        check(plans > 1 and not bad and not errors,
              "%s: none of its %d statements scans a big table whole" % (what, plans),
              "\n".join(bad + errors))
    times = {}
    for name, path in (("caseload", "/v1/cases?limit=50"), ("open", "/v1/cases?state=open"),
                       ("caller", "/v1/callers/13800000004/history"), ("case", "/v1/cases/" + n)):
        t0 = time.monotonic()
        st, h, r = seat.get(path)
        times[name] = (time.monotonic() - t0) * 1000
        check(st == 200, "the seat reads %s through the daemon" % path, (st, str(r)[:300]))
    print("# an operator's reads at %s cases (ms): %s" % (
        scalar("select count(*) from hotline.cases"),
        " ".join("%s=%.0f" % kv for kv in times.items())))


@test(limit=600)
def a_burst_of_due_clocks_all_fire(daemon):
    ids = burst(daemon, BURST, 20, "burst")
    check(len(ids) == BURST, "each report has its acknowledge clock", len(ids))
    done = wait_until(lambda: fired(ids)[0] == len(ids), 240, 1)
    n, lags = fired(ids)
    print("# %d of %d clocks fired; %s" % (n, len(ids), lag_figures(lags)))
    check(done, "every one of the %d clocks fires (%d did)" % (len(ids), n))
    check(lags and lags[-1] < LAG_BOUND, "escalation keeps up: each fires within %d s of its"
          " due time (the latest %.1f s after)" % (LAG_BOUND, lags[-1] if lags else -1))
    check("escalation_failed" not in daemon.logtext(), "no escalation pass failed",
          [line for line in daemon.logtext().splitlines() if "escalation_failed" in line][:5])
    once = scalar("select count(*) from hotline.case_events e where e.kind = 'clock_missed'"
                  " and e.data->>'clock' = 'acknowledge' and (e.data->>'assignment')::uuid in"
                  " (select a.assignment_id from hotline.clocks k join hotline.assignments a"
                  " on a.id = k.assignment_id where k.id = any(string_to_array(:'a0', ',')"
                  "::bigint[]))", ",".join(map(str, ids)))
    check(int(once) == len(ids), "each is recorded once in its case's history", once)


@test(limit=600)
def a_clock_that_fails_alone_is_set_aside_and_the_others_fire(daemon):
    saved = scalar("select acknowledge from hotline.deadlines where risk_level = 2")
    # The two clocks to fail are chosen once filed: make them fail in the
    # database (a trigger that refuses to fire them), as corrupt data would.
    psql("create table public.poisoned (id bigint primary key);"
         "grant select on public.poisoned to public;"
         "create function public.poison() returns trigger language plpgsql as $$"
         " begin if new.fired_at is not null and exists (select 1 from public.poisoned p"
         " where p.id = new.id) then raise exception 'refused' using errcode = 'P0001';"
         " end if; return new; end $$;"
         "create trigger poison before update on hotline.clocks for each row"
         " execute function public.poison()")
    try:
        ids = burst(daemon, 300, 15, "poisoned burst")
        psql("insert into public.poisoned values (:a0), (:a1)", ids[100], ids[201])
        bad = {ids[100], ids[201]}
        good = [i for i in ids if i not in bad]
        done = wait_until(lambda: fired(good)[0] == len(good), 180, 1)
        n, lags = fired(good)
        print("# %d of %d healthy clocks fired; %s" % (n, len(good), lag_figures(lags)))
        check(done, "every healthy clock fires (%d of %d)" % (n, len(good)))
        aside = psql("select id, set_aside_reason from hotline.clocks where set_aside_at is not null"
                     " and id = any(string_to_array(:'a0', ',')::bigint[]) order by id",
                     ",".join(map(str, ids)))
        check(aside == [[str(i), "P0001"] for i in sorted(bad)],
              "the two failing clocks are set aside with their SQLSTATE", aside)
        log = daemon.logtext()
        check(all("event=clock_set_aside clock=%d sqlstate=P0001" % i in log for i in bad),
              "and the daemon logs each, by clock id and SQLSTATE",
              [line for line in log.splitlines() if "set_aside" in line])
        check(scalar("set hotline.scope = 'system';"
                     " select hotline.clock_next_due() > max(due_at) from hotline.clocks"
                     " where id in (:a0, :a1)", *sorted(bad)) == "t",
              "a set-aside clock no longer holds the loop's next due time")
    finally:
        psql("drop trigger poison on hotline.clocks; drop function public.poison();"
             " drop table public.poisoned")
        psql("update hotline.deadlines set acknowledge = :'a0' where risk_level = 2", saved)


@test(limit=600)
def two_daemons_fire_each_clock_exactly_once(daemon):
    second = Daemon("second").start()
    try:
        before = [second.logtext().count("event=escalation clocks="),
                  daemon.logtext().count("event=escalation clocks=")]
        ids = burst(daemon, BURST, 20, "burst with two daemons")
        done = wait_until(lambda: fired(ids)[0] == len(ids), 240, 1)
        n, lags = fired(ids)
        print("# %d of %d clocks fired with two daemons; %s" % (n, len(ids), lag_figures(lags)))
        check(done, "every one of the %d clocks fires (%d did)" % (len(ids), n))
        check(lags and lags[-1] < LAG_BOUND, "each fires within %d s of its due time (the"
              " latest %.1f s after)" % (LAG_BOUND, lags[-1] if lags else -1))
        per = psql("select count(e.*) from hotline.clocks k join hotline.assignments a"
                   " on a.id = k.assignment_id left join hotline.case_events e on"
                   " e.case_id = a.case_id and e.kind = 'clock_missed' and e.data->>'clock' ="
                   " 'acknowledge' and (e.data->>'assignment')::uuid = a.assignment_id"
                   " where k.id = any(string_to_array(:'a0', ',')::bigint[]) group by k.id",
                   ",".join(map(str, ids)))
        counts = sorted(set(int(r[0]) for r in per))
        check(counts == [1], "each clock is recorded exactly once (counts seen: %s)" % counts)
        esc = psql("select max(c) from (select count(*) c from hotline.assignments x where"
                   " x.escalated_from in (select k.assignment_id from hotline.clocks k"
                   " where k.id = any(string_to_array(:'a0', ',')::bigint[]))"
                   " group by x.escalated_from) y", ",".join(map(str, ids)))
        check(esc == [["1"]], "and each late assignment escalated exactly once", esc)
        after = [second.logtext().count("event=escalation clocks="),
                 daemon.logtext().count("event=escalation clocks=")]
        print("# escalation passes: second daemon %d, first %d" % (
            after[0] - before[0], after[1] - before[1]))
        check(after[0] > before[0] and after[1] > before[1], "both daemons took part", after)
    finally:
        second.stop()
