"""Retention: purging a case shreds its data key and keeps what the
statistics need; hotlinectl purge, after a dry run, purges old calls and
long-closed cases and keeps open ones."""

import json
import uuid

from .lib import (Client, access_log_count, check, example_json, file_report, hotlinectl,
                  is_error, log_call, new_key, personal_report, psql, scalar, test, view)


@test
def purging_a_case_shreds_its_key_and_keeps_the_statistics(daemon):
    r = personal_report()
    n = file_report(daemon, r)["case_number"]
    code, out = hotlinectl("purge", "--case", n)
    check(code == 0, "hotlinectl purge --case purges one case", out)
    row = psql("select dek_wrapped is null, narrative is null, purged_at is not null,"
               " (select count(*) from hotline.case_categories k where k.case_id = c.id),"
               " (select count(*) from hotline.assignments a where a.case_id = c.id)"
               " from hotline.cases c where case_number = :'a0'", n)[0]
    check(row[:3] == ["t", "t", "t"] and int(row[3]) > 0 and int(row[4]) > 0,
          "its data key and ciphertexts are gone; categories and assignments stay", row)
    before = access_log_count(n)
    st, h, v = view(daemon, "police-320102", n)
    text = json.dumps(v, ensure_ascii=False)
    check(st == 200 and v["access"] == "purged" and v["narrative"] == {"purged": True}
          and r["child"]["name"] not in text and access_log_count(n) == before,
          "the case view says purged, shows nothing personal, and logs no read", v.get("child"))
    check("purged" in [e["kind"] for e in v["history"]], "the purge is in the case history")
    st, h, b = Client(daemon, "police-320102").post("/v1/cases/%s/events" % n,
                                                    {"type": "note", "text": "（测试）"}, new_key())
    check(is_error(st, b, 409, "case_purged"), "a note can no longer be added", (st, b))
    code, out = hotlinectl("purge", "--case", "2026-320102-99999999")
    check(code == 1 and "no such case" in out, "an unknown case is an error", out)


@test
def retention_purges_old_calls_and_closed_cases_after_a_dry_run(daemon):
    c = dict(example_json("calls.counselled-study-pressure.valid.json"),
             caller_phone="135" + str(uuid.uuid4().int % 10 ** 8).zfill(8))
    call_id = log_call(daemon, c)["call_id"]
    psql("update hotline.calls set started_at = started_at - interval '40 days',"
         " ended_at = ended_at - interval '40 days' where call_id = :'a0'", call_id)
    n = file_report(daemon, personal_report())["case_number"]
    psql("update hotline.cases set status = 'closed', closed_at = now() - interval '11 years'"
         " where case_number = :'a0'", n)
    fresh = file_report(daemon, personal_report())["case_number"]
    code, out = hotlinectl("purge", "--dry-run")
    check(code == 0 and call_id in out and n in out and fresh not in out and "dry run" in out,
          "purge --dry-run lists the old call and the long-closed case, not the open one", out[-600:])
    check(scalar("select dek_wrapped is not null from hotline.calls where call_id = :'a0'",
                 call_id) == "t", "and changes nothing")
    code, out = hotlinectl("purge")
    check(code == 0 and call_id in out and n in out, "purge purges them", out[-600:])
    row = psql("select caller_phone is null, dek_wrapped is null, purged_at is not null,"
               " topic_category from hotline.calls where call_id = :'a0'", call_id)[0]
    check(row[:3] == ["t", "t", "t"] and row[3], "the call's personal data and key are gone, its"
          " topic stays for the statistics", row)
    check(scalar("select purged_at is not null from hotline.cases where case_number = :'a0'", n)
          == "t" and scalar("select purged_at is null from hotline.cases where case_number ="
                            " :'a0'", fresh) == "t", "the closed case is purged, the open one kept")
    code, out = hotlinectl("purge", "--dry-run")
    check(call_id not in out and n not in out, "a second dry run has nothing of them left")
