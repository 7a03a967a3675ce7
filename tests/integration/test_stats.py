"""Statistics (GET /v1/stats, hotlinectl stats --csv): a statistician reads
the figures and nothing else; the figures of a county of the test's own
match what the test filed and did there (cases, reports and calls by every
dimension; acknowledgement and first-action times; clocks met, missed,
escalated and handed over; police outcomes; what is overdue), counted
independently from the submissions and the case views; small counts and
their complements are suppressed; the CSV says the same as the API; the
daemon keeps the figures up to date by itself."""

import csv
import io
import math
import random
import time
from datetime import datetime, timedelta

from .lib import (SHANGHAI, Client, check, example_json, fingerprint, file_report, hotlinectl,
                  log_call, make_client_cert, new_key, personal_report, pki, psql, rfc3339, scalar,
                  test, view, wait_until)
from .test_intake import schema_validator

DIMENSIONS = ("category", "subcategory", "risk_level", "region", "agency", "source",
              "reporter_profession", "institution_type", "situation")
DISPOSITIONS = ("counselled", "information", "referred", "silent", "hang_up", "prank", "abusive",
                "case_opened", "follow_up")
LIVE = ("open", "acknowledged", "outside_jurisdiction", "accepted", "case_opened", "prosecution")
# The statutory situations' categories and least risk (proto/protocol.md).
SITUATIONS = {1: ("abuse/sexual_abuse", 2), 2: ("abuse/sexual_abuse", 2),
              3: ("abuse/sexual_abuse", 2), 4: ("abuse/physical_abuse", 2),
              5: ("psychological/self_harm", 2), 6: ("abuse/neglect", 3),
              7: ("abuse/trafficking_missing", 1), 8: ("abuse/exploitation", 2),
              9: ("abuse/other_serious", 2)}


def today():
    """Today in China Standard Time, as the figures count days."""
    return datetime.now(SHANGHAI).date().isoformat()


def refresh():
    """Count everything queued now (as the daemon's timer does), waiting out a
    refresh another process is running."""
    for _ in range(300):
        taken, more, busy = psql("set hotline.scope = 'system';"
                                 " select taken, more, busy from hotline.stats_refresh(100000)")[0]
        if busy == "f" and more == "f":
            return
        time.sleep(0.1)
    raise AssertionError("the statistics could not be refreshed")


class Threshold:
    """stats_min_count set to n inside the block."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.saved = scalar("select value from hotline.settings where name = 'stats_min_count'")
        psql("update hotline.settings set value = :'a0' where name = 'stats_min_count'", self.n)

    def __exit__(self, *exc):
        psql("update hotline.settings set value = :'a0' where name = 'stats_min_count'", self.saved)


def stats(daemon, who="statistician", **query):
    """GET /v1/stats as a client: (status, body)."""
    q = "&".join("%s=%s" % kv for kv in query.items())
    st, h, b = Client(daemon, who).get("/v1/stats?" + q)
    return st, b


def cells(body, by):
    """The cells of a 200 body keyed by the values of their dimensions."""
    return {tuple(c[d] for d in by): c for c in body["cells"]}


def test_county():
    """A county of this test's own under a test city (329900), with one agency
    of each kind (none above it) and clients for its police, education and
    health bureaus: its figures are this test's alone."""
    psql("insert into hotline.regions (code, name, parent_code) values ('329900', '测试市',"
         " '320000') on conflict (code) do nothing")
    used = {r[0] for r in psql("select code from hotline.regions where code like '3299%'")}
    county = random.choice(["3299%02d" % i for i in range(1, 100) if "3299%02d" % i not in used])
    psql("insert into hotline.regions (code, name, parent_code) values (:'a0', '测试县', '329900');"
         " insert into hotline.agencies (code, kind, region_code, name)"
         " select k.kind || '-' || :'a0', k.kind, :'a0', '测试县 ' || k.name"
         " from hotline.agency_kinds k", county)
    for kind in ("police", "education", "health"):
        name = "%s-%s" % (kind, county)
        make_client_cert(name)
        psql("select hotline.client_upsert(:'a0', 'agency', :'a0', :'a1')", name,
             fingerprint(pki(name + ".crt")))
    return county


def bucket(seconds):
    """A duration's bucket as the protocol defines it: whole seconds rounded
    up, then up to the next 10 s, minute, 15 minutes or hour."""
    s = math.ceil(seconds)
    if s <= 0:
        return 0
    for limit, step in ((600, 10), (7200, 60), (172800, 900)):
        if s <= limit:
            return -(-s // step) * step
    return -(-s // 3600) * 3600


def percentile(values, p):
    """The smallest value that a share p of the values do not exceed."""
    values = sorted(values)
    return values[math.ceil(p * len(values)) - 1] if values else None


def seconds(ts):
    """An RFC 3339 timestamp as epoch seconds."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def now_call(name, county):
    """An example call, its child in the county, started ten minutes ago."""
    body = example_json(name)
    t = datetime.now(SHANGHAI)
    body["started_at"] = rfc3339(t - timedelta(minutes=10))
    body["ended_at"] = rfc3339(t - timedelta(minutes=5))
    if "open_case" in body:
        body["open_case"]["child"]["region_code"] = county
    return body


def county_report(name, county, **changes):
    """An example report about a child of the county, from an institution there."""
    body = personal_report(region=county)
    example = example_json(name)
    for k in ("situations", "immediate_danger", "institution"):
        body[k] = example[k]
    body["institution"]["region_code"] = county
    body.update(changes)
    return body


@test
def a_statistician_reads_statistics_and_nothing_else(daemon):
    n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
    st, h, v = view(daemon, "police-320102", n)
    a = [x for x in v["assignments"] if x["agency"] == "police-320102"][0]["assignment_id"]
    rid = "0f0e0d0c-0b0a-4909-8807-060504030201"
    refresh()       # the figures below need this case counted, whatever ran before
    q = "/v1/stats?from=%s&to=%s" % (today(), today())
    endpoints = [("GET", q, None), ("POST", "/v1/calls", example_json("calls.silent.valid.json")),
                 ("POST", "/v1/reports", example_json("reports.self-harm.valid.json")),
                 ("GET", "/v1/cases/" + n, None), ("GET", "/v1/cases/%s/access-log" % n, None),
                 ("POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}),
                 ("POST", "/v1/cases/%s/access-requests" % n, {"purpose": "x"}),
                 ("GET", "/v1/queue", None), ("POST", "/v1/assignments/%s/ack" % a, None),
                 ("POST", "/v1/assignments/%s/transfer" % a,
                  {"target_agency": "police-320104", "reason": "x"}),
                 ("GET", "/v1/supervision/overdue", None), ("GET", "/v1/access-requests", None),
                 ("POST", "/v1/access-requests/%s/approve" % rid, None),
                 ("POST", "/v1/access-requests/%s/deny" % rid, None),
                 ("GET", "/v1/reports/R%s/status" % ("A" * 20), None), ("GET", "/v1/version", None)]
    c = Client(daemon, "statistician")
    got = []
    for method, path, body in endpoints:
        st, h, b = c.get(path) if method == "GET" else c.post(path, body, new_key())
        got.append((method, path.split("?")[0], st, (b or {}).get("error", {}).get("code")))
    want = [(m, p.split("?")[0], 200 if p == q else 403, None if p == q else "forbidden")
            for m, p, _ in endpoints]
    check(got == want, "a statistician reads GET /v1/stats and is refused every other endpoint"
          " (%d endpoints)" % len(endpoints), [g for g, w in zip(got, want) if g != w])
    for who, want in (("console", 403), ("gateway", 403), ("admin", 200), ("police-320102", 200),
                      ("procuratorate-320100", 200)):
        st, b = stats(daemon, who, **{"from": today(), "to": today()})
        check(st == want and (st == 200 or b["error"]["code"] == "forbidden"),
              "%s: GET /v1/stats is %d" % (who, want), (st, b))
    st, b = stats(daemon, "police-320102", **{"from": today(), "to": today(), "by": "agency"})
    check(st == 200 and b["agency"] == "police-320102"
          and [x["agency"] for x in b["cells"]] == ["police-320102"],
          "an agency gets its own agency's figures only", b)
    st, b = stats(daemon, "statistician", **{"from": today(), "to": today(), "by": "agency"})
    check(st == 200 and b["agency"] is None and len(b["cells"]) > 1,
          "a statistician gets every agency's", st)
    try:
        v = schema_validator("stats.response.schema.json")
    except ImportError as e:
        check(False, "jsonschema is installed", e)
        return
    for by in ("agency", "region,category,subcategory,risk_level", "situation,source,"
               "reporter_profession,institution_type", ""):
        st, b = stats(daemon, **{"from": "2026-01-01", "to": today(), "by": by})
        errs = list(v.iter_errors(b))
        check(st == 200 and b["cells"] and not errs, "GET /v1/stats?by=%s conforms to"
              " stats.response" % by, [e.message[:200] for e in errs[:3]])
    st, b = stats(daemon, **{"from": today(), "to": "2025-01-01"})
    check(st == 400 and not list(schema_validator("error.schema.json").iter_errors(b)),
          "a refused request conforms to error", b)


@test(limit=180)
def the_figures_of_a_county_are_what_was_filed_and_done_there(daemon):
    county = test_county()
    police, education, health = ("%s-%s" % (k, county) for k in ("police", "education", "health"))
    # What was filed: four reports, two calls that opened a case.
    reports = {
        "r1": county_report("reports.sexual-abuse.valid.json", county),
        "r2": county_report("reports.self-harm.valid.json", county),
        "r3": county_report("reports.kindergarten-injury.valid.json", county),
        "r4": county_report("reports.sexual-abuse.valid.json", county, immediate_danger=True),
    }
    reports["r2"]["reporter"]["profession"] = "doctor"
    calls = {"k1": now_call("calls.case-opened.valid.json", county),
             "k2": now_call("calls.case-opened-bullying.valid.json", county)}
    number = {k: file_report(daemon, b)["case_number"] for k, b in reports.items()}
    number.update({k: log_call(daemon, b)["case_number"] for k, b in calls.items()})

    # The cases' dimensions, from what was sent; the agencies each was routed
    # to, from its view (the assignments made with the case).
    dims = {}
    for k, b in reports.items():
        pairs = sorted({SITUATIONS[s][0] for s in b["situations"]})
        dims[k] = {"source": "report", "region": county, "reporter_profession":
                   b["reporter"]["profession"], "institution_type": b["institution"]["type"],
                   "situation": [str(s) for s in b["situations"]], "subcategory": pairs,
                   "category": sorted({p.split("/")[0] for p in pairs}),
                   "risk_level": "1" if b["immediate_danger"] else
                   str(min(SITUATIONS[s][1] for s in b["situations"]))}
    for k, b in calls.items():
        oc = b["open_case"]
        pairs = sorted({c["category"] + "/" + c["subcategory"] for c in oc["categories"]})
        dims[k] = {"source": "call", "region": county, "reporter_profession": None,
                   "institution_type": None, "situation": [None], "subcategory": pairs,
                   "category": sorted({p.split("/")[0] for p in pairs}),
                   "risk_level": str(oc["risk_level"])}
    routed = {}
    for k, n in number.items():
        st, h, v = view(daemon, "admin", n)
        routed[k] = sorted(a["agency"] for a in v["assignments"]
                           if a["created_at"] == v["created_at"])
        dims[k]["agency"] = routed[k]
    check(all(police in routed[k] for k in ("r1", "r3", "r4", "k1"))
          and health in routed["r2"] and education in routed["k2"],
          "the county's own agencies got its cases", routed)

    def assignment(k, agency):
        st, h, v = view(daemon, "admin", number[k])
        return [a for a in v["assignments"] if a["agency"] == agency][0]["assignment_id"]

    # The police acknowledge three reports after 50 minutes, 5 minutes and at
    # once (their assignments are made older), then record 受案 and feedback,
    # 立案, 不予立案; they hand the first call's case to another county.
    shifts = {"r1": 3000, "r3": 300, "r4": 0}
    pc = Client(daemon, police)
    done = []
    for k, shift in shifts.items():
        a = assignment(k, police)
        psql("update hotline.assignments set created_at = created_at - make_interval(secs => :a1)"
             " where assignment_id = :'a0'", a, shift)
        done.append(pc.post("/v1/assignments/%s/ack" % a, None, new_key())[0])
    outcomes = {"r1": {"type": "outcome", "outcome": "accepted"},
                "r3": {"type": "outcome", "outcome": "case_opened", "police_case_number": "A1"},
                "r4": {"type": "outcome", "outcome": "declined", "reason": "（测试）不构成"}}
    for k, body in outcomes.items():
        done.append(pc.post("/v1/cases/%s/events" % number[k], body, new_key())[0])
    done.append(pc.post("/v1/cases/%s/events" % number["r1"], {"type": "feedback"}, new_key())[0])
    done.append(pc.post("/v1/cases/%s/events" % number["r1"], {"type": "note", "text": "（测试）"},
                        new_key())[0])
    done.append(pc.post("/v1/assignments/%s/transfer" % assignment("k1", police),
                        {"target_agency": "police-320102", "reason": "（测试）属地"}, new_key())[0])
    check(done == [200, 200, 200, 201, 201, 201, 201, 201, 201], "the police's work is accepted",
          done)
    # The health bureau misses its acknowledgement of the self-harm report.
    h_r2 = assignment("r2", health)
    psql("update hotline.clocks set warn_at = now() - interval '2 seconds', due_at = now() -"
         " interval '1 second' where kind = 'acknowledge' and assignment_id = (select id from"
         " hotline.assignments where assignment_id = :'a0'); select pg_notify('hotline_clock', '')",
         h_r2)
    fired = wait_until(lambda: "escalated" in [e["kind"] for e in
                                               view(daemon, "admin", number["r2"])[2]["history"]],
                       20, 0.2)
    check(fired, "the missed acknowledgement escalates")

    # What happened, from the case views alone: each primary assignment's
    # acknowledgement and first action (times from the history), each
    # clock's end, the outcomes, the escalations, what is overdue now.
    work = {}       # agency -> figures

    def fig(agency):
        return work.setdefault(agency, {"acknowledge": [], "first_action": [], "police": {},
                                        "clocks": {}, "overdue": 0})
    for k, n in number.items():
        st, h, v = view(daemon, "admin", n)
        hist = v["history"]
        assigned = {e["assignment"]: seconds(e["at"]) for e in hist if e["kind"] == "assigned"}
        for a in v["assignments"]:
            f = fig(a["agency"])
            aid = a["assignment_id"]
            start = assigned[aid] - shifts.get(k, 0) * (a["agency"] == police)
            mine = [e for e in hist if e.get("assignment") == aid]
            acks = [e for e in mine if e["kind"] in ("acknowledged", "outcome")]
            firsts = [e for e in mine if e["kind"] in ("note", "outcome", "feedback")]
            if a["role"] == "primary" and acks:
                f["acknowledge"].append(bucket(seconds(acks[0]["at"]) - start))
            if a["role"] == "primary" and firsts:
                f["first_action"].append(bucket(seconds(firsts[0]["at"]) - start))
            for e in mine:
                if e["kind"] == "outcome" and a["agency"].startswith("police-"):
                    f["police"][e["outcome"]] = f["police"].get(e["outcome"], 0) + 1
            for e in hist:
                if e["kind"] == "transferred" and e["from"] == aid \
                        and a["agency"].startswith("police-"):
                    f["police"]["transferred"] = f["police"].get("transferred", 0) + 1
                if e["kind"] == "escalated" and e["from"] == aid:
                    c = f["clocks"].setdefault(e["clock"], {})
                    c["escalated"] = c.get("escalated", 0) + 1
            missed = False
            for clock in a["clocks"]:
                end = {"stopped": "transferred" if a["state"] == "transferred" else "met",
                       "missed": "missed"}.get(clock["status"])
                if end:
                    c = f["clocks"].setdefault(clock["kind"], {})
                    c[end] = c.get(end, 0) + 1
                missed = missed or clock["status"] == "missed"
            f["overdue"] += missed and a["state"] in LIVE

    def expected_work(agency):
        """Every work figure of an agency's cell, as computed above."""
        f = fig(agency)
        out = {"overdue": f["overdue"], "police": {o: f["police"].get(o, 0) for o in
                                                    ("accepted", "case_opened", "declined",
                                                     "transferred")}}
        for w in ("acknowledge", "first_action"):
            out[w] = {"count": len(f[w]), "median_seconds": percentile(f[w], 0.5),
                      "p90_seconds": percentile(f[w], 0.9)}
        out["clocks"] = {}
        for kind, c in f["clocks"].items():
            met, missed, esc = c.get("met", 0), c.get("missed", 0), c.get("escalated", 0)
            share = (lambda x: round(x / (met + missed), 4)) if met + missed else (lambda x: None)
            out["clocks"][kind] = {"met": met, "missed": missed, "escalated": esc,
                                   "transferred": c.get("transferred", 0), "met_share": share(met),
                                   "missed_share": share(missed), "escalated_share": share(esc)}
        return out

    with Threshold(1):
        refresh()
        period = {"from": today(), "to": today(), "region": county}
        st, b = stats(daemon, **dict(period, by="agency"))
        got = cells(b, ["agency"]) if st == 200 else {}
        bad = []
        for agency in (police, health, education):
            want = expected_work(agency)
            have = got.get((agency,), {})
            kinds = set(want["clocks"]) | set(have.get("clocks", {}))
            want["clocks"] = {k: want["clocks"].get(k, {"met": 0, "missed": 0, "escalated": 0,
                                                        "transferred": 0, "met_share": None,
                                                        "missed_share": None,
                                                        "escalated_share": None}) for k in kinds}
            for key in want:
                if have.get(key) != want[key]:
                    bad.append((agency, key, have.get(key), want[key]))
        check(st == 200 and not bad, "every work figure of the county's police, health and"
              " education bureaus is what the case views say: acknowledgement and first-action"
              " times, police outcomes, each clock's end, escalations, what is overdue", bad or b)
        check(len(set(fig(police)["acknowledge"])) == 3,
              "the police's three acknowledgement times fall in three buckets, so the median and"
              " the 90th percentile differ", fig(police)["acknowledge"])
        check(got.get((police,), {}).get("police") == {"accepted": 1, "case_opened": 1,
                                                        "declined": 1, "transferred": 1}
              and got.get((health,), {}).get("overdue") == 1,
              "one 受案, one 立案, one 不予立案 and one transfer by the police; the health"
              " bureau's missed acknowledgement is overdue", got.get((police,)))

        # Cases, reports and calls by every dimension.
        bad = []
        for d in DIMENSIONS:
            want = {}
            for k, dv in dims.items():
                values = dv[d] if isinstance(dv[d], list) else [dv[d]]
                for val in values:
                    w = want.setdefault((val,), {"cases": 0, "reports": 0,
                                                 "calls": dict.fromkeys(DISPOSITIONS, 0)})
                    w["cases"] += 1
                    w["reports"] += dv["source"] == "report"
            for k, b in calls.items():
                topic = b["topic"]
                val = {"category": topic["category"],
                       "subcategory": topic["category"] + "/" + topic.get("subcategory", ""),
                       "risk_level": str(b["open_case"]["risk_level"]), "region": county,
                       "source": "call"}.get(d)
                w = want.setdefault((val,), {"cases": 0, "reports": 0,
                                             "calls": dict.fromkeys(DISPOSITIONS, 0)})
                w["calls"][b["disposition"]] += 1
            st, body = stats(daemon, **dict(period, by=d))
            have = {}
            for key, c in cells(body, [d]).items() if st == 200 else []:
                key = tuple(str(x) if x is not None else None for x in key)
                if c["cases"] or c["reports"] or any(c["calls"].values()):
                    have[key] = {"cases": c["cases"], "reports": c["reports"], "calls": c["calls"]}
            if have != want:
                bad.append((d, st, have, want))
        check(not bad, "cases, reports and calls by disposition match what was filed, grouped by"
              " each of the %d dimensions" % len(DIMENSIONS), bad)
        st, b = stats(daemon, **period)
        check(st == 200 and len(b["cells"]) == 1 and b["cells"][0]["cases"] == len(number)
              and b["cells"][0]["reports"] == len(reports),
              "without grouping, one cell: %d cases, %d of them reports"
              % (len(number), len(reports)),
              b)
        st, b = stats(daemon, **dict(period, by="agency,category"))
        c = cells(b, ["agency", "category"]) if st == 200 else {}
        check(c.get((police, "abuse"), {}).get("cases") == 4
              and c.get((police, "psychological"), {}).get("cases") == 1
              and c.get((education, "bullying"), {}).get("cases") == 1
              and c.get((education, "psychological"), {}).get("cases") == 2,
              "two dimensions at once: the police's abuse cases and the self-harm report (every"
              " report reaches the police), the education bureau's bullying case (also"
              " psychological) and the self-harm report it is informed of as the school's"
              " department", sorted((str(k), v.get("cases")) for k, v in c.items()))


@test
def small_counts_and_their_complements_are_suppressed(daemon):
    county = test_county()
    police = "police-" + county
    for i in range(7):
        file_report(daemon, county_report("reports.sexual-abuse.valid.json", county))
    for i in range(2):
        file_report(daemon, county_report("reports.kindergarten-injury.valid.json", county))
    file_report(daemon, county_report("reports.self-harm.valid.json", county))
    refresh()
    period = {"from": today(), "to": today(), "region": county}
    st, b = stats(daemon, **dict(period, by="subcategory"))
    check(st == 200 and b["threshold"] == 5, "the threshold is 5 by default", b.get("threshold"))
    c = cells(b, ["subcategory"])
    # sexual_abuse: 9 cases; physical_abuse: 2; self_harm: 1.
    check(c[("abuse/sexual_abuse",)]["cases"] == 9
          and c[("abuse/physical_abuse",)]["cases"] == "suppressed"
          and c[("psychological/self_harm",)]["cases"] == "suppressed",
          "2 physical-abuse and 1 self-harm cases are suppressed; 9 sexual-abuse ones are not",
          {k: v["cases"] for k, v in c.items()})
    st, b = stats(daemon, **dict(period, by="category"))
    c = cells(b, ["category"])
    # By category: abuse 9, psychological 1: the line over categories holds
    # one suppressed count, so its complement (abuse) is suppressed too, and
    # the county's total (10) cannot give the psychological count.
    check(c[("psychological",)]["cases"] == "suppressed" and c[("abuse",)]["cases"] == "suppressed",
          "with one category below the threshold, the other is suppressed too (the county's"
          " total would give it away)", {k: v["cases"] for k, v in c.items()})
    st, b = stats(daemon, **period)
    check(b["cells"][0]["cases"] == 10, "the county's total is published", b["cells"])
    bad = []
    for by in ("category", "subcategory", "agency,category", "situation,risk_level"):
        st, b = stats(daemon, **dict(period, by=by))
        dims = by.split(",")
        for cell in b["cells"]:
            figures = {k: v for k, v in cell.items() if k not in dims}
            for path, value in flatten(figures):
                if isinstance(value, int) and 1 <= value < 5 and not path[-1].endswith(("_seconds",
                                                                                       "_share")):
                    bad.append((by, [cell[d] for d in dims], path, value))
        for i, d in enumerate(dims):
            lines = {}
            for cell in b["cells"]:
                key = tuple(cell[x] for j, x in enumerate(dims) if j != i)
                lines.setdefault(key, []).append(cell["cases"])
            bad += [(by, d, key, s) for key, s in lines.items() if s.count("suppressed") == 1
                    and any(x != "suppressed" and x > 0 for x in s)]
    check(not bad, "no count between 1 and 4 is shown, and no line of cells holds exactly one"
          " suppressed case count beside published ones", bad)
    st, b = stats(daemon, "police-" + county, **dict(period, by="category"))
    check(st == 200 and b["agency"] == police
          and all(x["cases"] in ("suppressed", 0) or x["cases"] >= 5 for x in b["cells"]),
          "an agency's own figures are suppressed alike", b)


def flatten(obj, path=()):
    """(path, value) of every leaf of a JSON object."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, path + (k,))
    else:
        yield path, obj


@test
def hotlinectl_writes_the_same_figures_as_csv(daemon):
    county = test_county()
    for i in range(6):
        file_report(daemon, county_report("reports.sexual-abuse.valid.json", county))
    file_report(daemon, county_report("reports.self-harm.valid.json", county))
    refresh()
    code, out = hotlinectl("stats", "--from", today(), "--to", today(), "--region", county,
                           "--by", "agency,category", "--csv")
    rows = list(csv.reader(io.StringIO(out)))
    check(code == 0 and rows and rows[0] == ["agency", "category", "figure", "value"],
          "hotlinectl stats --csv writes a header row: the dimensions, figure, value", out[:300])
    st, b = stats(daemon, **{"from": today(), "to": today(), "region": county,
                             "by": "agency,category"})
    want = []
    for cell in b["cells"]:
        figures = {k: v for k, v in cell.items() if k not in ("agency", "category")}
        for path, value in flatten(figures):
            want.append([cell["agency"] or "", cell["category"] or "", ".".join(path),
                         "" if value is None else str(value)])
    check(sorted(rows[1:]) == sorted(want), "its rows are the API's figures, one per cell and"
          " figure, suppressed ones as \"suppressed\" (%d rows)" % len(want),
          [r for r in rows[1:] if r not in want][:5] + ["--"] + [w for w in want
                                                                 if w not in rows[1:]][:5])
    check(["police-" + county, "psychological", "cases", "suppressed"] in rows
          and ["police-" + county, "abuse", "cases", "suppressed"] in rows
          and ["procuratorate-" + county, "abuse", "cases", "6"] in rows,
          "the CSV suppresses the police's self-harm case, and its six abuse cases with it (the"
          " police's total would give the one away); the procuratorate's six abuse cases show",
          [r for r in rows[1:] if r[2] == "cases"])
    check(out.encode("utf-8").decode("utf-8") == out and "\r" not in out,
          "the CSV is UTF-8 text with one line per row")
    code, out = hotlinectl("stats", "--from", today(), "--to", today(), "--region", county)
    check(code == 0 and "cases" in out and "7" in out.split(), "without --csv, a table", out[-400:])
    for args, want_code, words in (
            (("--from", "2026-13-01", "--to", today(), "--csv"), 1, "from: must be a date"),
            (("--from", "yesterday", "--to", today()), 2, "dates YYYY-MM-DD"),
            (("--from", today(), "--to", today(), "--region", "999999"), 1, "no such region"),
            (("--from", today(), "--to", today(), "--by", "colour"), 1, "must be words among"),
            (("--from", today(), "--to", today(), "--colour", "x"), 2, "no option --colour"),
            (("--from", today()), 2, "usage:")):
        code, out = hotlinectl("stats", *args)
        check(code == want_code and words in out, "hotlinectl stats %s: exit %d, %r" % (
            " ".join(args), want_code, words), (code, out[-300:]))


@test
def calls_without_a_case_are_counted_without_a_region(daemon):
    day = {"from": today(), "to": today()}
    with Threshold(1):
        refresh()
        st, before = stats(daemon, **dict(day, by="source"))
        filed = {}
        for name in ("calls.silent.valid.json", "calls.prank.valid.json", "calls.prank.valid.json",
                     "calls.counselled-study-pressure.valid.json", "calls.hang-up.valid.json"):
            body = now_call(name, None)
            log_call(daemon, body)
            filed[body["disposition"]] = filed.get(body["disposition"], 0) + 1
        refresh()
        st, after = stats(daemon, **dict(day, by="source"))
        b0 = cells(before, ["source"]).get(("call",), {}).get("calls", {})
        b1 = cells(after, ["source"]).get(("call",), {}).get("calls", {})
        delta = {d: b1.get(d, 0) - b0.get(d, 0) for d in DISPOSITIONS}
        check(delta == {d: filed.get(d, 0) for d in DISPOSITIONS},
              "each call is counted once by its disposition on the day it started", (delta, filed))
        st, r = stats(daemon, **dict(day, by="region"))
        check(st == 200 and sum(c["calls"]["silent"] for c in r["cells"] if c["region"] is None)
              >= filed["silent"], "a call that opened no case has no region (null)")


@test
def the_daemon_keeps_the_figures_up_to_date_by_itself(daemon):
    county = test_county()
    since = time.time()
    file_report(daemon, county_report("reports.sexual-abuse.valid.json", county))
    period = {"from": today(), "to": today(), "region": county}

    def counted():
        st, b = stats(daemon, **period)
        return st == 200 and b["as_of"] and seconds(b["as_of"]) > since and b["cells"]
    with Threshold(1):
        got = wait_until(counted, 25, 0.5)
        check(got, "within seconds the daemon's own refresh counts a new report (as_of moves on)")
        st, b = stats(daemon, **period)
        check(b["cells"] and b["cells"][0]["cases"] == 1, "and counts it once", b.get("cells"))
    check("event=stats_refresh_failed" not in daemon.logtext(), "no refresh failed",
          [line for line in daemon.logtext().splitlines() if "stats_refresh" in line][-3:])


@test(limit=120)
def a_refresh_that_keeps_failing_is_retried_smaller_until_the_queue_drains(daemon):
    # A test-only trigger refuses, as a statement timeout would, any refresh
    # that takes more than 100 keys at once; 400 keys are queued that count
    # nothing (routing events, each 8 times), so the figures of other tests
    # stay as they are.
    file_report(daemon, "reports.sexual-abuse.valid.json")
    refresh()
    psql("""create function hotline.test_stats_too_big() returns trigger language plpgsql as $$
            begin
                if (select count(*) from gone) > 100 then
                    raise exception 'test: refresh too big' using errcode = 'query_canceled';
                end if;
                return null;
            end $$;
            create trigger test_stats_too_big after delete on hotline.stats_pending
                referencing old table as gone for each statement
                execute function hotline.test_stats_too_big();
            insert into hotline.stats_pending (case_id, seq)
                select e.case_id, e.seq from (select case_id, seq from hotline.case_events
                    where kind = 'assigned' limit 50) e cross join generate_series(1, 8)""")
    check(scalar("select count(*) from hotline.stats_pending") == "400", "400 keys queued")
    try:
        before = len(daemon.logtext())
        drained = wait_until(lambda: scalar("select count(*) from hotline.stats_pending") == "0",
                             60, 0.5)
        log = daemon.logtext()[before:]
        check(drained, "the daemon drains a queue that no full batch can take (400 keys, at most"
              " 100 a refresh)", scalar("select count(*) from hotline.stats_pending"))
        check("event=stats_refresh_retry" in log and "event=stats_refresh_failed" not in log,
              "each refused batch is logged and tried again smaller, never given up",
              [line for line in log.splitlines() if "stats_refresh" in line][-4:])
    finally:
        psql("drop trigger test_stats_too_big on hotline.stats_pending;"
             " drop function hotline.test_stats_too_big()")
