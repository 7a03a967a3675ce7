"""Logs: no daemon's log holds a personal value that any request of the run
sent, and every request line carries its id, route, status, duration and
client (its registered name, never a person's).  Runs last: it reads
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
    names = {r[0] for r in lib.psql("select name from hotline.clients")}
    ids = {r[0]: r[1] for r in lib.psql("select id, name from hotline.clients")}
    bad, wrong, total, named = [], [], 0, 0
    for d in lib.daemons:
        for line in d.logtext().splitlines():
            if "event=request " not in line:
                continue
            total += 1
            m = re.search(r" client=(\d+) client_name=(\S+) ", line)
            if not (re.search(r"\bid=[0-9a-f]{16}\b", line)
                    and re.search(r"\broute=(-|[a-z_]+) ", line)
                    and re.search(r"\bstatus=\d{3}\b", line)
                    and re.search(r"\bdur_ms=\d+\.\d\b", line) and m):
                bad.append(line)
            elif m.group(1) == "0":
                if m.group(2) != "-":
                    wrong.append(line)
            else:
                named += 1
                if m.group(2) not in names or ids.get(m.group(1)) != m.group(2):
                    wrong.append(line)
    check(total > 100 and not bad,
          "every request line of every daemon carries id=, route=, status=, dur_ms= and"
          " client_name= (%d lines)" % total, bad[:5])
    check(named > 100 and not wrong,
          "client_name= is the registered name of the client= id, or - without one"
          " (%d lines named)" % named, wrong[:5])
