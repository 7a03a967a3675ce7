"""An agency's queue at any size: pages walked with a cursor in the order of
urgency (kept right when a case is re-graded or a clock stops), since=
listing only what is new (also an assignment committed after a newer one),
long polls that wait while the queue holds older work and wake for a new
assignment, a wake-up that looks again only for the agencies with new work,
malformed cursors refused by name, and the procuratorate's overdue list
walked page by page.  The queue of 合肥市瑶海区's police (340102) is this
file's: no other test files work there."""

import subprocess
import time

from .lib import (PSQL, Client, Daemon, ShortDeadlines, check, file_report, in_background, instant,
                  is_error, new_key, personal_report, psql, scalar, test, wait_until)

POLICE = "police-340102"
LIVE = ("open", "acknowledged", "accepted", "case_opened", "outside_jurisdiction", "prosecution")


def filed(daemon, n):
    """File n reports about children of 340102; their case numbers."""
    return [file_report(daemon, personal_report("340102"))["case_number"] for _ in range(n)]


def urgency(a):
    """An assignment's place in the queue's order, from what the answer shows:
    risk level, then its earliest running clock (none last)."""
    due = sorted(instant(c["due_at"]) for c in a["clocks"]
                 if c["status"] in ("running", "warning"))
    return (a["risk_level"], 0, due[0]) if due else (a["risk_level"], 1, None)


def walk(c, query, limit):
    """Every page of a queue (or overdue list) by its cursor: (pages, error)."""
    pages, cursor = [], None
    for _ in range(200):
        st, h, b = c.get("%s%slimit=%d%s" % (query, "&" if "?" in query else "?", limit,
                                            "&cursor=" + cursor if cursor else ""))
        if st != 200:
            return pages, (st, b)
        pages.append(b)
        cursor = b.get("next_cursor")
        if cursor is None:
            return pages, None
    return pages, "more than 200 pages"


def ids(assignments):
    return [a["assignment_id"] for a in assignments]


def walk_still(c, query, limit, tries=5):
    """A list read whole (limit=500) and walked by pages, again while it
    changed across the walk (the daemon's escalation goes on meanwhile, a
    missed clock entering the overdue list): (whole, pages, error, reads)."""
    sep = "&" if "?" in query else "?"
    for n in range(1, tries + 1):
        st, h, before = c.get(query + sep + "limit=500")
        pages, err = walk(c, query, limit)
        st2, h2, after = c.get(query + sep + "limit=500")
        if st != 200 or st2 != 200:
            return [], pages, (st, before, st2, after), n
        if ids(before["assignments"]) == ids(after["assignments"]):
            break
    return before["assignments"], pages, err, n


def long_poll(daemon, who, since, wait=20):
    """GET /v1/queue?since=&wait= in a thread: (thread, [answer or exception])."""
    return in_background(lambda: Client(daemon, who, timeout=wait + 10).get(
        "/v1/queue?since=%s&wait=%d" % (since, wait)))


@test
def a_queue_is_walked_page_by_page_in_order_of_urgency(daemon):
    mine = filed(daemon, 7)
    c = Client(daemon, POLICE)
    # Re-graded cases move in the queue (the assignment follows its case),
    # and an acknowledged one waits on its next clock.
    psql("update hotline.cases set risk_level = 1 where case_number = :'a0'", mine[3])
    psql("update hotline.cases set risk_level = 4 where case_number = :'a0'", mine[0])
    first = [a for a in c.get("/v1/queue?limit=500")[2]["assignments"]
             if a["case_number"] == mine[5]][0]
    st, h, b = c.post("/v1/assignments/%s/ack" % first["assignment_id"], None, new_key())
    check(st == 200, "an assignment is acknowledged", (st, b))
    st, h, whole = c.get("/v1/queue?limit=500")
    whole = whole["assignments"]
    check(st == 200 and len(whole) >= 7 and all(a["state"] in LIVE for a in whole),
          "the queue lists the open work (%d assignments)" % len(whole), st)
    keys = [urgency(a) for a in whole]
    check(keys == sorted(keys), "most urgent first: by risk level, then the earliest running"
          " clock", [(a["case_number"], k) for a, k in zip(whole, keys)])
    by_case = {a["case_number"]: a for a in whole}
    check(by_case[mine[3]]["risk_level"] == 1 and whole.index(by_case[mine[3]]) <
          whole.index(by_case[mine[1]]) and by_case[mine[0]]["risk_level"] == 4
          and whole.index(by_case[mine[0]]) > whole.index(by_case[mine[6]]),
          "a case re-graded to 1 comes before the others of its day, one re-graded to 4 after",
          [(a["case_number"], a["risk_level"]) for a in whole])
    pages, err = walk(c, "/v1/queue", 2)
    check(err is None and ids([a for p in pages for a in p["assignments"]]) == ids(whole),
          "walked two at a time with next_cursor, the pages hold the whole queue in the same"
          " order, once each (%d pages)" % len(pages), err)
    check(all(len(p["assignments"]) == 2 and "next_cursor" in p for p in pages[:-1])
          and "next_cursor" not in pages[-1] and len(pages[-1]["assignments"]) <= 2,
          "every full page names the next, the last does not",
          [(len(p["assignments"]), p.get("next_cursor")) for p in pages])
    opened = [a for a in whole if a["state"] == "open"]
    pages, err = walk(c, "/v1/queue?state=open", 3)
    check(err is None and ids([a for p in pages for a in p["assignments"]]) == ids(opened),
          "the same with state=open", err)
    # Past the last page of a queue whose length the limit divides, an empty page.
    n = len(whole)
    pages, err = walk(c, "/v1/queue", n)
    check(err is None and len(pages) == 2 and pages[1]["assignments"] == [],
          "a full last page's cursor leads to an empty page", [len(p["assignments"]) for p in pages])


@test
def a_malformed_cursor_or_since_is_refused_by_name(daemon):
    c = Client(daemon, POLICE)
    for value in ("abc", "5.1.1", "0.1.1", "1.1.0", "1.x.1", "1.1", "1..1", "1.inf.",
                  "1.1234567890123456789.1", "1.1.01", "2.-5.3", "1.1.1.1"):
        st, h, b = c.get("/v1/queue?cursor=" + value)
        check(is_error(st, b, 400, "invalid_value") and b["error"].get("field") == "cursor",
              "cursor=%s is 400 naming cursor" % value, (st, b))
    for value in ("x", "1.0", "-1", "1.", "12345678901234567890", "1.2.3"):
        st, h, b = c.get("/v1/queue?since=" + value)
        check(is_error(st, b, 400, "invalid_value") and b["error"].get("field") == "since",
              "since=%s is 400 naming since" % value, (st, b))
    st, h, b = c.get("/v1/queue?since=5&cursor=1.inf.5")
    check(is_error(st, b, 400, "inconsistent") and b["error"].get("field") == "cursor",
          "cursor and since together are 400 inconsistent", (st, b))
    st, h, b = c.get("/v1/queue?cursor=4.inf.999999999999999999")
    check(st == 200 and b["assignments"] == [] and "next_cursor" not in b,
          "a cursor past the end is an empty page", (st, b))


@test
def since_lists_only_what_is_new_and_a_long_poll_waits_while_older_work_is_there(daemon):
    c = Client(daemon, POLICE)
    filed(daemon, 1)  # work in the queue, whichever tests ran before
    st, h, b = c.get("/v1/queue?limit=1")
    check(st == 200 and b["assignments"] and b["next_since"],
          "the queue holds work, and its answer names a since", (st, b))
    since = b["next_since"]
    st, h, b = c.get("/v1/queue?since=" + since)
    check(st == 200 and b["assignments"] == [] and int(b["next_since"]) >= int(since),
          "since= that answer lists nothing: nothing is new", (st, b))
    t0 = time.monotonic()
    st, h, b = c.get("/v1/queue?wait=3")
    check(st == 200 and b["assignments"] and time.monotonic() - t0 < 2,
          "without since= a long poll returns at once, the queue holding work")
    t0 = time.monotonic()
    t, res = long_poll(daemon, POLICE, since)
    time.sleep(1.5)
    check(t.is_alive(), "with since= the long poll waits, though the queue holds older work")
    n = filed(daemon, 1)[0]
    t.join(25)
    elapsed = time.monotonic() - t0
    got = res[0]
    ok = not isinstance(got, Exception) and got[0] == 200
    check(ok and [a["case_number"] for a in got[2]["assignments"]] == [n] and elapsed < 10,
          "a new assignment wakes it (%.1fs), and it lists that one alone" % elapsed, got)
    nxt = got[2]["next_since"] if ok else since
    check(ok and int(nxt) > int(since), "with a later next_since", got)
    st, h, b = c.get("/v1/queue?since=" + nxt)
    check(st == 200 and b["assignments"] == [], "since that one, nothing again", (st, b))
    t0 = time.monotonic()
    st, h, b = c.get("/v1/queue?since=%s&wait=2" % nxt)
    check(st == 200 and b["assignments"] == [] and b["next_since"]
          and 1.5 < time.monotonic() - t0 < 5,
          "with nothing new, the wait ends with an empty answer and a since to go on with",
          (st, b))
    # Pages of what is new: oldest first, each page's next_since after its last.
    more = filed(daemon, 3)
    got, s = [], nxt
    for _ in range(5):
        # wait=: a page held back by a transaction still running (the
        # daemon's own) is answered once it can be, not empty.
        st, h, b = c.get("/v1/queue?limit=2&wait=5&since=" + s)
        got += [a["case_number"] for a in b["assignments"]]
        s = b["next_since"]
        if not b["assignments"] or len(got) >= len(more):
            break
    check(got == more, "what is new comes in the order it arrived, two at a time", (got, more))


@test
def since_does_not_skip_an_assignment_committed_after_a_newer_one(daemon):
    c = Client(daemon, POLICE)
    older_case = filed(daemon, 1)[0]
    since = c.get("/v1/queue?limit=1")[2]["next_since"]
    # An older transaction gives the police a second assignment on that case
    # (a copy, as an escalation would) and commits only after a newer one;
    # a third transaction, begun between them, ends last of the three.
    older = subprocess.Popen(
        [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    older.stdin.write(
        "begin;\nset local hotline.scope = 'system';\nset local search_path = hotline;\n"
        "select hotline.assignment_create(c.id, g.id, 'supervise', 1, null, null, null)"
        " from hotline.cases c, hotline.agencies g where c.case_number = '%s'"
        " and g.code = '%s';\n"
        "select 'created';\n" % (older_case, POLICE))
    older.stdin.flush()
    time.sleep(1.0)
    middle = subprocess.Popen(
        [PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    middle.stdin.write("begin;\nselect pg_current_xact_id();\n")
    middle.stdin.flush()
    middle_xid = middle.stdout.readline().strip()
    newer = filed(daemon, 1)[0]
    st, h, b = c.get("/v1/queue?since=" + since)
    check(st == 200 and b["assignments"] == [], "while an older transaction is still open, the"
          " newer assignment is held back, not listed ahead of it", (st, b))
    t, res = long_poll(daemon, POLICE, since)
    time.sleep(1.0)
    check(t.is_alive(), "a long poll since then waits for it too")
    out, _ = older.communicate("commit;\n", timeout=20)
    t.join(25)
    got = res[0]
    first = [] if isinstance(got, Exception) else got[2]["assignments"]
    check([(a["case_number"], a["role"]) for a in first] == [(older_case, "supervise")],
          "once it commits, the long poll lists the older transaction's assignment alone:"
          " the newer one waits for the transaction begun between them (%s)" % middle_xid,
          (got, out))
    middle.communicate("commit;\n", timeout=20)
    listed = list(first)
    answers = [got]
    deadline = time.monotonic() + 20
    while (not isinstance(answers[-1], Exception) and len(listed) < 2
           and time.monotonic() < deadline):
        st, h, b = c.get("/v1/queue?wait=5&since=" + answers[-1][2]["next_since"])
        answers.append((st, h, b))
        listed += b["assignments"] if st == 200 else []
    check([a["case_number"] for a in listed] == [older_case, newer],
          "that one ended, since= the long poll's next_since lists the newer one: neither is"
          " skipped nor listed twice (%d answers)" % len(answers), (answers, out))


@test
def a_wake_up_looks_again_only_for_the_agencies_with_new_work(daemon):
    d = Daemon("queue-wake", log_level="debug").start()
    try:
        waiting = ("education-320104", "health-320104", POLICE)
        since = {w: Client(d, w).get("/v1/queue?limit=1")[2]["next_since"] for w in waiting}
        polls = [long_poll(d, w, since[w], 12) for w in waiting]
        threads = [t for t, r in polls]
        res = {w: r for w, (t, r) in zip(waiting, polls)}
        parked = wait_until(lambda: d.logtext().count("to=parked") >= 3, 10)
        check(parked, "three long polls wait, one each for three agencies")
        mark = len(d.logtext())
        n = filed(d, 1)[0]
        threads[2].join(15)
        got = res[POLICE][0]
        check(not isinstance(got, Exception) and got is not None and
              [a["case_number"] for a in got[2]["assignments"]] == [n],
              "the police of 340102 get their new assignment", got)
        log = d.logtext()[mark:]
        touches = [line for line in log.splitlines() if "event=queue_touch " in line]
        wakes = [line for line in log.splitlines() if "event=queue_wake " in line]
        police_id = scalar("select id from hotline.agencies where code = :'a0'", POLICE)
        check(any("agencies=3 touched=1 woken=1" in line for line in touches),
              "one query asks about the three waiting agencies and finds new work for one",
              touches)
        check(len(wakes) == 1 and "agency=%s" % police_id in wakes[0],
              "only that agency's waiter queries again", wakes)
        for t in threads[:2]:
            t.join(15)
        check(all(not isinstance(res[w][0], Exception) and res[w][0][0] == 200
                  and res[w][0][2]["assignments"] == [] and res[w][0][2]["next_since"]
                  for w in waiting[:2]),
              "the others wait out their wait and get an empty answer with their since",
              [res[w][0] for w in waiting[:2]])
    finally:
        check(d.stop() == 0, "the daemon stops cleanly")


@test(limit=120)
def the_overdue_list_is_walked_page_by_page(daemon):
    with ShortDeadlines(ack=2, action=600):
        late = [file_report(daemon, personal_report("320102"))["case_number"] for _ in range(3)]
    # Each missed acknowledgement escalates to the city police: two overdue
    # assignments a case.
    done = wait_until(lambda: int(scalar(
        "select count(*) from hotline.assignments a join hotline.cases c on c.id = a.case_id"
        " where c.case_number = any (string_to_array(:'a0', ',')) and a.overdue_at is not null",
        ",".join(late))) >= 6, 40, 0.5)
    check(done, "three cases miss their acknowledgement and escalate")
    for who, prefix in (("procuratorate-320100", "3201"), ("procuratorate-320102", "320102")):
        c = Client(daemon, who)
        whole, pages, err, n = walk_still(c, "/v1/supervision/overdue", 2)
        check(err is None and whole and all(a["region_code"].startswith(prefix) for a in whole)
              and {n for n in late} <= {a["case_number"] for a in whole},
              "%s lists the overdue work of its region (%d), these cases' among it"
              % (who, len(whole)), err)
        check(ids([a for p in pages for a in p["assignments"]]) == ids(whole)
              and all(len(p["assignments"]) == 2 for p in pages[:-1]),
              "%s walks it two at a time, newest first, each once (%d pages; read %d times)"
              % (who, len(pages), n), [ids(p["assignments"]) for p in pages[-3:]])
        ours = {a["assignment_id"] for a in whole
                if a["agency"].startswith("police-") and a["case_number"] in late}
        police, pages, err, n = walk_still(c, "/v1/supervision/overdue?kind=police", 3)
        check(err is None and police and ids([a for p in pages for a in p["assignments"]]) ==
              ids(police) and all(a["agency"].startswith("police-") for a in police)
              and ours <= set(ids(police)),
              "and the police's share of it, three at a time (read %d times)" % n, err)
    c = Client(daemon, "procuratorate-320100")
    st, h, b = c.get("/v1/supervision/overdue?state=closed&limit=500")
    check(st == 200 and all(a["state"] == "closed" for a in b["assignments"]),
          "state=closed lists the closed overdue work alone", (st, b))
    st, h, b = c.get("/v1/supervision/overdue?cursor=x")
    check(is_error(st, b, 400, "invalid_value") and b["error"].get("field") == "cursor",
          "a malformed cursor is 400 naming it", (st, b))
