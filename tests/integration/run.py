#!/usr/bin/env python3
"""The runner of the integration tests: real daemons, real TLS and a real
PostgreSQL.  Prints one TAP line per check and ends with the comment
"# N passed, M failed in Xs"; exits 1 if any failed.

    run.py --binary build/hotlined --var <dir made by daemon/dev/setup.sh>
           [--sanitizers] [-k PATTERN[,PATTERN...]]

The tests live in test_<subject>.py beside this file, each a function marked
@test whose name reads as the scenario it checks.  A test's parameters name
the fixtures it is handed: `daemon` is the shared daemon started with the
environment's configuration.  Tests that need a daemon of their own start it
through lib.Daemon.  -k keeps the tests whose "<subject>.<name>" (for example
"test_idempotency.a_refused_request_does_not_use_up_its_key") contains one of
the patterns.  Each test runs under a time limit (TEST_LIMIT) and waits at
most ~30 s for anything (@test(limit=S) raises the limit for one test).  Subjects in
ON_REQUEST run only when a -k pattern names them.  With --sanitizers every daemon's log is scanned for
AddressSanitizer, LeakSanitizer and UBSan reports after it stopped.
"""

import argparse
import importlib
import inspect
import os
import signal
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
# Import the tests as the package "integration", never as top-level modules.
sys.path[0] = os.path.dirname(HERE)
from integration import lib  # noqa: E402
from integration.lib import check  # noqa: E402

TEST_LIMIT = 90     # seconds a test may take before the run is abandoned

# The order the subjects run in.  A test_*.py not listed runs after these and
# before test_logs, which searches the logs of every daemon the run started.
SUBJECTS = ["test_intake", "test_idempotency", "test_authorization", "test_transport",
            "test_durability", "test_signals", "test_routing", "test_escalation",
            "test_visibility", "test_crypto", "test_retention", "test_console", "test_logs"]


# Subjects that need an environment of their own (tests/run.sh's "volume"
# suite fills one, its "deploy" suite adds a standby): they run only when a
# -k pattern names them.
ON_REQUEST = ["test_volume", "test_deploy"]


def subjects(patterns):
    """The subject modules, in running order."""
    found = [f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py")]
    found = [m for m in found if m not in ON_REQUEST or any(m in p for p in patterns)]
    found.sort(key=lambda m: (m == "test_logs",
                              SUBJECTS.index(m) if m in SUBJECTS else len(SUBJECTS), m))
    return [importlib.import_module("integration." + m) for m in found]


def tests_of(module):
    """The tests a subject module defines, in the order they are written."""
    fns = [f for f in vars(module).values()
           if inspect.isfunction(f) and getattr(f, "integration_test", False)
           and f.__module__ == module.__name__]
    return sorted(fns, key=lambda f: f.__code__.co_firstlineno)


def selected(name, patterns):
    """True if no pattern was given or one is in the test's <subject>.<name>."""
    return not patterns or any(p in name for p in patterns)


def run_bounded(fn, fixtures):
    """Run one test under TEST_LIMIT; False if it overran (the run is abandoned)."""
    t = threading.Thread(target=run_one, args=(fn, fixtures), daemon=True)
    t0 = time.monotonic()
    t.start()
    limit = getattr(fn, "integration_limit", None) or TEST_LIMIT
    t.join(limit)
    if t.is_alive():
        frame = sys._current_frames().get(t.ident)
        check(False, "%s finished within %d s" % (fn.__name__, limit),
              "".join(traceback.format_stack(frame)[-6:]) if frame else "")
        return False
    print("# %s: %.1fs" % (fn.__name__, time.monotonic() - t0))
    return True


def run_one(fn, fixtures):
    """Call a test with the fixtures its parameters name; an exception fails it."""
    try:
        fn(**{p: fixtures[p] for p in inspect.signature(fn).parameters})
    except Exception:
        check(False, fn.__name__ + " ran to completion", traceback.format_exc())


def check_sanitizers():
    """One check per daemon started: its log holds no sanitizer report."""
    for d in lib.daemons:
        if d.proc is None:
            continue
        bad = d.sanitizer_reports()
        check(not bad, "%r exited without sanitizer reports" % d, "\n".join(bad[:10]))


def main():
    """Run the selected tests; the exit status."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--var", required=True)
    ap.add_argument("--sanitizers", action="store_true")
    ap.add_argument("-k", default="", metavar="PATTERN",
                    help="run only the tests whose <subject>.<name> contains this"
                    " (or one of these, comma-separated)")
    args = ap.parse_args()
    patterns = [p for p in args.k.split(",") if p]
    # Killed from outside: leave no daemon behind (see the finally in __main__).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lib.setup(args.var, args.binary, args.sanitizers)
    chosen = [(m.__name__.split(".")[-1], fn) for m in subjects(patterns) for fn in tests_of(m)
              if selected(m.__name__.split(".")[-1] + "." + fn.__name__, patterns)]
    t0 = time.monotonic()
    if not chosen:
        check(False, "-k %s selects at least one test" % args.k)
        return summary(t0)
    daemon = lib.Daemon("main")
    try:
        daemon.start()
    except Exception as e:
        check(False, "the main daemon starts", e)
        lib.kill_leftovers()
        return summary(t0)
    fixtures = {"daemon": daemon}
    completed = True
    subject = None
    for name, fn in chosen:
        if name != subject:
            subject = name
            print("# subject: " + name[len("test_"):])
        print("# " + fn.__name__.replace("_", " "))
        sys.stdout.flush()
        if not run_bounded(fn, fixtures):
            completed = False
            break
    if not completed:
        try:
            lib.pg_start()
        except Exception:
            pass
    lib.stop_cleanly(daemon)
    for d in lib.daemons:
        if d.running():
            check(False, "%r was stopped by its test" % d)
            d.stop()
    if args.sanitizers:
        check_sanitizers()
    return summary(t0)


def summary(t0):
    """Print the closing comment; the exit status of the run."""
    print("# %d passed, %d failed in %.0fs" % (lib.RESULTS["passed"], lib.RESULTS["failed"],
                                               time.monotonic() - t0))
    sys.stdout.flush()
    return 1 if lib.RESULTS["failed"] else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        lib.kill_leftovers()
    sys.stdout.flush()
    os._exit(code)      # threads of an abandoned test must not keep the run alive
