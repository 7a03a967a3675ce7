#!/usr/bin/env python3
"""The upgrade test: a database made and filled by the latest release is
upgraded to the current migrations, and the current daemon serves it.

    upgrade.py --var <dir> --binary build/hotlined --ctl build/hotlinectl

1. The release: the newest manifest in sql/releases (sql/release.sh).  While
   none is declared, a scratch one: a clone of this repository where
   release.sh declares HEAD (checked: its manifest, verify, and an edit
   refused), with a probe migration after it standing for the next change.
2. The release's daemon and hotlinectl are built from its commit
   (git archive; cached in build/release/<commit>/).
3. The release's own daemon/dev/setup.sh makes an environment in <dir> (its
   PostgreSQL, PKI and keys) and applies only the release's migrations.
4. The release's daemon fills it through the API: reports, calls, an
   acknowledgement, outcomes, feedback, a note, a transfer, an escalation
   with deadlines of seconds, an acknowledgement after an escalation, a
   case closed with an informed agency's work open, an access request
   approved, and a case whose deadline falls due while the daemon is down
   for the upgrade.
5. The current sql/migrate.sh applies the newer migrations; every row of
   every table of cases, calls, clocks, assignments, history, access and
   idempotency is as it was (new columns aside, and exactly what a
   migration changes on purpose: see casework_expected), and every history
   chain is intact (hotlinectl audit verify, before with the release's,
   after with the current one).
6. The current daemon serves the same case views, queues and reporter
   status, replays a response the release stored under an
   Idempotency-Key, catches up on the deadline missed during the upgrade,
   counts the release's history into the statistics (each case and call
   once), and takes new reports.
7. The release's operators belong to a centre by the migration's rule
   (sql/014_centres.sql: the city of an operator's first case, else the
   centre most operators got), their cases and calls to it: another seat
   of the centre reads the release's call case, follows it up with a call
   on it, lists it in the caseload and finds the release's calls by the
   caller's number.

Prints TAP lines and "# N passed, M failed in Xs"; exits 1 if any failed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from integration import lib  # noqa: E402
from integration.lib import (Client, Daemon, ShortDeadlines, assignment_of, check,  # noqa: E402
                             example_json, file_report, free_port, history, log_call, new_key,
                             personal_report, psql, queue, scalar, view, wait_until)

# Every table whose rows an upgrade must keep as they were.
TABLES = ["clients", "agencies", "cases", "children", "case_categories", "reports", "calls",
          "case_events", "case_notes", "assignments", "clocks", "identifiers",
          "access_requests", "access_log", "idempotency", "case_access"]
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "hotlined tests", "GIT_AUTHOR_EMAIL": "tests@hotlined.invalid",
                "GIT_COMMITTER_NAME": "hotlined tests",
                "GIT_COMMITTER_EMAIL": "tests@hotlined.invalid"}


def run(cmd, cwd=None, env=None, timeout=600):
    """Run a command; (exit status, stdout + stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    out = subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)
    return out.returncode, out.stdout + out.stderr


def git(*args):
    """Run git in this repository; its stdout (raises if it fails)."""
    return subprocess.run(["git", "-C", ROOT] + list(args), check=True, capture_output=True,
                          text=True).stdout.strip()


def current_version():
    """HOTLINED_VERSION as daemon/hotlined.h says it now."""
    with open(os.path.join(ROOT, "daemon", "hotlined.h")) as f:
        return re.search(r'#define\s+HOTLINED_VERSION\s+"([^"]+)"', f.read()).group(1)


def manifest_of(path):
    """A manifest's commit and its migrations {file: sha256}."""
    commit, files = None, {}
    with open(path) as f:
        for line in f:
            if line.startswith("commit "):
                commit = line.split()[1]
            elif re.match(r"^[0-9a-f]{64}  ", line):
                s, name = line.split()
                files[name] = s
    return commit, files


def sha256_of(path):
    """The SHA-256 of a file, in hex."""
    return run(["sha256sum", path])[1].split()[0]


def migrations_in(d):
    """The numbered migrations in a directory."""
    return sorted(f for f in os.listdir(d) if re.match(r"^\d{3}_\w+\.sql$", f))


def scratch_release(tmp):
    """Declare HEAD a release in a clone; (version, commit, current sql dir)."""
    version = current_version()
    repo = os.path.join(tmp, "repo")
    rc, out = run(["git", "clone", "-q", "--shared", ROOT, repo])
    if rc != 0:
        raise AssertionError("git clone: " + out)
    rc, out = run(["bash", "sql/release.sh", "declare", version], cwd=repo, env=GIT_IDENTITY)
    manifest = os.path.join(repo, "sql", "releases", version)
    commit, files = manifest_of(manifest) if rc == 0 else (None, {})
    check(rc == 0 and commit == git("rev-parse", "HEAD")
          and sorted(files) == migrations_in(os.path.join(repo, "sql"))
          and all(sha256_of(os.path.join(repo, "sql", f)) == s for f, s in files.items()),
          "no release is declared yet: release.sh declares HEAD as %s in a clone (its commit and"
          " the SHA-256 of its %d migrations)" % (version, len(files)), out)
    last = run(["git", "-C", repo, "log", "-1", "--format=%s", "--name-only"])[1]
    check("sql/releases/" + version in last and len(last.strip().splitlines()) == 3,
          "and commits the manifest alone", last)
    rc, out = run(["bash", "sql/release.sh", "verify"], cwd=repo)
    check(rc == 0, "release.sh verify accepts it", out)
    released = os.path.join(repo, "sql", sorted(files)[0])
    with open(released, "a") as f:
        f.write("-- edited after the release\n")
    rc, out = run(["bash", "sql/release.sh", "verify"], cwd=repo)
    check(rc != 0 and "%s differs from the file released in %s" % (sorted(files)[0], version)
          in out and "never edited" in out,
          "release.sh verify refuses a released migration edited in place", out)
    run(["git", "-C", repo, "checkout", "-q", "--", "sql"])
    rc, out = run(["bash", "sql/release.sh", "declare", version], cwd=repo, env=GIT_IDENTITY)
    check(rc != 0 and "already declared" in out, "a release is declared once", out)
    # The next change after the release: the current migrations and a
    # probe numbered after them.
    sql = os.path.join(tmp, "sql")
    shutil.copytree(os.path.join(ROOT, "sql"), sql)
    os.makedirs(os.path.join(sql, "releases"), exist_ok=True)
    shutil.copy(manifest, os.path.join(sql, "releases", version))
    n = int(migrations_in(sql)[-1][:3]) + 1
    with open(os.path.join(sql, "%03d_upgrade_probe.sql" % n), "w") as f:
        f.write("-- A migration after the release (written by tests/upgrade/upgrade.py).\n"
                "create table hotline.upgrade_probe (x integer);\n"
                "comment on table hotline.upgrade_probe is 'Made by the upgrade test.';\n"
                "alter table hotline.upgrade_probe owner to hotline_owner;\n")
    return version, commit, sql


def real_release():
    """The newest release declared; (version, commit, current sql dir)."""
    version = run(["bash", os.path.join(ROOT, "sql", "release.sh"), "latest"])[1].strip()
    if not version:
        return None
    commit, files = manifest_of(os.path.join(ROOT, "sql", "releases", version))
    check(commit is not None and files, "release %s: its manifest names its commit %s and %d"
          " migrations" % (version, commit, len(files)))
    return version, commit, os.path.join(ROOT, "sql")


def build_release(commit, tmp):
    """The release's daemon and hotlinectl built from its commit (cached)."""
    cache = os.path.join(ROOT, "build", "release", commit)
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    rc, out = run(["bash", "-c", 'git -C "$1" archive "$2" | tar -x -C "$3"', "-",
                   ROOT, commit, src])
    if rc != 0:
        raise AssertionError("git archive: " + out)
    if not os.path.exists(os.path.join(cache, "hotlinectl")):
        t0 = time.monotonic()
        rc, out = run(["make", "-C", src, "build/hotlined", "build/hotlinectl"])
        check(rc == 0, "the release's daemon and hotlinectl build from its commit (%.0fs)"
              % (time.monotonic() - t0), out[-3000:])
        if rc != 0:
            raise AssertionError("build failed")
        parent = os.path.dirname(cache)
        if os.path.isdir(parent):
            shutil.rmtree(parent)       # older commits' builds
        os.makedirs(cache)
        for b in ("hotlined", "hotlinectl"):
            shutil.copy(os.path.join(src, "build", b), os.path.join(cache, b))
    else:
        check(all(os.access(os.path.join(cache, b), os.X_OK) for b in ("hotlined", "hotlinectl")),
              "the release's daemon and hotlinectl were built from its commit before (%s)"
              % os.path.relpath(cache, ROOT))
    # The release's own scripts (setup.sh) look for its tools in its tree.
    os.makedirs(os.path.join(src, "build"), exist_ok=True)
    for b in ("hotlined", "hotlinectl"):
        if not os.path.exists(os.path.join(src, "build", b)):
            shutil.copy(os.path.join(cache, b), os.path.join(src, "build", b))
    return src, os.path.join(cache, "hotlined"), os.path.join(cache, "hotlinectl")


def snapshot():
    """Every row of every kept table, as JSON objects."""
    out = {}
    for t in TABLES:
        rows = psql("select coalesce(jsonb_agg(to_jsonb(t)), '[]') from hotline.%s t" % t)
        out[t] = json.loads(rows[0][0])
    return out


# What a newer migration changes on purpose (found by its name without the
# number, which may change): the migration of the casework rules brings the
# work already in the database under them.  It stops the service clocks that
# no longer apply (the resolve clock under criminal procedure (立案,
# 移送审查起诉) or declined (不予立案), a declined assignment's investigation
# clock); escalated copies whose work below acted after they were made stand
# down (returned, their clocks stopped, an event each); and a closed case's
# remaining live work is closed (an event each).
CASEWORK = "_casework"
STOPPED_STATES = {"resolve": ("case_opened", "prosecution", "declined"),
                  "investigation": ("declined",)}


def instant_of(ts):
    """A timestamp of to_jsonb as an aware datetime (None stays None)."""
    return ts and lib.instant(ts)


def casework_expected(before):
    """What the casework migration must change in the release's rows:
    {"returned": copy ids, "closed": assignment ids, "stopped": clock ids,
    "events": sorted [(case id, kind)] added}."""
    a = {x["id"]: x for x in before["assignments"]}
    closed_cases = {c["id"] for c in before["cases"] if c["status"] == "closed"}
    returned = set()
    while True:
        more = {x["id"] for x in a.values() if x["id"] not in returned and x["escalated_from"]
                and x["state"] in ("open", "acknowledged")
                and (x["escalated_from"] in returned
                     or (instant_of(a[x["escalated_from"]]["acknowledged_at"]) or
                         instant_of(x["created_at"])) > instant_of(x["created_at"]))}
        if not more:
            break
        returned |= more
    closed = {x["id"] for x in a.values() if x["case_id"] in closed_cases
              and x["state"] not in ("transferred", "closed") and x["id"] not in returned}
    stopped = {k["id"] for k in before["clocks"] if k["stopped_at"] is None
               and k["fired_at"] is None
               and (a[k["assignment_id"]]["state"] in STOPPED_STATES.get(k["kind"], ())
                    or k["assignment_id"] in returned | closed)}
    events = sorted([(a[i]["case_id"], "returned") for i in returned]
                    + [(a[i]["case_id"], "assignment_closed") for i in closed])
    return {"returned": returned, "closed": closed, "stopped": stopped, "events": events}


def as_migrated(v):
    """A view or queue as the release showed it, with the clocks the casework
    migration stops shown stopped."""
    if isinstance(v, list):
        return [as_migrated(x) for x in v]
    if not isinstance(v, dict):
        return v
    v = {k: as_migrated(x) for k, x in v.items()}
    if "clocks" in v and "state" in v:
        v["clocks"] = [dict(c, status="stopped") if v["state"] in STOPPED_STATES.get(c["kind"], ())
                       and c["status"] in ("running", "warning") else c for c in v["clocks"]]
    return v


def unchanged(before, after, exp=None):
    """The tables whose rows differ (columns added since aside, and what a
    migration changes on purpose: exp, from casework_expected)."""
    exp = exp or {"returned": set(), "closed": set(), "stopped": set(), "events": []}
    changed = exp["returned"] | exp["closed"]
    grown = {c for c, _ in exp["events"]}
    old_events = {(e["case_id"], e["seq"]) for e in before["case_events"]}

    def masked(t, r):
        if t == "clocks" and r["id"] in exp["stopped"]:
            return dict(r, stopped_at="<stopped>")
        if t == "assignments" and r["id"] in changed:
            return dict(r, state="<changed>")
        if t == "cases" and r["id"] in grown:
            return dict(r, history_len="<grown>", history_head="<grown>")
        return r
    bad = []
    for t, rows in before.items():
        keys = set().union(*[set(r) for r in rows]) if rows else set()
        now_rows = [r for r in after[t] if t != "case_events"
                    or (r["case_id"], r["seq"]) in old_events]
        was = sorted(json.dumps(masked(t, r), sort_keys=True) for r in rows)
        now = sorted(json.dumps(masked(t, {k: r.get(k, "<missing>") for k in keys}), sort_keys=True)
                     for r in now_rows)
        if was != now:
            bad.append("%s: %d rows before, %d after" % (t, len(was), len(now)))
    return bad


def contains(new, old):
    """True if new holds everything old does (new keys may be added)."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and contains(new[k], v)
                                             for k, v in old.items())
    if isinstance(old, list):
        return isinstance(new, list) and len(new) == len(old) and all(
            contains(n, o) for n, o in zip(new, old))
    return new == old


def audit(ctl):
    """hotlinectl audit verify with a given binary; (exit, output)."""
    return run([ctl, "audit", "verify"], env={"HOTLINED_CONF": os.path.join(lib.VAR,
                                                                            "hotlined.conf")})


def fill(d):
    """Fill the database through the release's daemon; what to look at later."""
    seen = {}
    a = file_report(d, personal_report())          # sexual abuse at a school, 320102
    b = file_report(d, personal_report())
    c = log_call(d)                                  # a call that opened a case
    log_call(d, "calls.silent.valid.json")
    log_call(d, "calls.counselled-study-pressure.valid.json")
    police = Client(d, "police-320102")
    pa = assignment_of(d, "police-320102", a["case_number"])
    st, h, r = police.post("/v1/assignments/%s/ack" % pa["assignment_id"], None, new_key())
    check(st == 200 and r["state"] == "acknowledged", "the release's daemon: police acknowledge",
          (st, r))
    for body in ({"type": "outcome", "outcome": "accepted"}, {"type": "note", "text": "已联系学校"},
                 {"type": "outcome", "outcome": "case_opened", "police_case_number": "A2026-001"},
                 {"type": "feedback"}):
        st, h, r = police.post("/v1/cases/%s/events" % a["case_number"], body, new_key())
        check(st == 201, "the release's daemon: police record %s" % body.get("outcome",
                                                                            body["type"]), (st, r))
    pb = assignment_of(d, "police-320102", b["case_number"])
    st, h, r = police.post("/v1/assignments/%s/transfer" % pb["assignment_id"],
                           {"target_agency": "police-320104", "reason": "属地管辖"}, new_key())
    check(st == 201, "the release's daemon: police transfer a case", (st, r))
    edu = Client(d, "education-320102")
    st, h, r = edu.post("/v1/cases/%s/access-requests" % a["case_number"],
                        {"purpose": "核实学校安全措施", "hours": 24}, new_key())
    rid = r["access_request"]["access_request_id"] if st == 201 else "none"
    st2, h, r2 = Client(d, "education-320102-approver").post(
        "/v1/access-requests/%s/approve" % rid, None, new_key())
    check(st == 201 and st2 == 200 and r2["access_request"]["state"] == "approved",
          "the release's daemon: an access request is made and approved", (st, r, st2, r2))
    st, h, v = edu.get("/v1/cases/" + a["case_number"])
    check(st == 200 and v["access"] == "full", "and the clerk reads the case", (st, v))
    with ShortDeadlines(ack=2, action=600):
        e = file_report(d, "reports.self-harm.valid.json")
        ok = wait_until(lambda: any(x["kind"] == "escalated" and x["agency"] == "procuratorate-320100"
                                    for x in history(e["case_number"])), 20, 0.25)
    check(ok, "the release's daemon escalates a missed deadline up to the procuratorate",
          [(x["kind"], x["agency"]) for x in history(e["case_number"])])
    # Work the casework rules change: the crisis team acknowledges after its
    # case escalated to the city (the copy stays open in this release), and
    # a case closed by its primary while an informed agency's work is open.
    crisis = example_json("calls.case-opened.valid.json")
    crisis["open_case"].update(categories=[{"category": "psychological",
                                            "subcategory": "self_harm"}], risk_level=2)
    with ShortDeadlines(ack=2, action=600):
        f = log_call(d, crisis)
    ok = wait_until(lambda: any(x["kind"] == "escalated" for x in history(f["case_number"])),
                    15, 0.25)
    fa = assignment_of(d, "health-320102", f["case_number"])
    st, h, r = Client(d, "health-320102").post("/v1/assignments/%s/ack" % fa["assignment_id"],
                                               None, new_key())
    check(ok and st == 200, "the release's daemon: the crisis team acknowledges after its case"
          " escalated", (ok, st, r))
    rights = example_json("calls.case-opened.valid.json")
    rights["open_case"].update(categories=[{"category": "legal",
                                            "subcategory": "rights_complaint"}], risk_level=4)
    g = log_call(d, rights)
    legal = Client(d, "legal_aid-320102")
    for body in ({"type": "outcome", "outcome": "resolved"}, {"type": "outcome", "outcome": "closed"}):
        st, h, r = legal.post("/v1/cases/%s/events" % g["case_number"], body, new_key())
    st, h, v = view(d, "admin", g["case_number"])
    check(st == 200 and v["status"] == "closed" and any(
        x["agency"] == "procuratorate-320102" and x["state"] == "open" for x in v["assignments"]),
          "the release's daemon: legal aid closes a case whose informed procuratorate stays open",
          v.get("assignments"))
    # A request whose stored response the current daemon must replay.
    body = personal_report()
    key = new_key()
    st, h, r = Client(d, "gateway").post("/v1/reports", body, key)
    check(st == 201, "the release's daemon files a report under a key kept for later", (st, r))
    seen["replay"] = (body, key, r)
    seen["a"], seen["b"], seen["c"], seen["e"] = a, b, c, e
    seen["views"] = {(who, n): view(d, who, n)[2] for who, n in [
        ("police-320102", a["case_number"]), ("education-320102", a["case_number"]),
        ("police-320104", b["case_number"]), ("console", c["case_number"]),
        ("gateway", e["case_number"])]}
    seen["queues"] = {q: queue(d, q) for q in ("police-320102", "police-320104",
                                               "procuratorate-320100")}
    st, h, seen["status"] = Client(d, "gateway").get("/v1/reports/%s/status" % a["receipt_id"])
    check(st == 200 and [m["milestone"] for m in seen["status"]["milestones"]]
          == ["received", "accepted", "case_opened", "feedback_given"],
          "the reporter's status shows every milestone", seen["status"])
    return seen


def operators(cur, seen):
    """The release's operators and their work, in centres (step 7)."""
    got = dict(psql("select name, centre from hotline.clients where role = 'operator'"))
    check(got and got.get("console") == "320100" and set(got.values()) == {"320100"},
          "every operator of the release has a centre: console the city of its first case"
          " (320100), the seats without a case the centre most operators got", got)
    number = seen["c"]["case_number"]
    check(psql("select centre from hotline.cases where case_number = :'a0'", number)
          == [["320100"]] and scalar("select count(*) from hotline.calls where centre is null")
          == "0", "the release's call case and every call belong to their operator's centre")
    st, h, v = view(cur, "console2", number)
    check(st == 200 and v["access"] == "full" and len(v["calls"]) == 1,
          "another seat of the centre (console2) reads the release's call case in full",
          (st, v))
    st, h, r = Client(cur, "console2").post("/v1/calls", {
        "started_at": "2026-11-02T09:00:00+08:00", "ended_at": "2026-11-02T09:10:00+08:00",
        "caller_type": "about_child", "caller_phone": "13800000001",
        "summary": "（测试）升级后的回访", "disposition": "follow_up", "case_number": number},
        new_key())
    st2, h, v = view(cur, "console", number)
    check(st == 201 and r.get("earlier_calls", {}).get("count", 0) >= 1
          and [c["disposition"] for c in v.get("calls", [])] == ["case_opened", "follow_up"],
          "and logs a follow-up call on it, which the release's seat sees beside its own call"
          " (the caller known from the release's digests)", (st, r, v.get("calls")))
    st, h, lst = Client(cur, "console").get("/v1/cases?limit=200")
    check(st == 200 and number in [c["case_number"] for c in lst["cases"]],
          "the centre's caseload lists the release's case", lst)
    st, h, hist = Client(cur, "console2").get("/v1/callers/13800000001/history")
    check(st == 200 and hist["total"] >= 2 and number in [c["case_number"] for c in hist["cases"]],
          "the caller's number finds the release's calls and the new one", hist)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--var", required=True, help="the directory for the release's environment")
    ap.add_argument("--binary", required=True, help="the current daemon")
    ap.add_argument("--ctl", required=True, help="the current hotlinectl")
    args = ap.parse_args()
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="hotlined-upgrade.")
    var = os.path.abspath(args.var)
    try:
        found = real_release() or scratch_release(tmp)
        version, commit, sql = found
        src, old, old_ctl = build_release(commit, tmp)
        rc, out = run([old, "-V"])
        check(out.strip() == "hotlined " + version,
              "the release's daemon says it is %s" % version, out)
        _, files = manifest_of(os.path.join(sql, "releases", version))
        check(migrations_in(os.path.join(src, "sql")) == sorted(files)
              and all(sha256_of(os.path.join(src, "sql", f)) == s for f, s in files.items()),
              "its commit holds exactly the %d migrations of the manifest" % len(files))
        newer = [f[:-4] for f in migrations_in(sql) if f not in files]
        print("# upgrading from release %s (%s) over %d newer migrations: %s"
              % (version, commit[:12], len(newer), " ".join(newer) or "none"))

        t1 = time.monotonic()
        rc, out = run(["bash", os.path.join(src, "daemon/dev/setup.sh"), var, str(free_port())],
                      env={"HOTLINED_PORT": str(free_port())})
        check(rc == 0, "the release's setup.sh makes an environment with its own migrations",
              out[-3000:])
        if rc != 0:
            return
        lib.setup(var, old, False)
        applied = [r[0] for r in psql("select version from hotline.schema_migrations"
                                      " order by version")]
        check(applied == [f[:-4] for f in sorted(files)],
              "the database holds only the release's migrations", applied)

        d = Daemon("release").start()
        seen = fill(d)
        with ShortDeadlines(ack=6, action=600):
            late = file_report(d, "reports.self-harm.valid.json")
        late_at = time.time()
        check(d.stop() == 0, "the release's daemon stops cleanly")
        print("# filled through the release's daemon in %.0fs" % (time.monotonic() - t1))
        before = snapshot()
        rc, out = audit(old_ctl)
        check(rc == 0 and "every chain intact" in out,
              "before the upgrade, the release's hotlinectl finds every chain intact", out)

        t2 = time.monotonic()
        rc, out = run(["bash", os.path.join(sql, "migrate.sh")])
        check(rc == 0 and out.split() == [w for v in newer for w in ("migrate:", "applied", v)],
              "the current migrate.sh applies the %d newer migrations and nothing else"
              % len(newer), out)
        print("# migrated in %.1fs" % (time.monotonic() - t2))
        sums = dict(psql("select version, sha256 from hotline.schema_migrations"))
        check(all(sums.get(f[:-4]) == sha256_of(os.path.join(sql, f)) for f in migrations_in(sql)),
              "every migration is recorded with its checksum", sums)
        after = snapshot()
        casework = any(v.endswith(CASEWORK) for v in newer)
        exp = casework_expected(before) if casework else None
        bad = unchanged(before, after, exp)
        check(not bad, "every row is as the release left it: " + ", ".join(
            "%d %s" % (len(before[t]), t) for t in ("cases", "calls", "assignments", "clocks",
                                                    "case_events", "access_requests",
                                                    "idempotency"))
              + (" (but what the casework migration changes)" if casework else ""), bad)
        added = 0
        if casework:
            states = {x["id"]: x["state"] for x in after["assignments"]}
            stopped = {k["id"] for k in after["clocks"] if k["id"] in exp["stopped"]
                       and k["stopped_at"] is not None}
            old_events = {(e["case_id"], e["seq"]) for e in before["case_events"]}
            new_events = sorted((e["case_id"], e["kind"]) for e in after["case_events"]
                                if (e["case_id"], e["seq"]) not in old_events)
            added = len(new_events)
            check(exp["returned"] and exp["closed"] and exp["stopped"]
                  and all(states[i] == "returned" for i in exp["returned"])
                  and all(states[i] == "closed" for i in exp["closed"])
                  and stopped == exp["stopped"] and new_events == exp["events"],
                  "the casework migration brings the release's work under its rules: %d resolve"
                  " and service clocks stopped, %d escalated copy stood down (the work below"
                  " acted), %d live assignment of a closed case closed, an event each"
                  % (len(exp["stopped"]), len(exp["returned"]), len(exp["closed"])),
                  (exp, states, stopped, new_events))
        rc, out = audit(args.ctl)
        n = len(before["cases"])
        check(rc == 0 and ("audit: %d cases, %d events, every chain intact" % (
            n, len(before["case_events"]) + added)) in out,
              "after it, the current hotlinectl finds the same %d cases and %d events (%d added"
              " by the migrations), every chain intact" % (n, len(before["case_events"]) + added,
                                                           added), out)
        rc, out = run(["bash", os.path.join(sql, "migrate.sh")])
        check(rc == 0 and out == "", "a second run of migrate.sh has nothing to do", out)

        lib.BINARY = os.path.abspath(args.binary)
        rc, out = run([lib.BINARY, "-V"])
        check(out.strip() == "hotlined " + current_version(), "the current daemon says %s"
              % current_version(), out)
        time.sleep(max(0, late_at + 6.5 - time.time()))
        check(not any(x["kind"] in ("clock_warning", "clock_missed")
                      for x in history(late["case_number"])),
              "a deadline falls due while no daemon runs, and nothing fires")
        cur = Daemon("current").start()
        for (who, number), was in seen["views"].items():
            was = as_migrated(was) if casework else was
            st, h, now = view(cur, who, number)
            check(st == 200 and contains(now, was),
                  "the current daemon shows %s case %s as the release did" % (who, number),
                  (st, json.dumps(now, ensure_ascii=False)[:1500]))
        st, h, now = view(cur, "admin", seen["e"]["case_number"])
        check(st == 200 and now["access"] == "redacted"
              and now["report"]["reporter"] == {"withheld": True}
              and now["narrative"] == {"withheld": True},
              "an admin, who read cases in full under the release, now sees them redacted",
              (st, json.dumps(now, ensure_ascii=False)[:600]))
        for q, was in seen["queues"].items():
            was = as_migrated(was) if casework else was
            now = queue(cur, q)
            check(contains(now, was), "and %s's queue (%d assignments)" % (q, len(was)), now)
        st, h, now = Client(cur, "gateway").get("/v1/reports/%s/status"
                                                % seen["a"]["receipt_id"])
        check(st == 200 and now == seen["status"], "and the reporter's status", (st, now))
        body, key, was = seen["replay"]
        st, h, now = Client(cur, "gateway").post("/v1/reports", body, key)
        check(st == 201 and now == was and h.get("idempotent-replayed") == "true",
              "a retry under a key the release stored is replayed, not filed again", (st, h, now))
        ok = wait_until(lambda: any(x["kind"] == "escalated" for x in history(late["case_number"])),
                        15, 0.25)
        missed = [x for x in history(late["case_number"]) if x["kind"] == "clock_missed"
                  and x["clock"] == "acknowledge"]
        check(ok and len(missed) == 1, "the current daemon catches up: the deadline missed during"
              " the upgrade is recorded once and escalated", missed)
        drained = wait_until(lambda: psql("select count(*) from hotline.stats_pending")
                             == [["0"]], 30, 0.5)
        counted = psql("select (select coalesce(sum(n), 0) from hotline.stats_daily"
                       " where figure = 'cases'), (select count(*) from hotline.cases),"
                       " (select coalesce(sum(n), 0) from hotline.stats_daily"
                       " where figure like 'calls.%'), (select count(*) from hotline.calls)")[0]
        check(drained and counted[0] == counted[1] and counted[2] == counted[3],
              "the current daemon counts the release's history into the statistics: each of the"
              " %s cases and %s calls once" % (counted[1], counted[3]), (drained, counted))
        st, h, r = Client(cur, "gateway").post("/v1/reports", personal_report(), new_key())
        check(st == 201, "the current daemon files new reports", (st, r))
        operators(cur, seen)
        check(cur.stop() == 0, "the current daemon stops cleanly")
        rc, out = audit(args.ctl)
        check(rc == 0 and "every chain intact" in out, "every chain is intact at the end", out)
    finally:
        if os.path.isdir(os.path.join(var, "pg")):
            run(["bash", os.path.join(ROOT, "daemon/dev/pg.sh"), "stop", os.path.join(var, "pg")])
        shutil.rmtree(tmp, ignore_errors=True)
        print("# %d passed, %d failed in %.0fs" % (lib.RESULTS["passed"], lib.RESULTS["failed"],
                                                   time.monotonic() - t0))
    sys.exit(1 if lib.RESULTS["failed"] or not lib.RESULTS["passed"] else 0)


if __name__ == "__main__":
    main()
