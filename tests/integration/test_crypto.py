"""Crypto and audit: personal data stored sealed (a pg_dump reveals none of
it; the idempotency hash is keyed), changed, moved or foreign ciphertexts
fail cleanly, hotlinectl audit verify names the first broken link of a
tampered history, the master key rotates without touching ciphertexts, and
the daemon refuses to start without usable keys."""

import hashlib
import json
import os
import subprocess
import time
import uuid

from . import lib
from .lib import (Client, Daemon, check, example_json, file_report, hotlinectl, id_number,
                  new_key, personal_report, personal_values, psql, scalar, stop_cleanly, test,
                  view, wait_until)


@test
def personal_data_is_stored_sealed_and_a_dump_reveals_none_of_it(daemon):
    r = personal_report()
    n = file_report(daemon, r)["case_number"]
    call = example_json("calls.case-opened.valid.json")
    tag = uuid.uuid4().hex[:8]
    call["caller_phone"] = "137" + str(int(tag, 16) % 10 ** 8).zfill(8)
    call["summary"] = "（测试）来电摘要" + tag
    call["open_case"]["child"].update(name="来电儿童" + tag, id_number=id_number("20150312"),
                                      address="来电地址" + tag)
    call["open_case"]["narrative"] = "（测试）来电叙述" + tag
    st, h, b = Client(daemon, "console").post("/v1/calls", call, new_key())
    check(st == 201, "a call with personal data is accepted", (st, b))
    st, h, b = Client(daemon, "police-320102").post("/v1/cases/%s/events" % n,
                                                    {"type": "note", "text": "（测试）笔记" + tag},
                                                    new_key())
    check(st == 201, "the police add a note", (st, b))
    rows = psql("select get_byte(c.narrative, 0), get_byte(h.name, 0), get_byte(r.reporter_name, 0),"
                " octet_length(c.dek_wrapped), c.dek_kid from hotline.cases c"
                " join hotline.children h on h.case_id = c.id join hotline.reports r on"
                " r.case_id = c.id where c.case_number = :'a0'", n)
    check(rows and rows[0][:4] == ["1", "1", "1", "60"] and rows[0][4],
          "narrative, child and reporter are stored as version-1 ciphertexts with a wrapped"
          " 60-byte data key and its key id", rows)
    values = personal_values(r) | personal_values(call) | {"（测试）笔记" + tag}
    dump = subprocess.run(["pg_dump", "--data-only", "-n", "hotline"], capture_output=True,
                          timeout=120)
    check(dump.returncode == 0 and len(dump.stdout) > 10000, "pg_dump of the populated database"
          " runs (%d bytes)" % len(dump.stdout), dump.stderr[-500:])
    text = dump.stdout.decode("utf-8", "replace")
    found = [v for v in values if v in text or v[:10] in text]
    check(len(values) >= 15 and not found, "the dump contains none of the %d names, phone numbers,"
          " ID numbers, addresses, schools and texts sent" % len(values), found)
    sent_bytes = json.dumps(r, ensure_ascii=False).encode()     # as Client sends it
    stored = scalar("select encode(i.request_hash, 'hex') from hotline.idempotency i"
                    " where i.response->>'case_number' = :'a0'", n)
    plain = {hashlib.sha256(p + sent_bytes).hexdigest() for p in (b"reports\n", b"reports\n\n")}
    check(stored is not None and len(stored) == 64 and stored not in plain,
          "the report's idempotency hash is keyed, not a plain SHA-256 of what was sent", stored)


@test
def changed_moved_or_foreign_ciphertexts_fail_cleanly(daemon):
    a, b = (file_report(daemon, personal_report())["case_number"] for _ in range(2))
    # Flip every bit of the 20th byte: writing a fixed value there would
    # change nothing whenever the ciphertext already held it (1 case in 256).
    psql("update hotline.children h set name = set_byte(name, 19, get_byte(name, 19) # 255)"
         " from hotline.cases c where c.id = h.case_id and c.case_number = :'a0'", a)
    st, h, v = view(daemon, "police-320102", a)
    check(st == 200 and v["child"]["name"] == {"unreadable": True}
          and isinstance(v["child"]["school"], str), "a changed byte makes that field unreadable,"
          " the rest still opens", v.get("child"))
    psql("update hotline.children h set school = h.address, address = h.school"
         " from hotline.cases c where c.id = h.case_id and c.case_number = :'a0'", a)
    st, h, v = view(daemon, "police-320102", a)
    check(v["child"]["school"] == {"unreadable": True} and v["child"]["address"] == {
        "unreadable": True}, "values swapped between fields do not open")
    psql("update hotline.cases set narrative = (select narrative from hotline.cases"
         " where case_number = :'a1') where case_number = :'a0'", a, b)
    st, h, v = view(daemon, "police-320102", a)
    check(v["narrative"] == {"unreadable": True}, "a value moved from another case does not open")
    kid = scalar("select dek_kid from hotline.cases where case_number = :'a0'", b)
    psql("update hotline.cases set dek_kid = 'k-nonexistent' where case_number = :'a0'", b)
    st, h, v = view(daemon, "police-320102", b)
    psql("update hotline.cases set dek_kid = :'a1' where case_number = :'a0'", b, kid)
    check(st == 200 and v["narrative"] == {"unreadable": True} and v["child"]["name"] == {
        "unreadable": True}, "a wrong master key id leaves every field unreadable, with 200")
    log = daemon.logtext()
    check("event=unseal_failed field=child.name" in log and "event=unwrap_failed" in log,
          "the daemon logs which field failed, never its content")


@test
def hotlinectl_audit_verify_names_the_first_broken_link(daemon):
    code, out = hotlinectl("audit", "verify")
    check(code == 0 and "every chain intact" in out, "audit verify passes on an untouched"
          " history", out[-500:])
    cases = [file_report(daemon, personal_report())["case_number"] for _ in range(4)]
    for n in cases:
        Client(daemon, "police-320102").post("/v1/cases/%s/events" % n,
                                             {"type": "note", "text": "x"}, new_key())
    # Keep the untouched rows, to put them back afterwards (the suite runs
    # twice on one database).
    psql("drop table if exists public.audit_saved; create table public.audit_saved as"
         " select e.* from hotline.case_events e join hotline.cases c on c.id = e.case_id"
         " where c.case_number = any (string_to_array(:'a0', ','))", ",".join(cases))
    tamper = ("set session_replication_role = replica; ")
    psql(tamper + "update hotline.case_events e set data = data || '{\"role\": \"inform\"}'"
         " from hotline.cases c where c.id = e.case_id and c.case_number = :'a0' and e.seq = 3",
         cases[0])
    psql(tamper + "delete from hotline.case_events e using hotline.cases c where c.id = e.case_id"
         " and c.case_number = :'a0' and e.seq = 2", cases[1])
    for a, b in ((2, 1000), (3, 2), (1000, 3)):
        psql(tamper + "update hotline.case_events e set seq = :a1 from hotline.cases c"
             " where c.id = e.case_id and c.case_number = :'a0' and e.seq = :a2", cases[2], b, a)
    last = scalar("select max(seq) from hotline.case_events e join hotline.cases c on"
                  " c.id = e.case_id where c.case_number = :'a0'", cases[3])
    psql(tamper + "delete from hotline.case_events e using hotline.cases c where c.id = e.case_id"
         " and c.case_number = :'a0' and e.seq = :a1", cases[3], last)
    code, out = hotlinectl("audit", "verify")
    want = ["case %s: broken at event 3" % cases[0], "case %s: broken at event 2" % cases[1],
            "case %s: broken at event 2" % cases[2], "case %s: broken at event %s" % (cases[3], last)]
    missing = [w for w in want if w not in out]
    check(code == 1 and not missing, "it catches a changed, a deleted, a reordered and a removed"
          " last event, naming each first broken link", missing or out[-800:])
    check("4 of" in out, "and counts the broken cases", out[-200:])
    check(scalar("set hotline.scope = 'system'; select hotline.case_history_verify(:'a0')",
                 cases[0]) == "3",
          "case_history_verify agrees")
    psql(tamper + "delete from hotline.case_events where case_id in (select case_id from"
         " public.audit_saved); insert into hotline.case_events select * from public.audit_saved;"
         " drop table public.audit_saved")
    code, out = hotlinectl("audit", "verify")
    check(code == 0 and "every chain intact" in out, "with the original rows put back, the"
          " chains verify again", out[-500:])


@test
def rotating_the_master_key_rewraps_data_keys_and_nothing_else(daemon):
    r = personal_report()
    n = file_report(daemon, r)["case_number"]
    before = psql("select md5(narrative::bytea), dek_kid from hotline.cases where case_number = :'a0'",
                  n)[0]
    intake_only = Daemon("intake-only").start()     # takes submissions, never reads a case
    file_report(intake_only, personal_report())
    code, out = hotlinectl("keys", "rotate")
    check(code == 0 and "rewrapped" in out, "hotlinectl keys rotate adds a key and rewraps", out)
    kids = psql("set hotline.scope = 'system'; select kid, keys from hotline.data_key_counts()")
    after = psql("select md5(narrative::bytea), dek_kid from hotline.cases where case_number = :'a0'",
                 n)[0]
    check(len(kids) == 1 and after[0] == before[0] and after[1] != before[1],
          "every data key is now under the new master key; ciphertexts are untouched", (kids,
                                                                                        before, after))
    st, h, v = view(daemon, "police-320102", n)
    check(st == 200 and v["narrative"] == r["narrative"], "the running daemon opens the case"
          " with the new key without a restart")
    n2 = file_report(daemon, personal_report())["case_number"]
    check(scalar("select dek_kid from hotline.cases where case_number = :'a0'", n2) == after[1],
          "new cases are wrapped under the new key")
    time.sleep(1.2)
    st, h, b = Client(intake_only, "gateway").post("/v1/reports", personal_report(), new_key())
    check(st == 201 and scalar("select dek_kid from hotline.cases where case_number = :'a0'",
                               b.get("case_number")) == after[1],
          "a daemon that only takes submissions notices the new key file and wraps under it",
          (st, b))
    stop_cleanly(intake_only)
    code, out = hotlinectl("keys", "retire", before[1])
    with open(lib.base_settings()["master_key"]) as f:
        keyfile = f.read()
    check(code == 1 and "stopped being the current master key" in out and before[1] in keyfile,
          "the old key is not retired right after the rotation: a daemon may still seal with it"
          " (key_retire_grace)", out)
    # A grace of request_timeout + 2 s (the least allowed): 3 s with these settings.
    short = lib.write_conf("short-grace", request_timeout=1, key_retire_grace=1)
    t0 = time.monotonic()
    ok = wait_until(lambda: hotlinectl("keys", "retire", before[1], conf=short)[0] == 0, 10, 0.5)
    with open(lib.base_settings()["master_key"]) as f:
        keyfile = f.read()
    check(ok and before[1] not in keyfile,
          "once the grace has passed, the old key, no longer used, is retired (%.1fs)"
          % (time.monotonic() - t0), keyfile.count("\n"))
    code, out = hotlinectl("keys", "list")
    check(code == 0 and after[1] in out, "keys list shows the current key", out)


@test
def the_daemon_refuses_to_start_without_usable_keys():
    d = Daemon("nokeys", master_key="/nonexistent/master.key")
    try:
        d.start(wait_ready=False)
    except Exception:
        pass
    wait_until(lambda: not d.running(), 10)
    check(not d.running() and "keys_load_failed" in d.logtext(),
          "a missing master key file stops the daemon at start", d.logtail())
    loose = os.path.join(lib.VAR, "loose.key")
    with open(lib.base_settings()["master_key"]) as f, open(loose, "w") as g:
        g.write(f.read())
    os.chmod(loose, 0o644)
    d2 = Daemon("loosekey", master_key=loose)
    try:
        d2.start(wait_ready=False)
    except Exception:
        pass
    wait_until(lambda: not d2.running(), 10)
    check(not d2.running() and "keys_load_failed" in d2.logtext(),
          "so does a key file others may read", d2.logtail())
    os.unlink(loose)


@test(limit=120)
def a_key_still_sealing_a_submission_in_flight_cannot_be_retired():
    kdir = os.path.join(lib.VAR, "test-retire-race")
    os.makedirs(kdir, exist_ok=True)
    mk = os.path.join(kdir, "master.key")
    old_hex, new_hex = os.urandom(32).hex(), os.urandom(32).hex()

    def write_keys(text):
        tmp = mk + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, mk)
    write_keys("kheld %s\n" % old_hex)
    conf = lib.write_conf("retire-race", master_key=mk)
    d = Daemon("retirerace", master_key=mk).start()
    try:
        r = personal_report()
        with lib.TableLock(4, "hotline.idempotency"):
            t, res = lib.post_in_background(d, "gateway", "/v1/reports", r, new_key())
            held = wait_until(lambda: scalar(
                "select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
                " where c.relname = 'idempotency' and not l.granted") == "1", 10, 0.05)
            check(held, "a submission sealed under kheld is held open by the database, its data"
                  " key written but not committed")
            # kheld is replaced as current by a key made long ago (the grace is over), and
            # the rewrap that follows a rotation cannot see the uncommitted data key.
            write_keys("k20200101000000 %s\nkheld %s\n" % (new_hex, old_hex))
            rt, rr = lib.in_background(lambda: hotlinectl("keys", "retire", "kheld", conf=conf))
            rt.join(1.5)
            check(rt.is_alive(), "keys retire waits for the transaction that holds the keys lock",
                  rr[0])
            t.join(20)
            rt.join(30)
        st = res[0]
        check(isinstance(st, tuple) and st[0] == 201, "the held submission commits (201)", st)
        code, out = rr[0] if isinstance(rr[0], tuple) else (None, repr(rr[0]))
        with open(mk) as f:
            keys = f.read()
        check(code == 1 and "now wraps 1 data keys" in out and "kheld" in keys,
              "then it counts its data key and refuses: kheld stays in the key file", (code, out))
        n = st[2]["case_number"] if isinstance(st, tuple) else None
        fresh = Daemon("retirefresh", master_key=mk).start()
        try:
            s2, h2, v = view(fresh, "gateway", n)
        finally:
            stop_cleanly(fresh)
        check(s2 == 200 and v.get("narrative") == r["narrative"],
              "the case sealed just before the rotation is readable, by a daemon started afresh"
              " from the key file", (s2, v.get("narrative")))
        # Its data key must not outlive the test under a key only this test has: the
        # case is purged (crypto-shredded), after which kheld wraps nothing.
        code, out = hotlinectl("purge", "--case", n, conf=conf)
        check(code == 0, "the case is purged", out)
        code, out = hotlinectl("keys", "retire", "kheld", conf=conf)
        with open(mk) as f:
            keys = f.read()
        check(code == 0 and "kheld" not in keys, "after which kheld, wrapping nothing, is retired",
              out)
    finally:
        stop_cleanly(d)
