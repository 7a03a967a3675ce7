"""Logs: no daemon's log holds a personal value that any request of the run
sent, and every request line carries its id and status.  Runs last: it reads
the logs of every daemon the run started."""

import re

from . import lib
from .lib import check, personal_data_sent, test


@test
def logs_carry_no_personal_data():
    values = personal_data_sent()
    check(len(values) > 20, "the suite sent personal data to look for (%d values)" % len(values))
    leaks = []
    for d in lib.daemons:
        text = d.logtext()
        for p in values:
            # Long texts are also looked for by a distinctive piece.
            for piece in {p, p[:12]} if len(p) > 12 else {p}:
                if piece in text:
                    leaks.append((repr(d), piece))
    check(not leaks, "no daemon log contains names, phone numbers, ID numbers or texts sent",
          leaks[:10])
    bad, total = [], 0
    for d in lib.daemons:
        for line in d.logtext().splitlines():
            if "event=request " in line:
                total += 1
                if not (re.search(r"\bid=[0-9a-f]{16}\b", line) and re.search(r"\bstatus=\d{3}\b",
                                                                              line)):
                    bad.append(line)
    check(total > 100 and not bad,
          "every request line of every daemon carries id= and status= (%d lines)" % total, bad[:5])
