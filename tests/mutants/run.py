#!/usr/bin/env python3
"""make mutate: check that the test suite catches realistic bugs.

Each tests/mutants/<name>.mutant describes one bug, a one-line change:

    # what the bug is (comment lines, at least one)
    area: durability | idempotency | authorization | confidentiality | ...
    file: daemon/dbconn.c           (relative to the top of the tree)
    find: ok = !c->dc_failed;       (exact text, found exactly once in the file)
    replace: ok = 1;                (what it becomes)
    suites: integration             (tests/run.sh suites: unit sql integration asan)
    tests: one_submission_failing   (integration tests, run.py -k patterns, comma-separated;
                                     required for the integration and asan suites)

The text after "find: " and "replace: " is taken exactly, tabs included.  The
tree (tracked and untracked files, not ignored ones) and its build/ are copied
to a scratch directory once; the working tree is never changed.  There the
suites all mutants name are run once unmutated (they must pass), then each
mutant is applied alone, the tree rebuilt and its suites run: the mutant is
killed when they fail.  A mutant whose text is gone or not unique (stale), or
that does not build, fails the run, as does one that survives.

    run.py [-k SUBSTRING[,SUBSTRING...]]   only the mutants whose name contains one of them
"""

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIELDS = ("area", "file", "find", "replace", "suites", "tests")
SUITES = ("unit", "sql", "integration", "asan")
RUN_LIMIT = 1200        # seconds for one run of the suites


class Mutant:
    """One mutant read from its file; problem is why it cannot be run, or None."""

    def __init__(self, path):
        self.name = os.path.basename(path)[:-len(".mutant")]
        self.what, self.fields, self.problem = [], {}, None
        with open(path, encoding="utf-8") as f:
            for line in f.read().split("\n"):
                if line.startswith("#"):
                    self.what.append(line[1:].strip())
                elif line.strip():
                    key, sep, value = line.partition(": ")
                    if not sep or key not in FIELDS or key in self.fields:
                        self.problem = "malformed line: %r" % line
                    else:
                        self.fields[key] = value
        for key in FIELDS[:5]:
            if not self.fields.get(key):
                self.problem = self.problem or "no %s" % key
        self.suites = self.fields.get("suites", "").split()
        self.tests = [t.strip() for t in self.fields.get("tests", "").split(",") if t.strip()]
        if any(s not in SUITES for s in self.suites):
            self.problem = self.problem or "unknown suite in %r" % self.suites
        if not self.what:
            self.problem = self.problem or "no comment saying what the bug is"
        if set(self.suites) & {"integration", "asan"} and not self.tests:
            self.problem = self.problem or "integration suites need tests"
        self.result, self.detail, self.seconds = None, "", 0.0

    def check_text(self, root):
        """Stale (text gone) or ambiguous (more than once): a problem; else None."""
        path = os.path.join(root, self.fields["file"])
        if not os.path.isfile(path):
            return "stale: %s does not exist" % self.fields["file"]
        with open(path, encoding="utf-8") as f:
            n = f.read().count(self.fields["find"])
        if n == 0:
            return "stale: its text is no longer in %s" % self.fields["file"]
        if n > 1:
            return "ambiguous: its text is %d times in %s" % (n, self.fields["file"])
        return None


def release_as_mutated(tree, rel):
    """A mutant in a released migration: the scratch tree's release manifests
    record the mutated file's SHA-256, so that migrate.sh applies it instead
    of refusing an edited release (which would kill every such mutant for the
    wrong reason).  The sql suite's check of the manifests against their
    commits still refuses it, so such a mutant names integration tests.
    Returns [(manifest path, original text)] to restore."""
    if not re.match(r"^sql/[0-9]{3}_[^/]+\.sql$", rel):
        return []
    with open(os.path.join(tree, rel), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    name = os.path.basename(rel)
    saved = []
    for mpath in glob.glob(os.path.join(tree, "sql", "releases", "*")):
        with open(mpath, encoding="utf-8") as f:
            text = f.read()
        new = re.sub(r"(?m)^[0-9a-f]{64}  %s$" % re.escape(name), digest + "  " + name, text)
        if new != text:
            saved.append((mpath, text))
            with open(mpath, "w", encoding="utf-8") as f:
                f.write(new)
    return saved


def copy_tree(dest):
    """Copy the working tree's files (tracked and untracked, not ignored) and build/."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    for rel in out.decode().split("\0"):
        if not rel or not os.path.lexists(os.path.join(ROOT, rel)):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel), follow_symlinks=False)
    # A repository of its own that reads the tree's objects (never writes
    # them): the release checks look up released files at their commits.
    common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "init", "-q", dest], check=True)
    with open(os.path.join(dest, ".git", "objects", "info", "alternates"), "w") as f:
        f.write(os.path.join(common, "objects") + "\n")
    if os.path.isdir(os.path.join(ROOT, "build")):
        # Objects keep their times, so only what a mutant changes is rebuilt.
        shutil.copytree(os.path.join(ROOT, "build"), os.path.join(dest, "build"),
                        symlinks=True, ignore=shutil.ignore_patterns("fuzz*"))


def build(tree, suites):
    """Build what the suites need; (ok, output)."""
    targets = ["all"] + (["build/asan/hotlined"] if "asan" in suites else []) + \
        (["unit"] if "unit" in suites else [])
    out = subprocess.run(["make", "--no-print-directory"] + targets, cwd=tree,
                         capture_output=True, text=True)
    return out.returncode == 0, out.stdout + out.stderr


def run_suites(tree, suites, tests, keep=True):
    """tests/run.sh with these suites and integration tests; (passed, summary, failures).
    keep=False removes the environment run.sh keeps when a check failed."""
    env = dict(os.environ)
    env["HOTLINED_SUITES"] = " ".join(suites)
    env["HOTLINED_TESTS"] = ",".join(tests)
    env.pop("HOTLINED_KEEP", None)
    try:
        out = subprocess.run(["bash", "tests/run.sh"], cwd=tree, env=env, capture_output=True,
                             text=True, timeout=RUN_LIMIT)
    except subprocess.TimeoutExpired:
        return False, "did not finish within %d s" % RUN_LIMIT, []
    lines = out.stdout.splitlines()
    summary = next((ln for ln in reversed(lines) if re.match(r"^\d+ passed, \d+ failed$", ln)),
                   "no summary (exit %d)" % out.returncode)
    # tests/run.sh keeps its environment when a check failed, as a killed mutant's do.
    for ln in lines:
        kept = re.match(r"^# logs kept in (/tmp/hotlined-test\.\w+)$", ln)
        if kept and not keep:
            shutil.rmtree(kept.group(1), ignore_errors=True)
        elif kept:
            summary += " (logs kept in %s)" % kept.group(1)
    failures = [ln[len("not ok - "):] for ln in lines if ln.startswith("not ok - ")]
    return out.returncode == 0, summary, failures


def union(mutants):
    """The suites and tests of several mutants together, suites in their usual order."""
    suites = [s for s in SUITES if any(s in m.suites for m in mutants)]
    tests = sorted({t for m in mutants for t in m.tests})
    return suites, tests


def main():
    """Run the mutants; the exit status (0: every one killed)."""
    ap = argparse.ArgumentParser(description="check that the tests catch the curated mutants")
    ap.add_argument("-k", default="", metavar="SUBSTRING",
                    help="only the mutants whose name contains this (or one of these,"
                    " comma-separated)")
    args = ap.parse_args()
    t0 = time.monotonic()
    wanted = [k for k in args.k.split(",") if k] or [""]
    mutants = [Mutant(p) for p in sorted(glob.glob(os.path.join(HERE, "*.mutant")))
               if any(k in os.path.basename(p) for k in wanted)]
    if not mutants:
        print("mutate: no mutant matches %r" % args.k)
        return 1
    scratch = tempfile.mkdtemp(prefix="hotlined-mutate.")
    tree = os.path.join(scratch, "tree")
    print("# mutate: %d mutants; scratch copy of the tree in %s" % (len(mutants), tree))
    sys.stdout.flush()
    try:
        copy_tree(tree)
        for m in mutants:
            m.problem = m.problem or m.check_text(tree)
            if m.problem:
                m.result = "stale" if m.problem.startswith(("stale", "ambiguous")) else "invalid"
                m.detail = m.problem
                print("%-8s %s: %s" % (m.result, m.name, m.problem))
        runnable = [m for m in mutants if m.result is None]
        suites, tests = union(runnable)
        ok, out = build(tree, suites)
        if not ok:
            print("mutate: the unmutated tree does not build:\n" + out[-2000:])
            return 1
        ok, summary, failures = run_suites(tree, suites, tests)
        print("# unmutated: suites %s, %d tests: %s" % (" ".join(suites), len(tests), summary))
        if not ok:
            print("mutate: the unmutated tree fails its own tests, so no mutant can be judged:")
            for f in failures[:20]:
                print("#   not ok - " + f)
            return 1
        sys.stdout.flush()
        for m in runnable:
            path = os.path.join(tree, m.fields["file"])
            with open(path, encoding="utf-8") as f:
                original = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(original.replace(m.fields["find"], m.fields["replace"], 1))
            manifests = release_as_mutated(tree, m.fields["file"])
            t1 = time.monotonic()
            try:
                ok, out = build(tree, m.suites)
                if not ok:
                    m.result, m.detail = "invalid", "does not build: " + out.strip()[-300:]
                else:
                    passed, summary, failures = run_suites(tree, m.suites, m.tests,
                                                           keep=False)
                    m.result = "survived" if passed else "killed"
                    m.detail = summary + ("; first: " + failures[0] if failures else "")
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original)
                for mpath, text in manifests:
                    with open(mpath, "w", encoding="utf-8") as f:
                        f.write(text)
            m.seconds = time.monotonic() - t1
            print("%-8s %s (%s, %.0fs): %s" % (m.result, m.name, m.fields["area"], m.seconds,
                                               m.detail))
            sys.stdout.flush()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    killed = sum(1 for m in mutants if m.result == "killed")
    bad = [m for m in mutants if m.result != "killed"]
    areas = sorted({m.fields.get("area", "?") for m in mutants})
    print("# areas: " + ", ".join(areas))
    print("mutate: %d of %d mutants killed (%.0f%%) in %.0fs%s"
          % (killed, len(mutants), 100.0 * killed / len(mutants), time.monotonic() - t0,
             "" if not bad else "; not killed: " + ", ".join(
                 "%s (%s)" % (m.name, m.result) for m in bad)))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
