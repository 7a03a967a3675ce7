"""Intake: health, logging calls and filing reports (with HTTPS clients and
curl), every example of the contract, the published schemas, texts and
timestamps."""

import glob
import json
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone

from . import lib
from .lib import (CASE_NUMBER, RECEIPT, SHANGHAI, TIMESTAMP, UUID, Client, case_count, check,
                  counts, curl, example, example_json, file_report, instant, is_error, new_key,
                  psql, rfc3339, scalar, test)


def schema_validator(name):
    """A validator for proto/schemas/<name>, resolving references between the files."""
    import jsonschema
    sdir = os.path.join(lib.ROOT, "proto", "schemas")
    docs = {}
    for f in glob.glob(os.path.join(sdir, "*.json")):
        with open(f) as fh:
            d = json.load(fh)
        docs[d["$id"]] = d
    schema = docs["https://hotlined.invalid/schemas/" + name]
    try:
        from referencing import Registry, Resource
        reg = Registry().with_resources([(k, Resource.from_contents(v)) for k, v in docs.items()])
        return jsonschema.Draft202012Validator(schema, registry=reg)
    except ImportError:
        resolver = jsonschema.RefResolver.from_schema(schema, store=docs)
        return jsonschema.Draft202012Validator(schema, resolver=resolver)


@test
def health_needs_no_certificate(daemon):
    c = Client(daemon, None)
    st, h, body = c.get("/healthz")
    check(st == 200 and body == {"status": "ok"}, "GET /healthz without a certificate answers 200",
          (st, body))
    check(re.match(r"^[0-9a-f]{16}$", h.get("x-request-id", "")) is not None
          and h.get("cache-control") == "no-store",
          "responses carry X-Request-Id (16 hex digits) and Cache-Control: no-store", h)
    check(h.get("strict-transport-security", "").startswith("max-age="),
          "responses carry Strict-Transport-Security", h)
    st, h, body = c.get("/readyz")
    check(st == 200 and body.get("status") == "ready"
          and body.get("checks") == {"database": "ok", "identities": "ok", "escalation": "ok"},
          "GET /readyz answers 200 with every part ok (database, identities, escalation)",
          (st, body))


@test
def operator_logs_a_silent_call(daemon):
    before = counts()
    st, h, body = Client(daemon, "console").post("/v1/calls", example("calls.silent.valid.json"),
                                                 new_key())
    ok = check(st == 201 and UUID.match(body.get("call_id", "")) and "case_number" not in body
               and TIMESTAMP.match(body.get("received_at", "")),
               "a silent call is stored without a case: 201 with call_id and received_at",
               (st, body))
    after = counts()
    check(after[0] == before[0] + 1 and after[1:4] == before[1:4],
          "one call row and no case, report or child row were written", (before, after))
    if ok:
        row = psql("select disposition, caller_type, language, case_id is null"
                   " from hotline.calls where call_id = :'a0'", body["call_id"])
        check(row == [["silent", "unknown", "zh", "t"]],
              "the stored call matches what was sent (language defaults to zh)", row)


@test
def operator_opens_a_case_from_a_call(daemon):
    sent_body = example_json("calls.case-opened.valid.json")
    c = Client(daemon, "console")
    st, h, body = c.post("/v1/calls", sent_body, new_key())
    number = body.get("case_number", "") if isinstance(body, dict) else ""
    m = CASE_NUMBER.match(number)
    check(st == 201 and m is not None and m.group(2) == "320102",
          "a call that opens a case gets a case number YYYY-RRRRRR-NNNNNNNN with the child's region",
          (st, body))
    if not m:
        return
    check(int(m.group(1)) == datetime.now(SHANGHAI).year,
          "the case number's year is the year in China", number)
    row = psql("select c.source, c.risk_level, c.region_code, h.region_code, k.disposition,"
               " (select count(*) from hotline.case_categories where case_id = c.id),"
               " (select kind from hotline.case_events where case_id = c.id and seq = 1)"
               " from hotline.cases c join hotline.children h on h.case_id = c.id"
               " join hotline.calls k on k.case_id = c.id where c.case_number = :'a0'", number)
    check(row == [["call", "2", "320102", "320102", "case_opened", "1", "created"]],
          "the case, child, call link and first history event are stored together", row)
    st, h, view = c.get("/v1/cases/" + number)
    oc = sent_body["open_case"]
    ok = check(st == 200 and isinstance(view, dict), "its creator reads the case: 200", (st, view))
    if ok:
        check(view.get("case_number") == number and view.get("source") == "call"
              and view.get("status") == "open" and view.get("risk_level") == oc["risk_level"]
              and view.get("region_code") == "320102" and view.get("narrative") == oc["narrative"]
              and view.get("categories") == oc["categories"],
              "the case view has its number, source, status, risk, region, narrative and categories",
              view)
        check(view.get("child") == oc["child"], "the case view shows the child as submitted",
              (view.get("child"), oc["child"]))
        calls = view.get("calls") or [{}]
        check(calls[0].get("call_id") == body["call_id"]
              and calls[0].get("caller_type") == "about_child"
              and calls[0].get("started_at") == "2026-11-01T01:00:00Z"
              and instant(calls[0].get("ended_at", "2000-01-01T00:00:00Z"))
              == instant(sent_body["ended_at"]),
              "the case view lists the call, its times given in UTC", calls)
        check(view.get("history", [{}])[0].get("kind") == "created",
              "the case history starts with its creation", view.get("history"))
    st, h, v = Client(daemon, "admin").get("/v1/cases/" + number)
    check(st == 200 and v.get("case_number") == number and v.get("access") == "redacted",
          "an admin reads any case, redacted", (st, v))
    st, h, v = Client(daemon, "console2").get("/v1/cases/" + number)
    check(st == 200 and v.get("access") == "full",
          "another seat of the same centre (console2) reads it in full", (st, v))
    for who in ("console-b", "gateway"):
        st, h, v = Client(daemon, who).get("/v1/cases/" + number)
        check(is_error(st, v, 404, "not_found"),
              "%s (another centre's seat, a gateway) gets 404 not_found" % who, (st, v))


@test
def gateway_files_a_mandatory_report(daemon):
    g = Client(daemon, "gateway")
    sent_body = example_json("reports.missing-immediate-danger.valid.json")
    st, h, body = g.post("/v1/reports", sent_body, new_key())
    ok = check(st == 201 and CASE_NUMBER.match(body.get("case_number", ""))
               and RECEIPT.match(body.get("receipt_id", ""))
               and TIMESTAMP.match(body.get("received_at", "")),
               "a report gets a case number, an unguessable receipt id and received_at", (st, body))
    if not ok:
        return
    check(body["risk_level"] == 1, "immediate danger makes the report risk level 1", body)
    row = psql("select r.situations::text, r.immediate_danger, c.risk_level, c.source,"
               " (select string_agg(category || '/' || subcategory, ',' order by subcategory)"
               "  from hotline.case_categories where case_id = c.id)"
               " from hotline.reports r join hotline.cases c on c.id = r.case_id"
               " where r.receipt_id = :'a0' and c.case_number = :'a1'",
               body["receipt_id"], body["case_number"])
    check(row == [["{7,9}", "t", "1", "report", "abuse/other_serious,abuse/trafficking_missing"]],
          "the report is stored under its case, situations mapped to categories", row)
    st, h, body2 = g.post("/v1/reports", example("reports.sexual-abuse.valid.json"), new_key())
    check(st == 201 and body2.get("risk_level") == 2,
          "without immediate danger the risk is the situations' minimum (2)", (st, body2))
    st, h, view = g.get("/v1/cases/" + body["case_number"])
    ok = check(st == 200 and isinstance(view, dict) and isinstance(view.get("report"), dict),
               "the gateway that filed it reads the case", (st, view))
    if ok:
        rep = view["report"]
        check(rep.get("receipt_id") == body["receipt_id"] and rep.get("situations") == [7, 9]
              and rep.get("reporter") == {"withheld": True}
              and rep.get("institution") == sent_body["institution"]
              and rep.get("suspected") == sent_body["suspected"]
              and instant(rep.get("discovered_at", "2000-01-01T00:00:00Z"))
              == instant(sent_body["discovered_at"])
              and view.get("child") == sent_body["child"]
              and view.get("narrative") == sent_body["narrative"],
              "the case view shows the report as submitted, the reporter's identity withheld even"
              " from the gateway that filed it", (view, sent_body))
        st, h, pview = Client(daemon, "police-320104").get("/v1/cases/" + body["case_number"])
        check(pview["report"]["reporter"] == sent_body["reporter"],
              "the primary police see the reporter as submitted", pview["report"]["reporter"])
    st, h, v = Client(daemon, "admin").get("/v1/cases/" + body["case_number"])
    check(st == 200 and v.get("case_number") == body["case_number"]
          and v["report"]["reporter"] == {"withheld": True},
          "an admin reads any case, never the reporter", st)
    for who in ("gateway2", "console", "console2", "console-b", "police-320102"):
        st, h, v = Client(daemon, who).get("/v1/cases/" + body["case_number"])
        check(is_error(st, v, 404, "not_found"),
              "%s gets 404 for a report case it did not create" % who, (st, v))
    for bad in ("2026-320102-1", "..%2F..%2Fetc", "2026-320102-00000001x", "2026-320102-00000001/",
                "2026-000000-00000001", "%00"):
        st, h, v = g.get("/v1/cases/" + bad)
        check(st == 404, "a malformed case number (%r) is simply 404" % bad, (st, v))
    st, h, v = g.get("/v1/cases/%d-320102-99999999" % datetime.now(SHANGHAI).year)
    check(is_error(st, v, 404, "not_found"), "a case that does not exist is 404 not_found", (st, v))


@test
def curl_files_a_report(daemon):
    path = os.path.join(lib.EXAMPLES, "reports.neglect-community.valid.json")
    code, body, err = curl(daemon, "gateway", "/v1/reports", path)
    ok = check(code == "201", "curl files a report and gets 201", body + err)
    if ok:
        number = json.loads(body)["case_number"]
        check(case_count(number) == "1", "the case filed with curl is in the database", number)
    big = example_json("reports.neglect-community.valid.json")
    big["narrative"] = "（测试）" + "长" * 9000           # ~27 KB: curl waits for 100-continue
    bigpath = os.path.join(lib.VAR, "test-big-report.json")
    with open(bigpath, "w") as f:
        json.dump(big, f, ensure_ascii=False)
    code, body, err = curl(daemon, "gateway", "/v1/reports", bigpath, "-H", "Expect: 100-continue")
    check(code == "201", "curl sending Expect: 100-continue with a 27 KB report gets 201",
          body + err)


def open_case(daemon, body="cases.bullying-with-injury.valid.json", client="console"):
    """Open a case during a call (POST /v1/cases); its number."""
    st, h, b = Client(daemon, client).post("/v1/cases", example(body), new_key())
    assert st == 201, (st, b)
    return b["case_number"]


@test
def every_proto_example_behaves_as_documented(daemon):
    expected = lib.expected_errors()
    clients = {"calls": Client(daemon, "console"), "reports": Client(daemon, "gateway")}
    names = lib.example_names()
    check(len([n for n in names if n.endswith(".invalid.json")]) == len(expected),
          "expected.json names exactly the invalid examples",
          set(expected) ^ {n for n in names if n.endswith(".invalid.json")})
    for name in names:
        endpoint = name.split(".")[0]
        if endpoint not in clients:
            continue            # events: below; the operator's and supplements': test_operator
        sent = example(name)
        on_case = name.endswith(".valid.json") and "case_number" in json.loads(sent)
        if on_case:             # a call on a case: one the centre opened first
            sent = json.dumps(dict(json.loads(sent), case_number=open_case(daemon)),
                              ensure_ascii=False).encode()
        before = counts()
        st, h, body = clients[endpoint].post("/v1/" + endpoint, sent, new_key())
        after = counts()
        grew = tuple(a - b for a, b in zip(after, before))
        if name.endswith(".valid.json"):
            if endpoint == "calls":
                opened = 1 if json.loads(sent).get("open_case") else 0
                want = (1, opened, 0, opened, opened, 1)
            else:
                want = (0, 1, 1, 1, 1, 1)
            check(st == 201 and grew == want,
                  "valid example %s is stored (201)" % name,
                  "status %s body %s\nrows added %s, expected %s" % (st, body, grew, want))
        else:
            exp = expected.get(name, {})
            err = body.get("error", {}) if isinstance(body, dict) else {}
            check(st == exp.get("status") and err.get("code") == exp.get("code")
                  and err.get("field") == exp.get("field"),
                  "invalid example %s gets %s %s %s" % (name, exp.get("status"), exp.get("code"),
                                                        exp.get("field", "")),
                  (st, body))
            check(after == before, "invalid example %s stores nothing" % name, (before, after))


@test
def every_event_example_behaves_as_documented(daemon):
    # Each is posted to a case of its own (a report from a school: the
    # county police primary, its procuratorate supervising), a supervision
    # record by the procuratorate, the others by the police.
    expected = lib.expected_errors()
    for name in lib.example_names():
        if not name.startswith("events."):
            continue
        n = file_report(daemon, "reports.sexual-abuse.valid.json")["case_number"]
        who = ("procuratorate-320102" if json.loads(example(name))["type"] == "supervision"
               else "police-320102")
        def events():
            return scalar("select history_len from hotline.cases where case_number = :'a0'", n)
        before = events()
        st, h, body = Client(daemon, who).post("/v1/cases/%s/events" % n, example(name), new_key())
        if name.endswith(".valid.json"):
            check(st == 201 and body["seq"] == int(before) + 1 and events() == str(body["seq"]),
                  "valid example %s is recorded (201, one event)" % name, (st, body))
        else:
            exp = expected.get(name, {})
            err = body.get("error", {}) if isinstance(body, dict) else {}
            check(st == exp.get("status") and err.get("code") == exp.get("code")
                  and err.get("field") == exp.get("field") and events() == before,
                  "invalid example %s gets %s %s %s and records nothing" % (
                      name, exp.get("status"), exp.get("code"), exp.get("field", "")), (st, body))


@test
def bodies_conform_to_the_published_schemas(daemon):
    try:
        v = {n: schema_validator(n + ".schema.json") for n in
             ("calls.request", "calls.response", "reports.request", "reports.response",
              "events.request", "case.response", "error", "health.response",
              "ready.response", "cases.request", "notes.request", "risk.request",
              "categories.request", "child.request", "links.request", "supplements.request")}
    except ImportError as e:
        check(False, "jsonschema is installed (daemon/dev/deps.sh installs python3-jsonschema)", e)
        return
    for name in lib.example_names(".valid.json"):
        errs = list(v[name.split(".")[0] + ".request"].iter_errors(example_json(name)))
        check(not errs, "valid example %s conforms to its request schema" % name,
              [e.message[:200] for e in errs[:3]])
    g, o = Client(daemon, "gateway"), Client(daemon, "console")
    st, h, rep = g.post("/v1/reports", example("reports.full-child-record.valid.json"), new_key())
    check(st == 201 and not list(v["reports.response"].iter_errors(rep)),
          "a report's 201 conforms to reports.response", rep)
    st, h, call = o.post("/v1/calls", example("calls.case-opened.valid.json"), new_key())
    check(st == 201 and not list(v["calls.response"].iter_errors(call)),
          "a call's 201 conforms to calls.response", call)
    for who, number in ((g, rep.get("case_number")), (o, call.get("case_number"))):
        st, h, view = who.get("/v1/cases/%s" % number)
        errs = list(v["case.response"].iter_errors(view))
        check(st == 200 and not errs, "the case view of %s conforms to case.response" % number,
              [e.message[:200] for e in errs[:3]])
    st, h, err = g.post("/v1/reports", example("reports.age-eighteen.invalid.json"), new_key())
    check(st == 400 and not list(v["error"].iter_errors(err)), "an error conforms to error", err)
    st, h, hz = Client(daemon, None).get("/healthz")
    check(not list(v["health.response"].iter_errors(hz)), "/healthz conforms to health.response")
    st, h, rz = Client(daemon, None).get("/readyz")
    check(st == 200 and not list(v["ready.response"].iter_errors(rz)),
          "/readyz conforms to ready.response", rz)


@test
def texts_are_counted_in_characters_and_stored_intact(daemon):
    g = Client(daemon, "gateway")
    body = example_json("reports.self-harm.valid.json")
    body["narrative"] = "😀" * 16000           # 16000 characters, 64000 bytes of UTF-8
    st, h, b = g.post("/v1/reports", body, new_key())
    ok = check(st == 201, "a narrative of 16000 four-byte characters is accepted", (st, b))
    if ok:
        n = scalar("select octet_length(narrative) from hotline.cases where case_number = :'a0'",
                   b["case_number"])
        st, h, view = g.get("/v1/cases/" + b["case_number"])
        check(n == str(64000 + 29) and view["narrative"] == body["narrative"],
              "and stored sealed (64000 bytes and 29 of envelope), read back with its 16000"
              " characters", n)
    body["narrative"] = "😀" * 16001
    st, h, b = g.post("/v1/reports", body, new_key())
    check(is_error(st, b, 400, "too_long") and b["error"].get("field") == "narrative",
          "16001 characters is 400 too_long on narrative", (st, b))
    raw = example("reports.self-harm.valid.json").decode()
    original = example_json("reports.self-harm.valid.json")["narrative"]
    escaped = json.dumps(original + " \\ \"引号\"\t\r\n😀", ensure_ascii=True)  # \uXXXX, surrogate pairs
    raw = raw.replace(json.dumps(original, ensure_ascii=False), escaped)
    st, h, b = g.post("/v1/reports", raw.encode(), new_key())
    ok = check(st == 201, "escapes, surrogate pairs, tab and CR LF are accepted in a text", (st, b))
    if ok:
        st, h, view = g.get("/v1/cases/" + b["case_number"])
        check(view.get("narrative") == json.loads(escaped),
              "the text comes back exactly as sent", (view.get("narrative"), json.loads(escaped)))
    for what, text in (("a lone CR", "a\rb"), ("a raw control character", "a\u0007b")):
        body["narrative"] = text
        st, h, b = g.post("/v1/reports", body, new_key())
        check(is_error(st, b, 400, "invalid_value") and b["error"].get("field") == "narrative",
              "%s in a text is 400 invalid_value" % what, (st, b))


@test
def timestamps_are_checked_against_the_server_clock(daemon):
    o = Client(daemon, "console")
    now = datetime.now(SHANGHAI).replace(microsecond=0)
    body = example_json("calls.hang-up.valid.json")
    body["started_at"] = rfc3339(now + timedelta(minutes=4))
    body["ended_at"] = rfc3339(now + timedelta(minutes=5))
    st, h, b = o.post("/v1/calls", body, new_key())
    check(st == 201, "a call ending 5 minutes ahead of the clock (+08:00) is accepted", (st, b))
    body["ended_at"] = rfc3339((now + timedelta(minutes=15)).astimezone(timezone.utc))
    st, h, b = o.post("/v1/calls", body, new_key())
    check(is_error(st, b, 400, "out_of_range") and b["error"].get("field") == "ended_at",
          "a timestamp 15 minutes ahead of the clock is 400 out_of_range", (st, b))
    body["started_at"] = "2026-11-01T09:00:00.123456789+08:00"
    body["ended_at"] = "2026-11-01T01:00:00.5Z"
    st, h, b = o.post("/v1/calls", body, new_key())
    check(st == 201, "fractions of 1-9 digits and either offset are accepted", (st, b))
    for bad in ("2026-11-01t09:00:00+08:00", "2026-11-01T09:00:00", "2026-11-01T24:00:00Z",
                "2026-11-01T09:00:60Z", "2026-02-29T09:00:00Z", "2026-11-01 09:00:00Z"):
        body["started_at"] = bad
        st, h, b = o.post("/v1/calls", body, new_key())
        check(is_error(st, b, 400, "invalid_value") and b["error"].get("field") == "started_at",
              "timestamp %r is 400 invalid_value" % bad, (st, b))


@test
def the_version_names_the_release_and_the_newest_migration(daemon):
    release = subprocess.run([lib.BINARY, "-V"], capture_output=True, text=True,
                             timeout=10).stdout.split()[-1]
    newest = sorted(os.path.basename(f)[:-len(".sql")]
                    for f in glob.glob(os.path.join(lib.ROOT, "sql", "[0-9][0-9][0-9]_*.sql")))[-1]
    want = {"release": release, "schema": newest}
    got = {who: Client(daemon, who).get("/v1/version") for who in
           ("console", "gateway", "police-320102", "admin")}
    check(all(st == 200 and b == want for st, h, b in got.values()),
          "every client role but a statistician gets the release (hotlined -V) and the newest"
          " migration (%s)" % newest, {who: (st, b) for who, (st, h, b) in got.items()})
    check(scalar("select max(version) from hotline.schema_migrations") == newest,
          "which is the one the migration runner recorded last")
    try:
        errs = list(schema_validator("version.response.schema.json").iter_errors(
            got["console"][2]))
    except ImportError as e:
        errs = [e]
    check(not errs, "the answer conforms to version.response", errs[:3])
    st, h, b = Client(daemon, None).get("/v1/version")
    check(is_error(st, b, 401, "certificate_required"), "without a certificate it is 401", (st, b))
    st, h, b = Client(daemon, "console").request("POST", "/v1/version", body={})
    check(is_error(st, b, 405, "method_not_allowed") and h.get("allow") == "GET, HEAD",
          "POST is 405 with Allow: GET, HEAD", (st, h.get("allow"), b))
