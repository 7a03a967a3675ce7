#!/usr/bin/env python3
"""Integration tests for hotlined against the real daemon, real TLS and a
real PostgreSQL.  Prints one TAP line per check; exits 1 if any failed.

    run.py --binary build/hotlined --var <dir made by daemon/dev/setup.sh>
           [--sanitizers] [-k substring]

Every test is a function whose name reads as the scenario it checks; each
runs under a time limit (TEST_LIMIT) and waits at most ~30 s for anything.
With --sanitizers every daemon's log is scanned for AddressSanitizer,
LeakSanitizer and UBSan reports after it stopped.
"""

import argparse
import glob
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import (Client, Daemon, TableLock, closed_within, counts, example,  # noqa: E402
                 example_json, psql, scalar, tls_connect, wait_until)

TESTS = []
RESULTS = {"passed": 0, "failed": 0}
TEST_LIMIT = 90     # seconds a test may take before the run is abandoned
CASE_NUMBER = re.compile(r"^(\d{4})-(\d{6})-(\d{8})$")
RECEIPT = re.compile(r"^R[A-Z2-7]{20}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
SHANGHAI = timezone(timedelta(hours=8))
SENT = []           # every body sent, for the personal-data check of the logs


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, name, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print("ok - " + name)
    else:
        RESULTS["failed"] += 1
        print("not ok - " + name)
        for line in str(detail).splitlines()[:20]:
            print("#   " + line[:2000])
    sys.stdout.flush()
    return cond


def key():
    return "it-" + uuid.uuid4().hex


def error_code(body):
    """The error code of an error body, or None."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def is_error(st, body, status, code):
    return st == status and error_code(body) == code


def instant(ts):
    """An RFC 3339 timestamp as an aware datetime."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def rfc3339(dt):
    return dt.isoformat(timespec="seconds")


def sent(body):
    """Remember a body (bytes, str or dict) for the log check; return it."""
    SENT.append(body)
    return body


def stop_cleanly(d):
    code = d.stop()
    check(code == 0, "%r stops with exit status 0 on SIGTERM" % d, "status %s\n%s" % (
        code, d.logtail()))


def case_count(number):
    return scalar("select count(*) from hotline.cases where case_number = :'a0'", number)


def not_stored_once(numbers):
    """The case numbers among these that are not in the database exactly once."""
    numbers = [n or "none" for n in numbers]
    if not numbers:
        return []
    return [r[0] for r in psql("select n from unnest(string_to_array(:'a0', ',')) n where"
                               " (select count(*) from hotline.cases c where c.case_number = n)"
                               " <> 1", ",".join(numbers))]


D = None   # the shared daemon with the default configuration


# ---------------------------------------------------------------- health and happy paths

@test
def health_needs_no_certificate():
    c = Client(D, None)
    st, h, body = c.get("/healthz")
    check(st == 200 and body == {"status": "ok"}, "GET /healthz without a certificate answers 200",
          (st, body))
    check(re.match(r"^[0-9a-f]{16}$", h.get("x-request-id", "")) is not None
          and h.get("cache-control") == "no-store",
          "responses carry X-Request-Id (16 hex digits) and Cache-Control: no-store", h)
    st, h, body = c.get("/readyz")
    check(st == 200 and body == {"status": "ready"}, "GET /readyz answers 200 with the database up",
          (st, body))


@test
def operator_logs_a_silent_call():
    before = counts()
    st, h, body = Client(D, "console").post("/v1/calls", sent(example("calls.silent.valid.json")),
                                            key())
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
def operator_opens_a_case_from_a_call():
    sent_body = example_json("calls.case-opened.valid.json")
    c = Client(D, "console")
    st, h, body = c.post("/v1/calls", sent(sent_body), key())
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
    st, h, v = Client(D, "admin").get("/v1/cases/" + number)
    check(st == 200 and v.get("case_number") == number, "an admin reads any case", (st, v))
    for who in ("console2", "gateway"):
        st, h, v = Client(D, who).get("/v1/cases/" + number)
        check(is_error(st, v, 404, "not_found"),
              "%s, which did not create the case, gets 404 not_found" % who, (st, v))


@test
def gateway_files_a_mandatory_report():
    g = Client(D, "gateway")
    sent_body = example_json("reports.missing-immediate-danger.valid.json")
    st, h, body = g.post("/v1/reports", sent(sent_body), key())
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
    st, h, body2 = g.post("/v1/reports", sent(example("reports.sexual-abuse.valid.json")), key())
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
        st, h, aview = Client(D, "admin").get("/v1/cases/" + body["case_number"])
        check(aview["report"]["reporter"] == sent_body["reporter"],
              "an admin sees the reporter as submitted", aview["report"]["reporter"])
    st, h, v = Client(D, "admin").get("/v1/cases/" + body["case_number"])
    check(st == 200 and v.get("case_number") == body["case_number"], "an admin reads any case", st)
    for who in ("gateway2", "console", "console2", "police-320102"):
        st, h, v = Client(D, who).get("/v1/cases/" + body["case_number"])
        check(is_error(st, v, 404, "not_found"),
              "%s gets 404 for a report case it did not create" % who, (st, v))
    for bad in ("2026-320102-1", "..%2F..%2Fetc", "2026-320102-00000001x", "2026-320102-00000001/",
                "2026-000000-00000001", "%00"):
        st, h, v = g.get("/v1/cases/" + bad)
        check(st == 404, "a malformed case number (%r) is simply 404" % bad, (st, v))
    st, h, v = g.get("/v1/cases/%d-320102-99999999" % datetime.now(SHANGHAI).year)
    check(is_error(st, v, 404, "not_found"), "a case that does not exist is 404 not_found", (st, v))


def curl(daemon, cert, path, data_file, *extra):
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", lib.pki("ca.crt"),
         "--cert", lib.pki(cert + ".crt"), "--key", lib.pki(cert + ".key"),
         "-H", "Content-Type: application/json", "-H", "Idempotency-Key: " + key(),
         "--data-binary", "@" + data_file, "-w", "\n%{http_code}"] + list(extra)
        + ["https://127.0.0.1:%d%s" % (daemon.port, path)],
        capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    return code, body, out.stderr


@test
def curl_files_a_report():
    path = os.path.join(lib.EXAMPLES, "reports.neglect-community.valid.json")
    sent(example("reports.neglect-community.valid.json"))
    code, body, err = curl(D, "gateway", "/v1/reports", path)
    ok = check(code == "201", "curl files a report and gets 201", body + err)
    if ok:
        number = json.loads(body)["case_number"]
        check(case_count(number) == "1", "the case filed with curl is in the database", number)
    big = example_json("reports.neglect-community.valid.json")
    big["narrative"] = "（测试）" + "长" * 9000           # ~27 KB: curl waits for 100-continue
    bigpath = os.path.join(lib.VAR, "test-big-report.json")
    with open(bigpath, "w") as f:
        json.dump(sent(big), f, ensure_ascii=False)
    code, body, err = curl(D, "gateway", "/v1/reports", bigpath, "-H", "Expect: 100-continue")
    check(code == "201", "curl sending Expect: 100-continue with a 27 KB report gets 201",
          body + err)


# ---------------------------------------------------------------- the contract's examples

@test
def every_proto_example_behaves_as_documented():
    expected = lib.expected_errors()
    clients = {"calls": Client(D, "console"), "reports": Client(D, "gateway")}
    names = lib.example_names()
    check(len([n for n in names if n.endswith(".invalid.json")]) == len(expected),
          "expected.json names exactly the invalid examples",
          set(expected) ^ {n for n in names if n.endswith(".invalid.json")})
    for name in names:
        endpoint = name.split(".")[0]
        before = counts()
        st, h, body = clients[endpoint].post("/v1/" + endpoint, sent(example(name)), key())
        after = counts()
        grew = tuple(a - b for a, b in zip(after, before))
        if name.endswith(".valid.json"):
            if endpoint == "calls":
                opened = 1 if json.loads(example(name))["disposition"] == "case_opened" else 0
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
def bodies_conform_to_the_published_schemas():
    try:
        v = {n: schema_validator(n + ".schema.json") for n in
             ("calls.request", "calls.response", "reports.request", "reports.response",
              "case.response", "error", "health.response")}
    except ImportError as e:
        check(False, "jsonschema is installed (daemon/dev/deps.sh installs python3-jsonschema)", e)
        return
    for name in lib.example_names(".valid.json"):
        errs = list(v[name.split(".")[0] + ".request"].iter_errors(example_json(name)))
        check(not errs, "valid example %s conforms to its request schema" % name,
              [e.message[:200] for e in errs[:3]])
    g, o = Client(D, "gateway"), Client(D, "console")
    st, h, rep = g.post("/v1/reports", sent(example("reports.full-child-record.valid.json")), key())
    check(st == 201 and not list(v["reports.response"].iter_errors(rep)),
          "a report's 201 conforms to reports.response", rep)
    st, h, call = o.post("/v1/calls", sent(example("calls.case-opened.valid.json")), key())
    check(st == 201 and not list(v["calls.response"].iter_errors(call)),
          "a call's 201 conforms to calls.response", call)
    for who, number in ((g, rep.get("case_number")), (o, call.get("case_number"))):
        st, h, view = who.get("/v1/cases/%s" % number)
        errs = list(v["case.response"].iter_errors(view))
        check(st == 200 and not errs, "the case view of %s conforms to case.response" % number,
              [e.message[:200] for e in errs[:3]])
    st, h, err = g.post("/v1/reports", example("reports.age-eighteen.invalid.json"), key())
    check(st == 400 and not list(v["error"].iter_errors(err)), "an error conforms to error", err)
    st, h, hz = Client(D, None).get("/healthz")
    check(not list(v["health.response"].iter_errors(hz)), "/healthz conforms to health.response")


@test
def texts_are_counted_in_characters_and_stored_intact():
    g = Client(D, "gateway")
    body = example_json("reports.self-harm.valid.json")
    body["narrative"] = "😀" * 16000           # 16000 characters, 64000 bytes of UTF-8
    st, h, b = g.post("/v1/reports", body, key())
    ok = check(st == 201, "a narrative of 16000 four-byte characters is accepted", (st, b))
    if ok:
        n = scalar("select octet_length(narrative) from hotline.cases where case_number = :'a0'",
                   b["case_number"])
        st, h, view = g.get("/v1/cases/" + b["case_number"])
        check(n == str(64000 + 29) and view["narrative"] == body["narrative"],
              "and stored sealed (64000 bytes and 29 of envelope), read back with its 16000"
              " characters", n)
    body["narrative"] = "😀" * 16001
    st, h, b = g.post("/v1/reports", body, key())
    check(is_error(st, b, 400, "too_long") and b["error"].get("field") == "narrative",
          "16001 characters is 400 too_long on narrative", (st, b))
    raw = example("reports.self-harm.valid.json").decode()
    original = example_json("reports.self-harm.valid.json")["narrative"]
    escaped = json.dumps(original + " \\ \"引号\"\t\r\n😀", ensure_ascii=True)  # \uXXXX, surrogate pairs
    raw = raw.replace(json.dumps(original, ensure_ascii=False), escaped)
    st, h, b = g.post("/v1/reports", raw.encode(), key())
    ok = check(st == 201, "escapes, surrogate pairs, tab and CR LF are accepted in a text", (st, b))
    if ok:
        st, h, view = g.get("/v1/cases/" + b["case_number"])
        check(view.get("narrative") == json.loads(escaped),
              "the text comes back exactly as sent", (view.get("narrative"), json.loads(escaped)))
    for what, text in (("a lone CR", "a\rb"), ("a raw control character", "a\u0007b")):
        body["narrative"] = text
        st, h, b = g.post("/v1/reports", body, key())
        check(is_error(st, b, 400, "invalid_value") and b["error"].get("field") == "narrative",
              "%s in a text is 400 invalid_value" % what, (st, b))


@test
def timestamps_are_checked_against_the_server_clock():
    o = Client(D, "console")
    now = datetime.now(SHANGHAI).replace(microsecond=0)
    body = example_json("calls.hang-up.valid.json")
    body["started_at"] = rfc3339(now + timedelta(minutes=4))
    body["ended_at"] = rfc3339(now + timedelta(minutes=5))
    st, h, b = o.post("/v1/calls", body, key())
    check(st == 201, "a call ending 5 minutes ahead of the clock (+08:00) is accepted", (st, b))
    body["ended_at"] = rfc3339((now + timedelta(minutes=15)).astimezone(timezone.utc))
    st, h, b = o.post("/v1/calls", body, key())
    check(is_error(st, b, 400, "out_of_range") and b["error"].get("field") == "ended_at",
          "a timestamp 15 minutes ahead of the clock is 400 out_of_range", (st, b))
    body["started_at"] = "2026-11-01T09:00:00.123456789+08:00"
    body["ended_at"] = "2026-11-01T01:00:00.5Z"
    st, h, b = o.post("/v1/calls", body, key())
    check(st == 201, "fractions of 1-9 digits and either offset are accepted", (st, b))
    for bad in ("2026-11-01t09:00:00+08:00", "2026-11-01T09:00:00", "2026-11-01T24:00:00Z",
                "2026-11-01T09:00:60Z", "2026-02-29T09:00:00Z", "2026-11-01 09:00:00Z"):
        body["started_at"] = bad
        st, h, b = o.post("/v1/calls", body, key())
        check(is_error(st, b, 400, "invalid_value") and b["error"].get("field") == "started_at",
              "timestamp %r is 400 invalid_value" % bad, (st, b))


# ---------------------------------------------------------------- idempotency

@test
def idempotent_retries_replay_the_original_answer():
    g = Client(D, "gateway")
    k = key()
    body = sent(example("reports.self-harm.valid.json"))
    st1, h1, b1 = g.post("/v1/reports", body, k)
    before = counts()
    st2, h2, b2 = g.post("/v1/reports", body, k)
    check(st1 == 201 and st2 == 201 and b1 == b2,
          "the same key and body replay the same response (same case number and receipt)",
          (b1, b2))
    check(h2.get("idempotent-replayed") == "true" and "idempotent-replayed" not in h1,
          "a replay is marked Idempotent-Replayed: true, the original is not", (h1, h2))
    check(counts() == before, "a replay stores nothing new", (before, counts()))
    st3, h3, b3 = g.post("/v1/reports", example("reports.sexual-abuse.valid.json"), k)
    check(is_error(st3, b3, 422, "idempotency_key_reused"),
          "the same key with a different body is 422 idempotency_key_reused", (st3, b3))
    spaced = json.dumps(json.loads(body), ensure_ascii=False, indent=1).encode()
    st3, h3, b3 = g.post("/v1/reports", spaced, k)
    check(is_error(st3, b3, 422, "idempotency_key_reused"),
          "the same JSON with other white space is another body (compared byte for byte): 422",
          (st3, b3))
    st4, h4, b4 = Client(D, "gateway2").post("/v1/reports", body, k)
    check(st4 == 201 and b4.get("case_number") != b1.get("case_number")
          and "idempotent-replayed" not in h4,
          "the same key from another client is an independent submission", (st4, b4))
    st5, h5, b5 = g.post("/v1/reports", body)
    check(is_error(st5, b5, 400, "missing_idempotency_key"),
          "a POST without Idempotency-Key is 400 missing_idempotency_key", (st5, b5))
    for bad in ("has space", "k" * 129, "", "a/b", "é"):
        st6, h6, b6 = g.post("/v1/reports", body, headers={"Idempotency-Key": bad})
        check(is_error(st6, b6, 400, "invalid_idempotency_key"),
              "Idempotency-Key %r is 400 invalid_idempotency_key" % bad[:20], (st6, b6))
    st7, h7, b7 = g.post("/v1/reports", body, "K" * 100 + "az09._:-" + "k" * 20)
    check(st7 == 201, "a key of 128 allowed characters is accepted", (st7, b7))
    n = scalar("select count(*) from hotline.idempotency i join hotline.clients c on c.id = i.client_id"
               " where i.key = :'a0' and c.name = 'gateway'", k)
    check(n == "1", "exactly one record is kept for the key", n)
    o = Client(D, "console")
    k = key()
    call = sent(example("calls.case-opened.valid.json"))
    r1, r2 = o.post("/v1/calls", call, k), o.post("/v1/calls", call, k)
    check(r1[0] == r2[0] == 201 and r1[2] == r2[2] and r2[1].get("idempotent-replayed") == "true",
          "a call replays its call id and case number", (r1[2], r2[2]))


@test
def a_refused_request_does_not_use_up_its_key():
    g = Client(D, "gateway")
    k = key()
    st, h, b = g.post("/v1/reports", example("reports.age-eighteen.invalid.json"), k)
    check(st == 400, "an invalid report is refused", (st, b))
    st, h, b = g.post("/v1/reports", example("reports.unknown-region.invalid.json"), k)
    check(is_error(st, b, 422, "unknown_region"), "a report with an unknown region is 422", (st, b))
    st, h, b = g.post("/v1/reports", sent(example("reports.self-harm.valid.json")), k)
    check(st == 201 and "idempotent-replayed" not in h,
          "the corrected report under the same key is stored (201, not 422)", (st, b))


def post_in_background(daemon, cert, path, body, k, timeout=20):
    return lib.in_background(lambda: Client(daemon, cert, timeout).post(path, body, k))


def keyed_cases(client, k):
    """How many cases the idempotency record of (client, key) points at."""
    return scalar("select count(*) from hotline.idempotency i join hotline.clients k on"
                  " k.id = i.client_id join hotline.cases c on c.case_number ="
                  " i.response->>'case_number' where k.name = :'a0' and i.key = :'a1'", client, k)


@test
def a_retry_while_the_first_is_in_flight_is_409():
    body = sent(example("reports.organised-begging.valid.json"))
    k = key()
    with TableLock(2):
        t, first = post_in_background(D, "gateway", "/v1/reports", body, k)
        time.sleep(0.5)
        st, h, b = Client(D, "gateway").post("/v1/reports", body, k)
        check(is_error(st, b, 409, "idempotency_in_flight"),
              "a second request with the key still in flight is 409 idempotency_in_flight", (st, b))
        t.join(20)
    r = first[0]
    check(isinstance(r, tuple) and r[0] == 201 and "idempotent-replayed" not in r[1],
          "the first request completes with 201 once the database frees up", r)
    st, h, b = Client(D, "gateway").post("/v1/reports", body, k)
    check(st == 201 and h.get("idempotent-replayed") == "true"
          and isinstance(r, tuple) and b == r[2],
          "a retry after it completed replays its answer", (st, b))
    # Across two daemons the database's advisory lock gives the same answer.
    other = Daemon("second").start()
    try:
        k2 = key()
        with TableLock(2):
            t, first = post_in_background(D, "gateway", "/v1/reports", body, k2)
            time.sleep(0.5)
            st, h, b = Client(other, "gateway").post("/v1/reports", body, k2)
            check(is_error(st, b, 409, "idempotency_in_flight"),
                  "the same key in flight in another daemon is 409", (st, b))
            t.join(20)
        check(isinstance(first[0], tuple) and first[0][0] == 201,
              "and the first daemon's request completes", first[0])
        check(keyed_cases("gateway", k2) == "1", "one case for the key")
    finally:
        stop_cleanly(other)


@test
def a_submission_that_outlives_the_request_deadline_is_503_and_safe_to_retry():
    d = Daemon("deadline", request_timeout=2, retry_after=7).start()
    try:
        body = sent(example("reports.self-harm.valid.json"))
        k = key()
        with TableLock(4):
            t0 = time.monotonic()
            st, h, b = Client(d, "gateway", timeout=10).post("/v1/reports", body, k)
            took = time.monotonic() - t0
            check(is_error(st, b, 503, "unavailable") and h.get("retry-after") == "7" and took < 4,
                  "a submission still waiting for the database at the deadline is 503 with"
                  " Retry-After (%.1fs)" % took, (st, h, b))
        retries = []

        def retry():
            retries.append(Client(d, "gateway").post("/v1/reports", body, k))
            return retries[-1][0] == 201
        wait_until(retry, 10, 0.3)
        check(retries[-1][0] == 201 and set(r[0] for r in retries) <= {201, 409},
              "retries with the same key get 409 while the first is still in the database,"
              " then 201", [(r[0], r[2]) for r in retries])
        check(keyed_cases("gateway", k) == "1", "and exactly one case exists for the key")
        check(d.running() and Client(d, None).get("/healthz")[0] == 200,
              "the daemon is still serving")
    finally:
        stop_cleanly(d)


@test
def a_client_that_leaves_while_its_submission_waits_changes_nothing_for_the_daemon():
    body = example("reports.self-harm.valid.json")
    k = key()
    request = (b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Idempotency-Key: " + k.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body)
    with TableLock(1.5):
        s = tls_connect(D.port, "gateway")
        s.sendall(request)
        time.sleep(0.3)
        s.close()
    time.sleep(0.5)
    check(D.running() and Client(D, None).get("/healthz")[0] == 200,
          "the daemon survives replying to a client that has gone")
    st, h, b = Client(D, "gateway").post("/v1/reports", body, k)
    check(st == 201 and h.get("idempotent-replayed") == "true",
          "the submission was committed, and the retry replays it", (st, h, b))
    check(keyed_cases("gateway", k) == "1", "one case for the key")


# ---------------------------------------------------------------- authentication

def attempt(cert, method="GET", path="/v1/cases/2026-320102-00000001", body=None, k=None,
            daemon=None):
    try:
        c = Client(daemon or D, cert, timeout=5)
        if method == "GET":
            return c.get(path)
        return c.post(path, body, k)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return ("refused", str(e), None)


@test
def clients_are_identified_by_certificate():
    before = counts()
    st, h, b = attempt(None, "POST", "/v1/calls", example("calls.silent.valid.json"), key())
    check(is_error(st, b, 401, "certificate_required"),
          "no certificate on /v1/calls is 401 certificate_required", (st, b))
    st, h, b = attempt(None)
    check(is_error(st, b, 401, "certificate_required"), "no certificate on GET /v1/cases is 401",
          (st, b))
    r = attempt("stranger", "POST", "/v1/calls", example("calls.silent.valid.json"), key())
    check(r[0] == "refused" or r[0] in (401, 403),
          "a certificate from another CA is refused (handshake fails or 401/403)", r)
    st, h, b = attempt("unregistered", "POST", "/v1/calls", example("calls.silent.valid.json"),
                       key())
    check(is_error(st, b, 403, "client_unknown"),
          "a CA-signed but unregistered certificate is 403 client_unknown", (st, b))
    st, h, b = attempt("revoked", "POST", "/v1/calls", example("calls.silent.valid.json"), key())
    check(is_error(st, b, 403, "client_revoked"), "a revoked client is 403 client_revoked", (st, b))
    st, h, b = attempt("gateway", "POST", "/v1/calls", example("calls.silent.valid.json"), key())
    check(is_error(st, b, 403, "forbidden"), "a gateway may not log calls: 403 forbidden", (st, b))
    st, h, b = attempt("console", "POST", "/v1/reports", example("reports.self-harm.valid.json"),
                       key())
    check(is_error(st, b, 403, "forbidden"), "an operator may not file reports: 403 forbidden",
          (st, b))
    for who, path in (("admin", "/v1/reports"), ("police-320102", "/v1/reports"),
                      ("admin", "/v1/calls")):
        body = example("reports.self-harm.valid.json" if path == "/v1/reports"
                       else "calls.silent.valid.json")
        st, h, b = attempt(who, "POST", path, body, key())
        check(is_error(st, b, 403, "forbidden"), "%s may not POST %s: 403" % (who, path), (st, b))
    check(counts() == before, "refused requests store nothing", (before, counts()))


@test
def a_revocation_takes_effect_within_two_seconds():
    name = lib.make_client_cert("it-seat-" + uuid.uuid4().hex[:8])
    lib.register_client(name, "operator")
    c = Client(D, name)
    ok = wait_until(lambda: c.post("/v1/calls", example("calls.hang-up.valid.json"),
                                   key())[0] == 201, 3, 0.1)
    check(ok, "a newly registered seat can log calls within moments")
    st, h, made = c.post("/v1/calls", example("calls.case-opened.valid.json"), key())
    number = made.get("case_number") if isinstance(made, dict) else None
    psql("select hotline.client_revoke(:'a0')", name)
    t0 = time.monotonic()
    got = wait_until(lambda: Client(D, name).get("/v1/cases/%s" % number)[0] == 403, 2, 0.05)
    check(got, "after revocation its reads get 403 within 2 s (%.2fs)" % (time.monotonic() - t0))
    st, h, b = c.post("/v1/calls", example("calls.hang-up.valid.json"), key())
    check(is_error(st, b, 403, "client_revoked"),
          "even on a connection opened before the revocation: 403 client_revoked", (st, b))
    lib.register_client(name, "operator")
    got = wait_until(lambda: Client(D, name).get("/v1/cases/%s" % number)[0] == 200, 2, 0.05)
    check(got, "re-registering the certificate restores access within 2 s")


@test
def tls_sessions_are_never_resumed():
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = lib.tls_context("gateway")
        ctx.minimum_version = ctx.maximum_version = version
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", D.port), timeout=5),
                            server_hostname="localhost")
        s.sendall(b"GET /v1/cases/2026-320102-00000001 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
        session = s.session
        s.close()
        s2 = ctx.wrap_socket(socket.create_connection(("127.0.0.1", D.port), timeout=5),
                             server_hostname="localhost", session=session)
        check(not s2.session_reused, "a %s session is not resumed (every connection presents"
              " and verifies its certificate)" % version.name)
        s2.close()


@test
def an_expired_client_certificate_is_refused():
    d = os.path.join(lib.VAR, "test-pki")
    os.makedirs(d, exist_ok=True)
    name = "it-expired-" + uuid.uuid4().hex[:8]
    conf = os.path.join(d, name + ".cnf")
    base = os.path.join(d, name)
    with open(conf, "w") as f:
        f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s.idx\nnew_certs_dir=%s\nserial=%s.srl\n"
                "default_md=sha256\npolicy=p\ncopy_extensions=none\nx509_extensions=e\n"
                "[p]\ncommonName=supplied\n[e]\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=clientAuth\n" % (base, d, base))
    open(base + ".idx", "w").close()
    with open(base + ".srl", "w") as f:
        f.write("1000\n")
    lib.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", base + ".key")
    lib.openssl("req", "-new", "-key", base + ".key", "-subj", "/CN=" + name, "-out", base + ".csr")
    lib.openssl("ca", "-batch", "-config", conf, "-cert", lib.pki("ca.crt"), "-keyfile",
                lib.pki("ca.key"), "-startdate", "20200101000000Z", "-enddate",
                "20210101000000Z", "-in", base + ".csr", "-out", base + ".crt", "-notext")
    lib.register_client(name, "gateway")
    before = counts()
    r = attempt(name, "POST", "/v1/reports", example("reports.self-harm.valid.json"), key())
    check(r[0] == "refused" or r[0] in (401, 403),
          "a registered but expired certificate is refused", r)
    check(counts() == before, "and nothing is stored")


# ---------------------------------------------------------------- hostile HTTP

@test
def bodies_must_be_json_of_bounded_size():
    d = Daemon("small", max_body=4096).start()
    try:
        c = Client(d, "gateway")
        before = counts()
        big = example_json("reports.self-harm.valid.json")
        big["narrative"] = "测" * 1500      # about 5 KB: over the limit, under twice it
        st, h, b = c.post("/v1/reports", big, key())
        check(is_error(st, b, 413, "body_too_large"), "a body over max_body is 413 body_too_large",
              (st, b))
        check(h.get("connection", "").lower() == "close", "and the connection is closed", h)
        # Only the headers are sent: the announced length alone gets the answer.
        out = c.raw(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Idempotency-Key: big\r\nContent-Length: 100000\r\n\r\n")
        check(lib.status_of(out) == 413, "a body far over the limit is 413 before it is read",
              out[:200])
        check(counts() == before, "nothing is stored", (before, counts()))
        exact = example_json("reports.self-harm.valid.json")
        exact["narrative"] = ""
        size = len(json.dumps(exact, ensure_ascii=False).encode())
        exact["narrative"] = "x" * (4096 - size)
        st, h, b = c.post("/v1/reports", exact, key())
        check(st == 201, "a body of exactly max_body bytes is accepted", (st, b))
        exact["narrative"] += "x"
        st, h, b = c.post("/v1/reports", exact, key())
        check(is_error(st, b, 413, "body_too_large"), "max_body + 1 bytes is 413", (st, b))
        for ct, want in (("text/plain", 415), ("application/jsonx", 415),
                         ("application/json; charset=latin-1", 415), ("multipart/form-data", 415),
                         (None, 415), ("application/json; charset=utf-8", 201),
                         ("Application/JSON;charset=UTF-8", 201)):
            st, h, b = c.post("/v1/reports", example("reports.self-harm.valid.json"), key(),
                              headers={"Content-Type": ct})
            check(st == want and (want == 201 or error_code(b) == "unsupported_media_type"),
                  "Content-Type %r is answered %d" % (ct, want), (st, b))
    finally:
        stop_cleanly(d)


MALFORMED = [
    ("NaN", b'{"a":NaN}'), ("Infinity", b'{"a":-Infinity}'), ("leading zero", b'{"a":01}'),
    ("a bare decimal point", b'{"a":2.}'), ("trailing comma", b'{"a":1,}'),
    ("single quotes", b"{'a':1}"), ("an unquoted key", b'{a:1}'),
    ("raw control character", b'{"a":"x\x01y"}'), ("raw newline in a string", b'{"a":"x\ny"}'),
    ("invalid UTF-8", b'{"a":"\xc3\x28"}'), ("overlong UTF-8", b'{"a":"\xc0\xaf"}'),
    ("UTF-8 encoded surrogate", b'{"a":"\xed\xa0\x80"}'),
    ("lone surrogate", b'{"a":"\\ud800"}'), ("lone low surrogate", b'{"a":"\\udc00x"}'),
    ("duplicate key", b'{"a":1,"a":2}'), ("duplicate key, other escapes", b'{"a":1,"\\u0061":2}'),
    ("double overflow", b'{"a":2e400}'), ("integer overflow", b'{"a":99999999999999999999}'),
    ("deep nesting", b'{"a":' + b"[" * 40 + b"]" * 40 + b"}"), ("escaped NUL", b'{"a":"\\u0000"}'),
    ("empty body", b""), ("truncated", b'{"a":'), ("byte order mark", b'\xef\xbb\xbf{"a":1}'),
    ("trailing garbage", b'{"a":1} x'), ("two values", b'{"a":1}{"a":1}'),
    ("a raw NUL after the value", b'{"a":1}\x00'), ("bad escape", b'{"a":"\\x41"}'),
]


@test
def malformed_json_is_refused_and_changes_nothing():
    c = Client(D, "gateway")
    before = counts()
    for what, body in MALFORMED:
        c.close()       # each on its own connection: one must not affect the next
        st, h, b = c.post("/v1/reports", body, key())
        check(is_error(st, b, 400, "invalid_json"),
              "malformed JSON (%s) is 400 invalid_json" % what, (st, b))
    for what, body in (("a top-level array", b"[1,2]"), ("a top-level string", b'"x"'),
                       ("a top-level null", b"null")):
        st, h, b = c.post("/v1/reports", body, key())
        check(is_error(st, b, 400, "not_an_object"), "%s is 400 not_an_object" % what, (st, b))
    nested = b'{"a":' + b"[" * 15 + b"]" * 15 + b"}"
    st, h, b = c.post("/v1/reports", nested, key())
    check(st == 400 and error_code(b) != "invalid_json",
          "nesting of 16 levels is valid JSON (refused by the schema, not the parser)", (st, b))
    st, h, b = c.post("/v1/reports", b'{"a":' + b"[" * 16 + b"]" * 16 + b"}", key())
    check(is_error(st, b, 400, "invalid_json"), "nesting of 17 levels is 400 invalid_json", (st, b))
    report = example("reports.self-harm.valid.json").decode()
    age = re.search(r'"age": *\d+', report).group(0)
    for value, code in (("9223372036854775807", "out_of_range"), ("-9223372036854775808",
                                                                   "out_of_range"),
                        ("9223372036854775808", "invalid_json"), ("12.0", "wrong_type"),
                        ("1.2e1", "wrong_type"), ("\"12\"", "wrong_type"), ("null", "wrong_type")):
        st, h, b = c.post("/v1/reports", report.replace(age, '"age": ' + value).encode(), key())
        check(is_error(st, b, 400, code), "child.age %s is 400 %s" % (value, code), (st, b))
    check(counts() == before, "malformed bodies store nothing", (before, counts()))
    check(Client(D, None).get("/healthz")[0] == 200, "the daemon still serves")


@test
def a_nul_byte_in_one_body_does_not_poison_the_next_request_on_the_connection():
    c = Client(D, "gateway")
    st, h, b = c.post("/v1/reports", b'{"a":"x"}\x00', key())
    check(is_error(st, b, 400, "invalid_json"), "a body with a raw NUL byte is 400 invalid_json",
          (st, b))
    reused = c.conn is not None
    st, h, b = c.post("/v1/reports", sent(example("reports.self-harm.valid.json")), key())
    check(st == 201, "the next, valid request on the same keep-alive connection is stored (201)"
          " (connection %s)" % ("reused" if reused else "closed by the daemon"), (st, b))
    st, h, b = c.get("/healthz")
    check(st == 200, "and so is the one after", (st, b))


def responses(raw):
    """Split raw bytes into (status, body) of each complete HTTP response."""
    out = []
    while raw.startswith(b"HTTP/1."):
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            break
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if len(rest) < length:
            break
        out.append((lib.status_of(head), rest[:length]))
        raw = rest[length:]
    return out


def read_responses(sock, n, seconds=5):
    raw = b""
    sock.settimeout(0.5)
    end = time.monotonic() + seconds
    while len(responses(raw)) < n and time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except OSError:
            break
        if not chunk:
            break
        raw += chunk
    return responses(raw)


def raw_post(headers, body=b"{}", path=b"/v1/reports"):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + headers + b"\r\n" + body)


VALID_REPORT = example("reports.self-harm.valid.json")

# (what, request, strict): strict ones are the contract's 400 bad_request
# (or a closed connection); the others must at least not succeed.
RAW = [
    ("an absurd HTTP version", b"GET /healthz HTTP/4294967295.255\r\nHost: x\r\n\r\n", True),
    ("HTTP/2.0 on the request line", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", True),
    ("two different Content-Lengths",
     raw_post(b"Idempotency-Key: raw1\r\nContent-Length: 2\r\nContent-Length: 3\r\n"), True),
    ("two equal Content-Lengths",
     raw_post(b"Idempotency-Key: raw1\r\nContent-Length: 2\r\nContent-Length: 2\r\n"), True),
    ("Content-Length: +2", raw_post(b"Idempotency-Key: raw2\r\nContent-Length: +2\r\n"), True),
    ("Content-Length: 0x2", raw_post(b"Idempotency-Key: raw2\r\nContent-Length: 0x2\r\n"), True),
    ("Content-Length: -1", raw_post(b"Idempotency-Key: raw2\r\nContent-Length: -1\r\n"), True),
    ("Transfer-Encoding: chunked", raw_post(b"Idempotency-Key: raw3\r\nTransfer-Encoding: chunked"
                                            b"\r\n", b"2\r\n{}\r\n0\r\n\r\n"), True),
    ("a chunk size 0x2", raw_post(b"Idempotency-Key: raw3\r\nTransfer-Encoding: chunked\r\n",
                                  b"0x2\r\n{}\r\n0\r\n\r\n"), True),
    ("Transfer-Encoding: identity with a length", raw_post(
        b"Idempotency-Key: raw3\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n"), True),
    ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", True),
    ("two Host headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", True),
    ("a NUL byte in a header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
     True),
    ("an Idempotency-Key with a NUL byte in it", raw_post(
        b"Idempotency-Key: nul-" + uuid.uuid4().hex.encode() + b"\x00tail\r\n"
        b"Content-Length: %d\r\n" % len(VALID_REPORT), VALID_REPORT), True),
    ("headers over 16 KiB", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(20)) + b"\r\n", True),
    ("a lower-case method", b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ("a garbage request line", b"\x16\x03 nonsense\r\n\r\n", True),
]


def refused(out, strict):
    """No reply at all, or a well-formed 400 (strict) or 4xx/5xx reply."""
    if not out:
        return True
    pattern = rb"HTTP/1\.[01] 400 " if strict else rb"HTTP/1\.[01] [45]\d\d "
    return re.match(pattern, out) is not None


def json_error_reply(out):
    """True if a raw reply is a JSON error body with an X-Request-Id."""
    got = responses(out)
    head = out.partition(b"\r\n\r\n")[0].lower()
    try:
        return (bool(got) and b"x-request-id:" in head
                and error_code(json.loads(got[0][1])) is not None)
    except ValueError:
        return False


# Refused by evhttp's own parser before the daemon sees the request: evhttp 2.1 answers these
# with its small HTML page and closes the connection (daemon/DESIGN.md records the limit).
EVHTTP_REFUSES = {"HTTP/2.0 on the request line", "Content-Length: 0x2", "Content-Length: -1",
                  "Transfer-Encoding: identity with a length", "headers over 16 KiB",
                  "a lower-case method", "a garbage request line"}


@test
def odd_http_is_refused_and_the_daemon_keeps_serving():
    before = counts()
    not_json, not_closed = [], []
    for what, data, strict in RAW:
        out = lib.raw_tls(D.port, data, "gateway")
        check(refused(out, strict), "%s is refused (%s or connection closed)"
              % (what, "400" if strict else "4xx/5xx"), out[:300])
        head = out.partition(b"\r\n\r\n")[0].lower()
        if what in EVHTTP_REFUSES:
            if out and b"connection: close" not in head:
                not_closed.append("%s: %r" % (what, out[:60]))
        elif out and not json_error_reply(out):
            not_json.append("%s: %r" % (what, out[:60]))
        check(Client(D, None).get("/healthz")[0] == 200, "the daemon still serves after %s" % what)
    check(not not_json, "every refusal the daemon makes is a JSON error with X-Request-Id",
          "\n".join(not_json))
    check(not not_closed, "refusals by the HTTP parser itself close the connection",
          "\n".join(not_closed))
    check(counts() == before, "none of them stored anything", (before, counts()))
    out = lib.raw_tls(D.port, b"GET /healthz HTTP/1.0\r\n\r\n", "gateway")
    check(lib.status_of(out) == 200, "HTTP/1.0 without Host is served", out[:200])
    st, h, b = Client(D, "console").get("/v1/nothing-here")
    check(is_error(st, b, 404, "not_found"), "an unknown /v1/ path is 404 not_found", (st, b))
    st, h, b = Client(D, None).get("/etc/passwd")
    check(st == 404, "an unknown path outside /v1/ is 404", (st, b))
    for method, path in (("GET", "/v1/calls"), ("GET", "/v1/reports"), ("PUT", "/v1/calls"),
                         ("DELETE", "/v1/cases/2026-320102-00000001"), ("POST", "/healthz")):
        st, h, b = Client(D, "console").request(method, path)
        check(is_error(st, b, 405, "method_not_allowed"), "%s %s is 405" % (method, path), (st, b))


@test
def pipelined_requests_are_answered_in_order():
    body = example("reports.self-harm.valid.json")
    k = key()
    post = (b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Idempotency-Key: " + k.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body)
    s = tls_connect(D.port, "gateway")
    try:
        s.sendall(post + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + post)
        got = read_responses(s, 3)
    finally:
        s.close()
    st = [g[0] for g in got]
    check(st == [201, 200, 201], "a POST, a GET and the POST again on one write are answered"
          " 201, 200, 201 in order", got)
    if len(got) == 3:
        check(got[0][1] == got[2][1], "the repeated POST replays the first", got)
    check(keyed_cases("gateway", k) == "1", "one case for the key")


# ---------------------------------------------------------------- slow and greedy clients

def trickle(sock, data, interval, stop):
    """Send data one byte at a time until stopped or refused."""
    for ch in data:
        if stop.is_set():
            return
        try:
            sock.send(bytes([ch]))
        except OSError:
            return
        time.sleep(interval)


@test
def a_slowloris_is_cut_off_at_the_request_deadline_and_never_starves_others():
    d = Daemon("slowloris", request_timeout=3, handshake_timeout=2).start()
    try:
        loris = tls_connect(d.port)
        t0 = time.monotonic()
        stop = threading.Event()
        t = threading.Thread(target=trickle, daemon=True, args=(
            loris, b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 1.0, stop))
        t.start()
        time.sleep(1.2)
        s0 = time.monotonic()
        st, h, b = Client(d, "gateway").post("/v1/reports", example("reports.self-harm.valid.json"),
                                             key())
        check(st == 201 and time.monotonic() - s0 < 1.5,
              "a normal client is served promptly while a slowloris trickles (%.2fs)"
              % (time.monotonic() - s0), (st, b))
        cut = closed_within(loris, 3 + 2 + 1 - (time.monotonic() - t0))
        elapsed = time.monotonic() - t0
        stop.set()
        t.join(5)
        loris.close()
        check(cut and elapsed <= 3 + 2, "a client sending its headers one byte a second is"
              " disconnected within request_timeout + 2 s (%.1fs)" % elapsed)
        # The same for a body that trickles in.
        body = example("reports.self-harm.valid.json")
        slow = tls_connect(d.port)
        t0 = time.monotonic()
        stop = threading.Event()
        slow.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Idempotency-Key: " + key().encode() + b"\r\nContent-Length: %d\r\n\r\n"
                     % len(body))
        t = threading.Thread(target=trickle, args=(slow, body, 0.5, stop), daemon=True)
        t.start()
        cut = closed_within(slow, 6)
        elapsed = time.monotonic() - t0
        stop.set()
        t.join(5)
        slow.close()
        check(cut and elapsed <= 3 + 2, "a body trickling in is cut off at the request deadline too"
              " (%.1fs)" % elapsed)
        # And for a second request trickling in on a keep-alive connection.
        kept = tls_connect(d.port)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check([r[0] for r in read_responses(kept, 1)] == [200], "a keep-alive connection is served")
        t0 = time.monotonic()
        stop = threading.Event()
        t = threading.Thread(target=trickle, daemon=True, args=(
            kept, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 1.0, stop))
        t.start()
        cut = closed_within(kept, 3 + 2 + 1)
        elapsed = time.monotonic() - t0
        stop.set()
        t.join(5)
        kept.close()
        check(cut and elapsed <= 3 + 2, "a second request trickled on a keep-alive connection is cut"
              " off within request_timeout + 2 s of its first byte (%.1fs)" % elapsed)
    finally:
        stop_cleanly(d)


@test
def a_client_that_never_starts_tls_is_dropped_after_the_handshake_deadline():
    d = Daemon("handshake", request_timeout=3, handshake_timeout=2).start()
    try:
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        t0 = time.monotonic()
        s0 = time.monotonic()
        st = Client(d, None).get("/healthz")[0]
        check(st == 200 and time.monotonic() - s0 < 1,
              "others are served while it sits there", st)
        cut = closed_within(raw, 6)
        elapsed = time.monotonic() - t0
        raw.close()
        check(cut and 1.5 <= elapsed <= 2 + 2,
              "a TCP client that never starts TLS is dropped after handshake_timeout (%.1fs)"
              % elapsed)
        half = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        half.sendall(b"\x16\x03\x01\x00\xff\x01")   # the start of a ClientHello, then nothing
        t0 = time.monotonic()
        cut = closed_within(half, 6)
        elapsed = time.monotonic() - t0
        half.close()
        check(cut and elapsed <= 2 + 2, "a half-sent handshake is dropped too (%.1fs)" % elapsed)
    finally:
        stop_cleanly(d)


@test
def an_idle_keep_alive_connection_is_closed_after_idle_timeout():
    d = Daemon("idle", idle_timeout=2).start()
    try:
        s = tls_connect(d.port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check([r[0] for r in read_responses(s, 1)] == [200], "the connection served a request")
        t0 = time.monotonic()
        cut = closed_within(s, 8)
        elapsed = time.monotonic() - t0
        s.close()
        check(cut and 1.5 <= elapsed <= 2 + 2,
              "then, idle, it is closed after idle_timeout (%.1fs)" % elapsed)
    finally:
        stop_cleanly(d)


@test
def connections_are_capped():
    d = Daemon("capped", max_connections=8).start()
    try:
        held = [tls_connect(d.port) for _ in range(8)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(all([r[0] for r in read_responses(s, 1)] == [200] for s in held),
              "eight keep-alive connections are served")
        ninth = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        result = []

        def handshake_and_ask():
            try:
                t = lib.tls_context("gateway").wrap_socket(ninth, server_hostname="localhost")
                t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                result.append((time.monotonic(), read_responses(t, 1, 10)))
                t.close()
            except (ssl.SSLError, OSError) as e:
                result.append((time.monotonic(), e))
        t = threading.Thread(target=handshake_and_ask, daemon=True)
        t.start()
        t.join(2)
        check(not result, "a ninth connection is not served while eight are open", result)
        held[0].close()
        closed_at = time.monotonic()
        t.join(10)
        ok = result and isinstance(result[0][1], list) and [r[0] for r in result[0][1]] == [200]
        check(ok, "once one of them closes, the waiting ninth is served (%.2fs)"
              % (result[0][0] - closed_at if result else -1), result)
        for s in held[1:]:
            s.close()
        ok = wait_until(lambda: Client(d, None).get("/healthz")[0] == 200, 5, 0.2)
        check(ok, "after they all close, new connections are served")
    finally:
        stop_cleanly(d)


@test
def running_out_of_file_descriptors_pauses_accepting_and_recovers():
    d = Daemon("fdlimit").start(max_files=48)
    sockets = []
    try:
        for _ in range(60):
            sockets.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        time.sleep(1)
        check(d.running(), "the daemon survives more connections than it has descriptors",
              d.logtail())
        check("event=accept_paused" in d.logtext(), "it logs that accepting is paused",
              d.logtail())
        t, got = lib.in_background(lambda: Client(d, None, 10).get("/healthz")[0])
        for s in sockets:
            s.close()
        t.join(10)
        check(got[0] == 200, "a client waiting meanwhile is served once descriptors free up",
              got)
    finally:
        for s in sockets:
            s.close()
        stop_cleanly(d)


@test
def more_waiting_submissions_than_queue_max_get_503_at_once():
    d = Daemon("queue", queue_max=2, db_pool_size=1, retry_after=3).start()
    try:
        body = example("reports.self-harm.valid.json")
        with TableLock(2):
            posts = [post_in_background(d, "gateway", "/v1/reports", body, key()) for _ in range(8)]
            time.sleep(1)
            early = [r[0] for _, r in posts if r[0] is not None]
            for t, _ in posts:
                t.join(20)
        res = [r[0] for _, r in posts]
        statuses = sorted(r[0] if isinstance(r, tuple) else repr(r) for r in res)
        busy = [r for r in res if isinstance(r, tuple) and r[0] == 503]
        check(busy and all(error_code(r[2]) == "unavailable" and r[1].get("retry-after") == "3"
                           for r in busy),
              "submissions beyond queue_max are 503 unavailable with Retry-After", statuses)
        check(len(early) >= len(busy) and all(r[0] == 503 for r in early),
              "they are refused at once, not after the database frees up",
              [r[0] if isinstance(r, tuple) else r for r in early])
        check(set(statuses) <= {201, 503} and statuses.count(201) >= 2,
              "the queued ones complete with 201 when the database frees up", statuses)
    finally:
        stop_cleanly(d)


# ---------------------------------------------------------------- database failures

@test
def database_down_means_503_then_recovery():
    body = sent(example("reports.self-harm.valid.json"))
    k = key()
    late = None
    lib.pg_stop()
    try:
        st, h, b = Client(D, "gateway").post("/v1/reports", body, k)
        check(is_error(st, b, 503, "unavailable") and h.get("retry-after", "").isdigit(),
              "with the database down a submission is 503 unavailable with Retry-After", (st, h, b))
        st, h, b = Client(D, "gateway").get("/v1/cases/2026-320102-00000001")
        check(is_error(st, b, 503, "unavailable"), "a case read is 503 too", (st, b))
        st, h, b = Client(D, None).get("/readyz")
        check(is_error(st, b, 503, "unavailable"), "/readyz is 503 with the database down", (st, b))
        st, h, b = Client(D, None).get("/healthz")
        check(st == 200, "/healthz is still 200 (the process is alive)", (st, b))
        late = Daemon("late")
        late.start(wait_ready=False)
        st, h, b = Client(late, None).get("/readyz")
        check(st == 503, "a daemon started while the database is down runs, not ready", (st, b))
    finally:
        lib.pg_start()
    try:
        t0 = time.monotonic()
        got = wait_until(lambda: Client(D, "gateway").post("/v1/reports", body, k)[0] == 201, 15, 0.3)
        check(got, "after the database returns the same submission succeeds without a restart"
              " (%.1fs)" % (time.monotonic() - t0))
        check(Client(D, None).get("/readyz")[0] == 200, "/readyz is 200 again")
        got = wait_until(lambda: Client(late, "gateway").post(
            "/v1/reports", body, key())[0] == 201, 15, 0.3)
        check(got, "the daemon started while it was down serves too")
        check(keyed_cases("gateway", k) == "1", "one case for the retried key")
        name = lib.make_client_cert("it-after-restart-" + uuid.uuid4().hex[:8])
        lib.register_client(name, "gateway")
        got = wait_until(lambda: Client(D, name).post("/v1/reports", body, key())[0] == 201, 3, 0.1)
        check(got, "a client registered after the restart is let in within moments")
        psql("select hotline.client_revoke(:'a0')", name)
        got = wait_until(lambda: Client(D, name).get("/v1/cases/2026-320102-00000001")[0] == 403,
                         2, 0.05)
        check(got, "a revocation after the restart still takes effect within 2 s")
    finally:
        if late is not None:
            stop_cleanly(late)


@test
def submissions_during_a_database_restart_are_never_lost_or_doubled():
    body = sent(example("reports.domestic-violence-hospital.valid.json"))
    run = uuid.uuid4().hex[:8]
    outcomes = {}
    stop = threading.Event()

    def stream(n):
        c = Client(D, "gateway", timeout=10)
        i = 0
        while not stop.is_set():
            k = "dbr-%s-%d-%d" % (run, n, i)
            i += 1
            try:
                st, h, b = c.post("/v1/reports", body, k)
                outcomes[k] = (st, b.get("case_number") if isinstance(b, dict) else None)
                if st == 503:
                    time.sleep(0.1)     # a polite client backs off
            except Exception:
                outcomes[k] = (None, None)
                c.close()
                time.sleep(0.1)
    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.7)
    lib.pg_stop()
    lib.pg_start()
    time.sleep(0.7)
    stop.set()
    for t in threads:
        t.join(15)
    statuses = sorted(set(v[0] for v in outcomes.values()), key=str)
    check(set(statuses) <= {201, 503}, "every submission was answered 201 or 503 (%d sent)"
          % len(outcomes), statuses)
    acked = {k: v[1] for k, v in outcomes.items() if v[0] == 201}
    missing = not_stored_once(acked.values())
    check(not missing, "every acknowledged case is in the database once (%d acknowledged)"
          % len(acked), missing[:5])
    failed, mismatched = [], []
    c = Client(D, "gateway")
    wait_until(lambda: Client(D, None).get("/readyz")[0] == 200, 15, 0.3)
    for k in outcomes:
        st, h, b = c.post("/v1/reports", body, k)
        if st != 201:
            failed.append((k, st, b))
        elif k in acked and b.get("case_number") != acked[k]:
            mismatched.append((k, acked[k], b.get("case_number")))
    check(not failed, "every key resent afterwards gets 201", failed[:3])
    check(not mismatched, "acknowledged keys replay their case number", mismatched[:3])
    n = scalar("select count(*), count(distinct i.response->>'case_number') from"
               " hotline.idempotency i join hotline.cases c on c.case_number ="
               " i.response->>'case_number' where i.key like :'a0'", "dbr-%s-%%" % run)
    check(n == str(len(outcomes)), "one case per key (%s keys, %s cases)" % (len(outcomes), n))


@test
def nothing_acknowledged_is_lost_when_the_daemon_is_killed():
    d = Daemon("victim").start()
    body = sent(example("reports.domestic-violence-hospital.valid.json"))
    run = uuid.uuid4().hex[:8]
    outcomes = {}
    deadline = time.monotonic() + 3

    def stream(n):
        c = Client(d, "gateway", timeout=5)
        i = 0
        while time.monotonic() < deadline:
            k = "crash-%s-%d-%d" % (run, n, i)
            i += 1
            try:
                st, h, b = c.post("/v1/reports", body, k)
                outcomes[k] = (st, b.get("case_number") if isinstance(b, dict) else None)
            except Exception:
                outcomes[k] = (None, None)
                c.close()
                time.sleep(0.05)
    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    d.kill9()
    for t in threads:
        t.join(10)
    acked = {k: v[1] for k, v in outcomes.items() if v[0] == 201}
    check(len(acked) > 10 and len(acked) < len(outcomes),
          "the stream got %d acknowledgements and %d failures around the kill"
          % (len(acked), len(outcomes) - len(acked)))
    missing = not_stored_once(acked.values())
    check(not missing, "every acknowledged case is in the database after kill -9", missing[:5])
    d2 = Daemon("revived").start()
    try:
        c = Client(d2, "gateway")
        mismatched, failed = [], []
        for k in outcomes:
            st, h, b = c.post("/v1/reports", body, k)
            if st != 201:
                failed.append((k, st, b))
            elif k in acked and (b.get("case_number") != acked[k]
                                 or h.get("idempotent-replayed") != "true"):
                mismatched.append((k, acked[k], b.get("case_number")))
        check(not failed, "every key resent after the restart gets 201", failed[:3])
        check(not mismatched, "acknowledged keys replay their original case number", mismatched[:3])
        n_keys = scalar("select count(*) from hotline.idempotency where key like :'a0'",
                        "crash-%s-%%" % run)
        n_cases = scalar("select count(distinct i.response->>'case_number') from hotline.idempotency i"
                         " join hotline.cases c on c.case_number = i.response->>'case_number'"
                         " where i.key like :'a0'", "crash-%s-%%" % run)
        check(n_keys == str(len(outcomes)) and n_cases == str(len(outcomes)),
              "one case per key, no duplicates (%s keys sent, %s records, %s cases)"
              % (len(outcomes), n_keys, n_cases))
    finally:
        stop_cleanly(d2)


# ---------------------------------------------------------------- signals

@test
def sigterm_finishes_requests_in_flight():
    d = Daemon("draining").start()
    kept = tls_connect(d.port)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    read_responses(kept, 1)
    with TableLock(1.5):
        posts = [post_in_background(d, "gateway", "/v1/reports",
                                    sent(example("reports.self-harm.valid.json")), key())
                 for i in range(4)]
        time.sleep(0.5)
        d.signal(signal.SIGTERM)
        time.sleep(0.2)
        kept.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = read_responses(kept, 1)
        kept.close()
        check([r[0] for r in got] == [503], "while draining /readyz is 503", got)
        for t, _ in posts:
            t.join(20)
    try:
        code = d.proc.wait(10)
    except subprocess.TimeoutExpired:
        code = None
    res = [r[0] for _, r in posts]
    check(all(isinstance(r, tuple) and r[0] == 201 for r in res),
          "requests in flight at SIGTERM complete with 201", res)
    check(all(case_count(r[2]["case_number"]) == "1" for r in res if isinstance(r, tuple)
              and r[0] == 201), "and their cases are stored")
    check(code == 0, "the daemon exits 0 after draining", "%s\n%s" % (code, d.logtail()))
    if code is None:
        d.kill9()


def new_server_cert(dest, cn):
    """Issue a server certificate for localhost/127.0.0.1 from the deployment CA."""
    ext = dest + ".ext"
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    lib.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", dest + ".key")
    lib.openssl("req", "-new", "-key", dest + ".key", "-subj", "/CN=" + cn, "-out", dest + ".csr")
    lib.openssl("x509", "-req", "-in", dest + ".csr", "-CA", lib.pki("ca.crt"), "-CAkey",
                lib.pki("ca.key"), "-CAcreateserial", "-CAserial", dest + ".srl", "-days", "2",
                "-sha256", "-extfile", ext, "-out", dest + ".crt")


def server_cert_der(port):
    s = tls_connect(port)
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


@test
def sighup_reloads_certificates_and_keeps_serving():
    base = os.path.join(lib.VAR, "test-reload-%s" % uuid.uuid4().hex[:6])
    new_server_cert(base + "-a", "reload-a")
    crt, keyf = base + ".crt", base + ".key"
    os.replace(base + "-a.crt", crt)
    os.replace(base + "-a.key", keyf)
    d = Daemon("reload", tls_cert=crt, tls_key=keyf).start()
    try:
        old = server_cert_der(d.port)
        kept = tls_connect(d.port)
        new_server_cert(base + "-b", "reload-b")
        os.replace(base + "-b.key", keyf)
        os.replace(base + "-b.crt", crt)
        d.signal(signal.SIGHUP)
        got = wait_until(lambda: server_cert_der(d.port) != old, 5, 0.1)
        check(got, "after SIGHUP new connections get the new server certificate", d.logtail())
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check([r[0] for r in read_responses(kept, 1)] == [200],
              "a connection opened before the reload keeps working")
        kept.close()
        st, h, b = Client(d, "gateway").post("/v1/reports", example("reports.self-harm.valid.json"),
                                             key())
        check(st == 201 and d.running(), "the daemon keeps serving after SIGHUP", (st, b))
        now = server_cert_der(d.port)
        with open(crt, "w") as f:
            f.write("not a certificate\n")
        d.signal(signal.SIGHUP)
        time.sleep(0.5)
        check(d.running() and server_cert_der(d.port) == now,
              "a SIGHUP with a broken certificate file keeps the loaded one", d.logtail())
    finally:
        stop_cleanly(d)


# ---------------------------------------------------------------- routing and agency work

def file_report(name, client="gateway", daemon=None, **changes):
    body = json.loads(example(name))
    for k, v in changes.items():
        body[k] = v
    st, h, b = Client(daemon or D, client).post("/v1/reports", body, key())
    assert st == 201, (st, b)
    return b


def queue(agency, daemon=None, query=""):
    st, h, b = Client(daemon or D, agency).get("/v1/queue" + query)
    assert st == 200, (st, b)
    return b["assignments"]


def assignment_of(agency, number, daemon=None):
    """The agency's live assignment on a case, as the agency sees it (None if it has none)."""
    st, h, view = Client(daemon or D, agency).get("/v1/cases/" + number)
    if st != 200:
        return None
    mine = [a for a in view["assignments"] if a["agency"] == agency and a["state"] != "transferred"]
    return mine[0] if mine else None


def history(number):
    return [dict(zip(("seq", "kind", "clock", "agency", "assignment", "at"), r)) for r in psql(
        "select e.seq, e.kind, coalesce(e.data->>'clock', ''), coalesce(e.data->>'agency', ''),"
        " coalesce(e.data->>'assignment', ''), extract(epoch from e.at) from hotline.case_events e"
        " join hotline.cases c on c.id = e.case_id where c.case_number = :'a0' order by e.seq", number)]


class ShortDeadlines:
    """Deadlines of a few seconds for the cases created inside the block."""

    def __init__(self, ack=2, action=30):
        self.ack, self.action = ack, action

    def __enter__(self):
        self.saved = psql("select risk_level, acknowledge, first_action, resolve from hotline.deadlines")
        psql("update hotline.deadlines set acknowledge = make_interval(secs => :a0),"
             " first_action = make_interval(secs => :a1), resolve = '1 hour'", self.ack, self.action)
        return self

    def __exit__(self, *exc):
        for level, a, f, r in self.saved:
            psql("update hotline.deadlines set acknowledge = :'a0', first_action = :'a1',"
                 " resolve = :'a2' where risk_level = :a3", a, f, r, level)


@test
def reports_reach_the_agencies_that_must_act():
    b = file_report("reports.missing-immediate-danger.valid.json")
    n = b["case_number"]
    roles = {}
    for agency in ("police-320104", "procuratorate-320104", "civil_affairs-320104",
                   "education-320104", "police-320102", "health-320104"):
        a = assignment_of(agency, n)
        roles[agency] = a and a["role"]
    check(roles == {"police-320104": "primary", "procuratorate-320104": "supervise",
                    "civil_affairs-320104": "inform", "education-320104": None,
                    "police-320102": None, "health-320104": None},
          "a trafficking report reaches the child's county police, procuratorate and civil affairs",
          roles)
    a = assignment_of("police-320104", n)
    kinds = sorted(c["kind"] for c in a["clocks"])
    check(kinds == ["acknowledge", "first_action", "resolve"] and a["risk_level"] == 1,
          "the primary assignment has its own acknowledge, action and resolve clocks", a)
    check(not assignment_of("procuratorate-320104", n)["clocks"],
          "supervision and inform assignments carry no service clocks")
    st, h, view = Client(D, "police-320104").get("/v1/cases/" + n)
    check(st == 200 and len(view["assignments"]) == 3 and all(
        x["clocks"] is not None for x in view["assignments"]),
          "the case view shows every assignment, its state and each clock", view.get("assignments"))
    school = file_report("reports.sexual-abuse.valid.json")
    check(assignment_of("education-320102", school["case_number"])["role"] == "inform",
          "a report from a school informs the county education bureau")
    hosp = file_report("reports.domestic-violence-hospital.valid.json")
    check(assignment_of("health-320104", hosp["case_number"])["role"] == "inform",
          "a report from a hospital informs the county health commission")


@test
def calls_route_by_category_and_risk():
    def open_case(categories, risk, region="320102"):
        body = json.loads(example("calls.case-opened.valid.json"))
        body["open_case"]["categories"] = categories
        body["open_case"]["risk_level"] = risk
        body["open_case"]["child"]["region_code"] = region
        st, h, b = Client(D, "console").post("/v1/calls", body, key())
        assert st == 201, b
        return b["case_number"]

    def agencies(n):
        return sorted(r[0] + ":" + r[1] for r in psql(
            "select g.code, a.role from hotline.assignments a join hotline.agencies g on"
            " g.id = a.agency_id join hotline.cases c on c.id = a.case_id"
            " where c.case_number = :'a0'", n))
    n = open_case([{"category": "bullying", "subcategory": "verbal"}], 3)
    check(agencies(n) == ["education-320102:primary"], "repeated bullying goes to education only",
          agencies(n))
    n = open_case([{"category": "bullying", "subcategory": "physical"}], 2)
    check(agencies(n) == ["education-320102:primary", "police-320102:primary",
                          "procuratorate-320102:supervise"],
          "serious bullying also reaches police, with the procuratorate supervising", agencies(n))
    n = open_case([{"category": "psychological", "subcategory": "suicidal"}], 1, "320104")
    check(agencies(n) == ["health-320104:primary", "police-320104:primary"],
          "a suicide in progress reaches the crisis team and police", agencies(n))
    n = open_case([{"category": "legal", "subcategory": "rights_complaint"},
                   {"category": "psychological", "subcategory": "study_pressure"}], 4)
    check(agencies(n) == ["health-320102:primary", "legal_aid-320102:primary",
                          "procuratorate-320102:inform"],
          "a case with two categories reaches every agency each needs", agencies(n))


@test
def a_long_poll_wakes_when_work_arrives_in_another_daemon():
    other = Daemon("poller").start()
    try:
        res = [None]
        t0 = time.monotonic()

        def poll():
            try:
                res[0] = Client(other, "police-320104", timeout=30).get(
                    "/v1/queue?state=open&limit=500&wait=20")
            except Exception as e:
                res[0] = e
        # Earlier tests left open work in this queue: mark it seen, so the poll waits.
        psql("update hotline.assignments set state = 'acknowledged' where state = 'open' and"
             " agency_id = (select id from hotline.agencies where code = 'police-320104')")
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(1.0)
        check(t.is_alive(), "with nothing open the long poll waits")
        b = file_report("reports.missing-immediate-danger.valid.json")
        t.join(25)
        elapsed = time.monotonic() - t0
        got = res[0]
        ok = (not isinstance(got, Exception) and got[0] == 200 and
              any(a["case_number"] == b["case_number"] for a in got[2]["assignments"]))
        check(ok and elapsed < 10, "a report filed through one daemon wakes a long poll in another"
              " (%.1fs)" % elapsed, got)
        t0 = time.monotonic()
        # Only police prosecute: an education bureau's list of such work stays empty.
        st, h, body = Client(other, "education-320104").get("/v1/queue?state=prosecution&wait=2")
        check(st == 200 and body["assignments"] == [] and 1.5 < time.monotonic() - t0 < 5,
              "a long poll with nothing new answers an empty list when the wait ends")
        st, h, body = Client(other, "police-320102").get("/v1/queue?wait=9999")
        check(st == 400 and body["error"]["field"] == "wait", "an excessive wait is refused", body)
        st, h, body = Client(other, "police-320102").get("/v1/queue?state=lost")
        check(st == 400 and body["error"]["field"] == "state", "an unknown state is refused", body)
    finally:
        check(other.stop() == 0, "the polling daemon stops cleanly")


@test
def acknowledging_in_time_prevents_escalation():
    with ShortDeadlines(ack=3, action=4):
        b = file_report("reports.self-harm.valid.json")
    n = b["case_number"]
    a = assignment_of("health-320102", n)
    st, h, r = Client(D, "health-320102").post("/v1/assignments/%s/ack" % a["assignment_id"],
                                               None, key())
    check(st == 200 and r["state"] == "acknowledged", "the crisis team acknowledges", (st, r))
    st, h, r = Client(D, "health-320102").post("/v1/cases/%s/events" % n,
                                               {"type": "outcome", "outcome": "resolved"}, key())
    check(st == 201, "and records a first action", (st, r))
    time.sleep(5)
    kinds = [e["kind"] for e in history(n)]
    check("clock_missed" not in kinds and "escalated" not in kinds,
          "no clock fires for work done in time", kinds)


@test
def a_missed_deadline_escalates_up_the_chain_in_order():
    with ShortDeadlines(ack=2, action=30):
        b = file_report("reports.self-harm.valid.json")
        n = b["case_number"]
        filed = time.time()
        ok = wait_until(lambda: any(e["kind"] == "escalated" and e["agency"] == "procuratorate-320100"
                                    for e in history(n)), 15, 0.25)
    h = history(n)
    check(ok, "nobody acts: the case climbs to the procuratorate within seconds",
          [(e["kind"], e["clock"], e["agency"]) for e in h])
    esc = [e["agency"] for e in h if e["kind"] == "escalated"]
    check(esc == ["health-320100", "coordination-320100", "procuratorate-320100"],
          "escalation goes county -> city -> coordination office -> procuratorate", esc)
    first_warn = next((e for e in h if e["kind"] == "clock_warning"), None)
    first_miss = next((e for e in h if e["kind"] == "clock_missed"), None)
    check(first_warn and first_miss and first_warn["seq"] < first_miss["seq"],
          "a warning comes before the deadline is missed")
    check(first_miss and float(first_miss["at"]) - filed < 3.5,
          "the clock fires within about a second of its due time (%.2fs after filing, due at 2s)"
          % (float(first_miss["at"]) - filed if first_miss else -1))
    st, h2, body = Client(D, "procuratorate-320100").get("/v1/supervision/overdue")
    check(st == 200 and any(a["case_number"] == n for a in body["assignments"]),
          "the city procuratorate sees it in its overdue list", st)
    st, h2, body = Client(D, "procuratorate-320104").get("/v1/supervision/overdue")
    check(st == 200 and not any(a["case_number"] == n for a in body["assignments"]),
          "another county's procuratorate does not", st)
    st, h2, body = Client(D, "police-320102").get("/v1/supervision/overdue")
    check(st == 403, "only a procuratorate has an overdue list", (st, body))
    st, h2, view = Client(D, "health-320102").get("/v1/cases/" + n)
    orig = [a for a in view["assignments"] if a["agency"] == "health-320102"]
    check(orig and orig[0]["state"] == "open" and any(c["status"] == "missed"
                                                       for c in orig[0]["clocks"]),
          "the original assignment stays visible with its missed clock", orig)
    st, h2, r = Client(D, "procuratorate-320100").post(
        "/v1/cases/%s/events" % n, {"type": "supervision", "supervision": "procuratorial_suggestion",
                                    "text": "（测试）检察建议"}, key())
    check(st == 201, "the procuratorate records a supervision record on the case", (st, r))


@test
def escalation_survives_a_daemon_outage_and_happens_once():
    D.stop()
    x = Daemon("outage").start()
    try:
        with ShortDeadlines(ack=2, action=60):
            b = file_report("reports.self-harm.valid.json", daemon=x)
        n = b["case_number"]
        x.kill9()
        time.sleep(3.5)
        check(not any(e["kind"] == "clock_missed" for e in history(n)),
              "with no daemon running nothing fires")
        x2 = Daemon("after-outage").start()
        ok = wait_until(lambda: any(e["kind"] == "escalated" for e in history(n)), 5, 0.2)
        time.sleep(1)
        missed = [e for e in history(n) if e["kind"] == "clock_missed" and e["clock"] == "acknowledge"
                  and e["agency"] == "health-320102"]
        check(ok and len(missed) == 1, "the restarted daemon catches up, exactly once", missed)
        check(x2.stop() == 0, "the catching-up daemon stops cleanly")
    finally:
        D.start()


@test
def two_daemons_never_fire_the_same_clock_twice():
    other = Daemon("rival").start()
    try:
        with ShortDeadlines(ack=2, action=60):
            numbers = [file_report("reports.self-harm.valid.json",
                                   daemon=(D if i % 2 else other))["case_number"] for i in range(6)]
            wait_until(lambda: all(any(e["kind"] == "escalated" and e["agency"] ==
                                       "procuratorate-320100" for e in history(n))
                                   for n in numbers), 20, 0.5)
        dup = psql("select e.data->>'assignment', e.data->>'clock', count(*) from hotline.case_events e"
                   " join hotline.cases c on c.id = e.case_id where e.kind = 'clock_missed'"
                   " and c.case_number = any (string_to_array(:'a0', ','))"
                   " group by 1, 2 having count(*) > 1", ",".join(numbers))
        esc = psql("select count(*) from hotline.assignments a join hotline.cases c on c.id = a.case_id"
                   " where a.escalation_level > 0 and c.case_number = any (string_to_array(:'a0', ','))"
                   " group by a.escalated_from having count(*) > 1", ",".join(numbers))
        fired = scalar("select count(*) from hotline.case_events e join hotline.cases c on"
                       " c.id = e.case_id where e.kind = 'escalated'"
                       " and c.case_number = any (string_to_array(:'a0', ','))", ",".join(numbers))
        check(not dup and not esc and fired == str(6 * 3),
              "two daemons: every clock fired once, one escalation per step (%s escalations)" % fired,
              (dup, esc))
    finally:
        check(other.stop() == 0, "the rival daemon stops cleanly")


@test
def police_outcomes_start_the_statutory_clocks():
    b = file_report("reports.sexual-abuse.valid.json")
    n = b["case_number"]
    p = Client(D, "police-320102")

    def event(body, who=p):
        return who.post("/v1/cases/%s/events" % n, body, key())

    def clocks():
        a = assignment_of("police-320102", n) or {}
        return {c["kind"]: c["status"] for c in a.get("clocks", [])}
    st, h, r = event({"type": "outcome", "outcome": "accepted"})
    check(st == 201 and clocks().get("feedback") == "running",
          "受案 starts the 3-day feedback clock", clocks())
    due = [c for c in assignment_of("police-320102", n)["clocks"] if c["kind"] == "feedback"][0]
    days = scalar("select round(extract(epoch from (:'a0'::timestamptz - now())) / 86400)", due["due_at"])
    check(days == "3", "and it is due in three days", due)
    st, h, r = event({"type": "outcome", "outcome": "case_opened"})
    check(st == 400 and r["error"]["field"] == "police_case_number",
          "立案 needs the police case number", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "case_opened",
                      "police_case_number": "A3201020000002026110001"})
    check(st == 201, "立案 with its number is recorded", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "accepted"})
    check(st == 409 and r["error"]["code"] == "invalid_transition",
          "going back from 立案 to 受案 is refused", (st, r))
    st, h, r = event({"type": "feedback"})
    check(st == 201 and clocks().get("feedback") == "stopped",
          "feedback to the reporting unit stops the feedback clock", clocks())
    st, h, r = event({"type": "outcome", "outcome": "prosecution"})
    check(st == 201 and assignment_of("police-320102", n)["state"] == "prosecution",
          "移送审查起诉 follows 立案", (st, r))
    st, h, r = event({"type": "outcome", "outcome": "accepted"},
                     Client(D, "education-320102"))
    check(st == 403, "an informed agency cannot record outcomes", (st, r))
    b2 = file_report("reports.sexual-abuse.valid.json")
    st, h, r = Client(D, "police-320102").post("/v1/cases/%s/events" % b2["case_number"],
                                               {"type": "outcome", "outcome": "declined"}, key())
    check(st == 400 and r["error"]["field"] == "reason", "不予立案 needs a reason", (st, r))
    st, h, r = Client(D, "police-320102").post("/v1/cases/%s/events" % b2["case_number"],
                                               {"type": "outcome", "outcome": "declined",
                                                "reason": "（测试）不构成犯罪"}, key())
    row = psql("select k.kind, k.stopped_at is null from hotline.clocks k join hotline.assignments a"
               " on a.id = k.assignment_id join hotline.cases c on c.id = a.case_id"
               " where c.case_number = :'a0' and k.kind = 'decline_notice'", b2["case_number"])
    check(st == 201 and row == [["decline_notice", "t"]],
          "不予立案 starts the 3-day notice clock", (st, row))
    status = Client(D, "gateway").get("/v1/reports/%s/status" % b["receipt_id"])
    ms = [m["milestone"] for m in status[2]["milestones"]]
    check(status[0] == 200 and ms == ["received", "accepted", "case_opened", "feedback_given"],
          "the reporter's status shows the milestones in order", status)
    text = json.dumps(status[2], ensure_ascii=False)
    check(set(status[2]) == {"receipt_id", "milestones"} and "测试" not in text
          and n not in text, "and nothing of the case's content", text)
    st, h, r = Client(D, "gateway2").get("/v1/reports/%s/status" % b["receipt_id"])
    check(st == 404, "another gateway cannot read that status", (st, r))


@test
def an_assignment_can_be_transferred():
    b = file_report("reports.missing-immediate-danger.valid.json")
    n = b["case_number"]
    a = assignment_of("police-320104", n)
    c = Client(D, "police-320104")
    st, h, r = c.post("/v1/assignments/%s/transfer" % a["assignment_id"],
                      {"target_agency": "police-320102", "reason": "（测试）属地管辖"}, key())
    check(st == 201 and r["transferred"]["state"] == "transferred" and r["new"]["agency"] ==
          "police-320102" and r["new"]["state"] == "open", "the work is handed over", (st, r))
    new = assignment_of("police-320102", n)
    check(new is not None and {x["kind"] for x in new["clocks"]} >= {"acknowledge", "first_action"}
          and all(x["status"] == "running" for x in new["clocks"]),
          "the new agency gets a fresh assignment with fresh clocks", new)
    for who in ("police-320104", "police-320102"):
        st, h, v = Client(D, who).get("/v1/cases/" + n)
        check(st == 200 and any(e["kind"] == "transferred" for e in v["history"]),
              "%s sees the transfer in the history" % who, st)
    st, h, r = c.post("/v1/assignments/%s/transfer" % a["assignment_id"],
                      {"target_agency": "police-320100", "reason": "again"}, key())
    check(st == 409, "a transferred assignment cannot be transferred again", (st, r))
    st, h, r = Client(D, "police-320102").post("/v1/assignments/%s/transfer" % new["assignment_id"],
                                               {"target_agency": "nowhere", "reason": "x"}, key())
    check(st == 422 and r["error"]["code"] == "unknown_agency", "an unknown target is 422", (st, r))


@test
def nobody_sees_what_is_not_theirs():
    b = file_report("reports.sexual-abuse.valid.json")          # police-320102 primary
    n, receipt = b["case_number"], b["receipt_id"]
    own = assignment_of("police-320102", n)["assignment_id"]
    matrix = []

    def expect(who, method, path, body, want):
        c = Client(D, who)
        if method == "GET":
            st, h, r = c.get(path)
        else:
            st, h, r = c.post(path, body, key())
        matrix.append((who, method, path.split("/")[2], want, st))
        return st == want
    rows = [
        # (client, method, path, body, expected)
        ("police-320102", "GET", "/v1/cases/" + n, None, 200),
        ("police-320104", "GET", "/v1/cases/" + n, None, 404),
        ("education-320102", "GET", "/v1/cases/" + n, None, 200),
        ("education-320104", "GET", "/v1/cases/" + n, None, 404),
        ("console", "GET", "/v1/cases/" + n, None, 404),
        ("gateway2", "GET", "/v1/cases/" + n, None, 404),
        ("police-320104", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 404),
        ("console", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 403),
        ("gateway", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "x"}, 403),
        ("police-320104", "POST", "/v1/assignments/%s/ack" % own, None, 404),
        ("education-320102", "POST", "/v1/assignments/%s/ack" % own, None, 404),
        ("console", "POST", "/v1/assignments/%s/ack" % own, None, 403),
        ("police-320104", "POST", "/v1/assignments/%s/transfer" % own,
         {"target_agency": "police-320104", "reason": "x"}, 404),
        ("admin", "POST", "/v1/assignments/%s/transfer" % own,
         {"target_agency": "police-320104", "reason": "x"}, 403),
        ("console", "GET", "/v1/queue", None, 403),
        ("gateway", "GET", "/v1/queue", None, 403),
        ("police-320102", "GET", "/v1/reports/%s/status" % receipt, None, 403),
        ("gateway2", "GET", "/v1/reports/%s/status" % receipt, None, 404),
        ("gateway", "GET", "/v1/reports/%s/status" % receipt, None, 200),
        ("console", "GET", "/v1/supervision/overdue", None, 403),
        ("education-320102", "GET", "/v1/supervision/overdue", None, 403),
        ("police-320102", "POST", "/v1/cases/%s/events" % n, {"type": "note", "text": "（测试）"}, 201),
        ("police-320102", "POST", "/v1/assignments/%s/ack" % own, None, 200),
    ]
    bad = [r for r in rows if not expect(*r)]
    check(not bad, "the authorization matrix holds (%d role x endpoint x object cases)" % len(rows),
          [m for m in matrix if m[3] != m[4]])
    st, h, view = Client(D, "education-320102").get("/v1/cases/" + n)
    check(st == 200 and view["report"]["reporter"] == {"withheld": True}
          and "测试教师" not in json.dumps(view, ensure_ascii=False),
          "an informed education bureau never sees who reported", view.get("report"))
    st, h, view = Client(D, "police-320102").get("/v1/cases/" + n)
    check(st == 200 and view["report"]["reporter"]["name"].startswith("测试"),
          "the police see the reporter", st)
    st, h, view = Client(D, "procuratorate-320102").get("/v1/cases/" + n)
    check(st == 200 and view["report"]["reporter"] == {"withheld": True},
          "the supervising procuratorate sees it only after an approved access request", st)
    theirs = [a["case_number"] for a in queue("police-320104", query="?limit=500")]
    check(n not in theirs, "another county's police queue never lists the case")


# ---------------------------------------------------------------- child-data protection

CTL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "hotlinectl")


def hotlinectl(*args):
    """Run the administrator's tool against the test database; (exit, stdout+stderr)."""
    env = dict(os.environ)
    env["HOTLINED_CONF"] = os.path.join(lib.VAR, "hotlined.conf")
    out = subprocess.run([CTL] + list(args), capture_output=True, text=True, timeout=120, env=env)
    return out.returncode, out.stdout + out.stderr


def id_number(birth="20150312", region="320102"):
    """A valid resident ID number (ISO 7064 MOD 11-2) with a random sequence."""
    import random
    body = region + birth + "%03d" % random.randint(0, 999)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


def unique_report(region="320102", child=None, **changes):
    """A mandatory report with personal data unique to this call (tag)."""
    tag = uuid.uuid4().hex[:8]
    body = json.loads(example("reports.sexual-abuse.valid.json"))
    body["reporter"] = {"name": "报告人" + tag, "phone": "139" + str(int(tag, 16) % 10 ** 8).zfill(8),
                        "id_number": id_number("19800101", "110105"), "profession": "teacher"}
    body["institution"]["name"] = "学校" + tag
    body["child"] = child or {"name": "儿童" + tag, "gender": "female", "age": 9,
                              "birth_date": "2017-05-06", "id_number": id_number("20170506"),
                              "school": "学校" + tag, "address": "地址" + tag + "号",
                              "region_code": region}
    body["narrative"] = "（测试）叙述" + tag + "，学生透露被侵害。"
    body["actions_taken"] = "（测试）措施" + tag
    body.update(changes)
    return sent(body)


def post_report(body, client="gateway"):
    st, h, b = Client(D, client).post("/v1/reports", body, key())
    assert st == 201, (st, b)
    return b["case_number"]


def view(who, number):
    return Client(D, who).get("/v1/cases/" + number)


def access_log_count(number):
    return int(scalar("select count(*) from hotline.access_log l join hotline.cases c"
                      " on c.id = l.case_id where c.case_number = :'a0'", number))


@test
def personal_data_is_stored_sealed_and_a_dump_reveals_none_of_it():
    r = unique_report()
    n = post_report(r)
    call = sent(json.loads(example("calls.case-opened.valid.json")))
    tag = uuid.uuid4().hex[:8]
    call["caller_phone"] = "137" + str(int(tag, 16) % 10 ** 8).zfill(8)
    call["summary"] = "（测试）来电摘要" + tag
    call["open_case"]["child"].update(name="来电儿童" + tag, id_number=id_number("20150312"),
                                      address="来电地址" + tag)
    call["open_case"]["narrative"] = "（测试）来电叙述" + tag
    st, h, b = Client(D, "console").post("/v1/calls", call, key())
    check(st == 201, "a call with personal data is accepted", (st, b))
    st, h, b = Client(D, "police-320102").post("/v1/cases/%s/events" % n,
                                               sent({"type": "note", "text": "（测试）笔记" + tag}),
                                               key())
    check(st == 201, "the police add a note", (st, b))
    rows = psql("select get_byte(c.narrative, 0), get_byte(h.name, 0), get_byte(r.reporter_name, 0),"
                " octet_length(c.dek_wrapped), c.dek_kid from hotline.cases c"
                " join hotline.children h on h.case_id = c.id join hotline.reports r on"
                " r.case_id = c.id where c.case_number = :'a0'", n)
    check(rows and rows[0][:4] == ["1", "1", "1", "60"] and rows[0][4],
          "narrative, child and reporter are stored as version-1 ciphertexts with a wrapped"
          " 60-byte data key and its key id", rows)
    values = set(lib.personal_values(r)) | lib.personal_values(call) | {"（测试）笔记" + tag}
    dump = subprocess.run(["pg_dump", "--data-only", "-n", "hotline"], capture_output=True,
                          timeout=120)
    check(dump.returncode == 0 and len(dump.stdout) > 10000, "pg_dump of the populated database"
          " runs (%d bytes)" % len(dump.stdout), dump.stderr[-500:])
    text = dump.stdout.decode("utf-8", "replace")
    found = [v for v in values if v in text or v[:10] in text]
    check(len(values) >= 15 and not found, "the dump contains none of the %d names, phone numbers,"
          " ID numbers, addresses, schools and texts sent" % len(values), found)
    import hashlib
    sent_bytes = json.dumps(r, ensure_ascii=False).encode()     # as Client sends it
    stored = scalar("select encode(i.request_hash, 'hex') from hotline.idempotency i"
                    " where i.response->>'case_number' = :'a0'", n)
    plain = {hashlib.sha256(p + sent_bytes).hexdigest() for p in (b"reports\n", b"reports\n\n")}
    check(stored is not None and len(stored) == 64 and stored not in plain,
          "the report's idempotency hash is keyed, not a plain SHA-256 of what was sent", stored)


@test
def each_viewer_sees_what_its_role_allows():
    r = unique_report()
    n = post_report(r)
    name, reporter, narrative = r["child"]["name"], r["reporter"]["name"], r["narrative"]
    # (client, status, access, child name, narrative, reporter visible)
    matrix = [
        ("admin", 200, "full", True, True, True),
        ("police-320102", 200, "full", True, True, True),               # primary
        ("procuratorate-320102", 200, "redacted", False, False, False),  # supervise
        ("education-320102", 200, "redacted", False, False, False),      # inform
        ("gateway", 200, "full", True, True, False),                     # filed it
        ("gateway2", 404, None, False, False, False),
        ("police-320104", 404, None, False, False, False),
        ("console", 404, None, False, False, False),
    ]
    bad = []
    for who, want, access, see_child, see_text, see_reporter in matrix:
        st, h, v = view(who, n)
        text = json.dumps(v, ensure_ascii=False)
        got = (st, v.get("access") if st == 200 else None, name in text, narrative in text,
               reporter in text)
        if got != (want, access, see_child, see_text, see_reporter):
            bad.append((who, got))
        if st == 200 and not see_reporter and v["report"]["reporter"] != {"withheld": True}:
            bad.append((who, "reporter marker", v["report"]["reporter"]))
        if st == 200 and access == "redacted" and (v["narrative"] != {"withheld": True}
                                                   or not v["child"].get("withheld")):
            bad.append((who, "redaction markers"))
        if st == 200 and see_child and (v["child"]["id_number"] != r["child"]["id_number"]
                                        or v["child"]["address"] != r["child"]["address"]):
            bad.append((who, "child fields differ from what was sent"))
    check(not bad, "the visibility matrix holds: admin and primary police see all; inform and"
          " supervise agencies get a redacted case; the filing gateway never sees the reporter;"
          " others get 404 (%d viewers)" % len(matrix), bad)
    st, h, v = view("procuratorate-320102", n)
    check(st == 200 and v["categories"] and v["history"] and v["assignments"]
          and v["risk_level"] and v["region_code"] == "320102",
          "a redacted case still shows categories, risk, region, status and timeline")


@test
def every_read_of_personal_data_is_logged_with_its_basis():
    n = post_report(unique_report())
    before = access_log_count(n)
    view("police-320102", n)
    view("education-320102", n)          # redacted: nothing personal read
    view("admin", n)
    view("police-320104", n)             # 404
    check(access_log_count(n) == before + 2, "a full view writes one access-log row, a redacted"
          " or refused one none", (before, access_log_count(n)))
    st, h, b = Client(D, "admin").get("/v1/cases/%s/access-log" % n)
    reads = b.get("reads", []) if st == 200 else []
    check(st == 200 and [(x["client"], x["basis"], x["reporter"]) for x in reads[-2:]]
          == [("police-320102", "primary", True), ("admin", "admin", True)],
          "admins list who read the case, when and on what basis", b)
    st, h, b = Client(D, "police-320102").get("/v1/cases/%s/access-log" % n)
    check(is_error(st, b, 403, "forbidden"), "nobody else reads the access log", (st, b))
    code, out = hotlinectl("access-log", n)
    check(code == 0 and "police-320102" in out and "primary" in out and "2 reads of " + n in out,
          "hotlinectl access-log lists the same reads", out[-600:])
    out = psql("select count(*) from hotline.access_log")
    try:
        psql("delete from hotline.access_log")
        deleted = True
    except AssertionError:
        deleted = False
    check(not deleted and psql("select count(*) from hotline.access_log") == out,
          "the access log refuses deletion, even by the database superuser")


@test
def an_access_request_must_be_approved_and_expires():
    r = unique_report()
    n = post_report(r)
    edu = Client(D, "education-320102")
    st, h, b = edu.post("/v1/cases/%s/access-requests" % n, {"purpose": "核实学校安全措施", "hours": 2},
                        key())
    check(st == 201 and b["access_request"]["state"] == "pending", "an inform agency asks for"
          " access, stating a purpose", (st, b))
    rid = b["access_request"]["access_request_id"]
    st, h, v = edu.get("/v1/cases/" + n)
    check(v["access"] == "redacted", "until it is approved the case stays redacted")
    st, h, b = edu.post("/v1/access-requests/%s/approve" % rid, None, key())
    check(is_error(st, b, 403, "forbidden"), "a clerk cannot approve it", (st, b))
    st, h, b = Client(D, "police-320102-approver").post("/v1/access-requests/%s/approve" % rid,
                                                        None, key())
    check(is_error(st, b, 404, "not_found"), "another agency's approver cannot see it", (st, b))
    st, h, b = Client(D, "education-320102-approver").get("/v1/access-requests?state=pending")
    check(st == 200 and rid in [x["access_request_id"] for x in b["access_requests"]],
          "the agency's approver finds it among pending requests", b)
    st, h, b = Client(D, "education-320102-approver").post(
        "/v1/access-requests/%s/approve" % rid, None, key())
    check(st == 200 and b["access_request"]["state"] == "approved"
          and b["access_request"]["valid_until"], "the agency's approver approves it", (st, b))
    st, h, b2 = Client(D, "education-320102-approver").post(
        "/v1/access-requests/%s/deny" % rid, None, key())
    check(is_error(st, b2, 409, "invalid_transition"), "a decided request cannot be decided again")
    st, h, v = edu.get("/v1/cases/" + n)
    text = json.dumps(v, ensure_ascii=False)
    check(v["access"] == "full" and v["child"]["name"] == r["child"]["name"]
          and v["report"]["reporter"] == {"withheld": True} and r["reporter"]["name"] not in text,
          "with approval the clerk sees the child's data, never the reporter", v.get("report"))
    kinds = [e["kind"] for e in v["history"]]
    check("access_requested" in kinds and "access_approved" in kinds,
          "the request and its approval are in the case history", kinds)
    st, h, b = Client(D, "admin").get("/v1/cases/%s/access-log" % n)
    mine = [x for x in b["reads"] if x["client"] == "education-320102"]
    check(mine and mine[-1]["basis"] == "access_request" and mine[-1]["purpose"] == "核实学校安全措施",
          "the access log records the request and its purpose", mine)
    psql("update hotline.access_requests set valid_until = now() - interval '1 second'"
         " where request_id = :'a0'", rid)
    st, h, v = edu.get("/v1/cases/" + n)
    check(v["access"] == "redacted" and r["child"]["name"] not in json.dumps(v, ensure_ascii=False),
          "once it expires the case is redacted again")
    st, h, b = edu.get("/v1/access-requests?state=expired")
    check(st == 200 and rid in [x["access_request_id"] for x in b["access_requests"]],
          "and the request is listed as expired")
    proc = Client(D, "procuratorate-320102")
    st, h, b = proc.post("/v1/cases/%s/access-requests" % n, {"purpose": "立案监督审查"}, key())
    rid2 = b["access_request"]["access_request_id"]
    st, h, b = Client(D, "admin").post("/v1/access-requests/%s/approve" % rid2, None, key())
    st, h, v = proc.get("/v1/cases/" + n)
    check(v["access"] == "full" and v["report"]["reporter"].get("name") == r["reporter"]["name"],
          "an approved procuratorate sees the reporter (an admin approved)", v.get("report"))
    st, h, b = Client(D, "police-320102").post("/v1/cases/%s/access-requests" % n,
                                               {"purpose": "x"}, key())
    check(is_error(st, b, 409, "access_not_needed"), "the primary assignee needs no request")
    st, h, b = Client(D, "police-320104").post("/v1/cases/%s/access-requests" % n,
                                               {"purpose": "x"}, key())
    check(is_error(st, b, 404, "not_found"), "an agency without an assignment cannot even ask")
    st, h, b = edu.post("/v1/cases/%s/access-requests" % n, {"purpose": "x", "hours": 1000}, key())
    check(st == 400 and error_code(b) == "out_of_range", "hours are bounded", (st, b))
    st, h, b = edu.post("/v1/cases/%s/access-requests" % n, {"hours": 1}, key())
    check(is_error(st, b, 400, "missing_field") and b["error"]["field"] == "purpose",
          "a purpose is required", (st, b))


@test
def notes_are_sealed_and_shown_only_to_those_who_may_see_them():
    n = post_report(unique_report())
    text = "（测试）警方笔记" + uuid.uuid4().hex[:8]
    st, h, b = Client(D, "police-320102").post("/v1/cases/%s/events" % n,
                                               sent({"type": "note", "text": text}), key())
    check(st == 201, "the police post a note", (st, b))
    raw = scalar("select encode(n.text, 'escape') from hotline.case_notes n join hotline.cases c"
                 " on c.id = n.case_id where c.case_number = :'a0'", n)
    check(raw is not None and text not in raw, "the note is stored sealed")
    st, h, v = view("police-320102", n)
    notes = [e.get("note") for e in v["history"] if e["kind"] == "note"]
    check(notes == [text], "the police read it back", notes)
    st, h, v = view("education-320102", n)
    notes = [e.get("note") for e in v["history"] if e["kind"] == "note"]
    check(notes == [{"withheld": True}], "an informed agency sees that a note exists, not its text",
          notes)


@test
def changed_moved_or_foreign_ciphertexts_fail_cleanly():
    a, b = post_report(unique_report()), post_report(unique_report())
    psql("update hotline.children h set name = overlay(name placing '\\xff'::bytea from 20 for 1)"
         " from hotline.cases c where c.id = h.case_id and c.case_number = :'a0'", a)
    st, h, v = view("police-320102", a)
    check(st == 200 and v["child"]["name"] == {"unreadable": True}
          and isinstance(v["child"]["school"], str), "a changed byte makes that field unreadable,"
          " the rest still opens", v.get("child"))
    psql("update hotline.children h set school = h.address, address = h.school"
         " from hotline.cases c where c.id = h.case_id and c.case_number = :'a0'", a)
    st, h, v = view("police-320102", a)
    check(v["child"]["school"] == {"unreadable": True} and v["child"]["address"] == {
        "unreadable": True}, "values swapped between fields do not open")
    psql("update hotline.cases set narrative = (select narrative from hotline.cases"
         " where case_number = :'a1') where case_number = :'a0'", a, b)
    st, h, v = view("police-320102", a)
    check(v["narrative"] == {"unreadable": True}, "a value moved from another case does not open")
    kid = scalar("select dek_kid from hotline.cases where case_number = :'a0'", b)
    psql("update hotline.cases set dek_kid = 'k-nonexistent' where case_number = :'a0'", b)
    st, h, v = view("police-320102", b)
    psql("update hotline.cases set dek_kid = :'a1' where case_number = :'a0'", b, kid)
    check(st == 200 and v["narrative"] == {"unreadable": True} and v["child"]["name"] == {
        "unreadable": True}, "a wrong master key id leaves every field unreadable, with 200")
    log = D.logtext()
    check("event=unseal_failed field=child.name" in log and "event=unwrap_failed" in log,
          "the daemon logs which field failed, never its content")


@test
def a_call_and_a_report_about_the_same_child_are_linked():
    ident = id_number("20140707")
    tag = uuid.uuid4().hex[:6]
    call = sent(json.loads(example("calls.case-opened.valid.json")))
    call["open_case"]["child"].update(name="同一儿童" + tag, birth_date="2014-07-07",
                                      id_number=ident)
    st, h, b = Client(D, "console").post("/v1/calls", call, key())
    first = b["case_number"]
    # The report gives the ID number with a lower-case x where it has one,
    # and the name with spaces: both are normalised before hashing.
    child = {"name": " 同一 儿童" + tag, "gender": "female", "age": 12, "birth_date": "2014-07-07",
             "region_code": "320102"}
    second = post_report(unique_report(child=child))
    third = post_report(unique_report())
    st, h, v = view("admin", second)
    related = {x["case_number"]: x["matched"] for x in v.get("related_cases", [])}
    check(first in related and related[first] == ["name_birth"] and third not in related,
          "a report about a child known from a call lists the call's case (name and birth date)",
          related)
    child2 = {"name": "别名" + tag, "gender": "female", "age": 12, "id_number": ident,
              "region_code": "320102"}
    fourth = post_report(unique_report(child=child2))
    st, h, v = view("admin", fourth)
    related = {x["case_number"]: x["matched"] for x in v.get("related_cases", [])}
    check(first in related and related[first] == ["id"], "so does one with the same ID number",
          related)
    st, h, v = view("education-320102", fourth)
    check("related_cases" not in v, "a redacted view shows no related cases")
    phone = "136" + str(int(tag, 16) % 10 ** 8).zfill(8)
    c1 = sent(dict(json.loads(example("calls.counselled-study-pressure.valid.json")),
                   caller_phone=phone))
    st, h, b1 = Client(D, "console").post("/v1/calls", c1, key())
    c2 = sent(dict(c1, caller_phone="+86" + phone))
    st, h, b2 = Client(D, "console2").post("/v1/calls", c2, key())
    check("earlier_calls" not in b1 and b2.get("earlier_calls", {}).get("count") == 1,
          "a repeat caller's earlier call is found, whatever the number's format", (b1, b2))


@test
def hotlinectl_audit_verify_names_the_first_broken_link():
    code, out = hotlinectl("audit", "verify")
    check(code == 0 and "every chain intact" in out, "audit verify passes on an untouched"
          " history", out[-500:])
    cases = [post_report(unique_report()) for _ in range(4)]
    for n in cases:
        Client(D, "police-320102").post("/v1/cases/%s/events" % n, {"type": "note", "text": "x"},
                                        key())
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
def rotating_the_master_key_rewraps_data_keys_and_nothing_else():
    r = unique_report()
    n = post_report(r)
    before = psql("select md5(narrative::bytea), dek_kid from hotline.cases where case_number = :'a0'",
                  n)[0]
    intake_only = Daemon("intake-only").start()     # takes submissions, never reads a case
    Client(intake_only, "gateway").post("/v1/reports", unique_report(), key())
    code, out = hotlinectl("keys", "rotate")
    check(code == 0 and "rewrapped" in out, "hotlinectl keys rotate adds a key and rewraps", out)
    kids = psql("set hotline.scope = 'system'; select kid, keys from hotline.data_key_counts()")
    after = psql("select md5(narrative::bytea), dek_kid from hotline.cases where case_number = :'a0'",
                 n)[0]
    check(len(kids) == 1 and after[0] == before[0] and after[1] != before[1],
          "every data key is now under the new master key; ciphertexts are untouched", (kids,
                                                                                       before, after))
    st, h, v = view("police-320102", n)
    check(st == 200 and v["narrative"] == r["narrative"], "the running daemon opens the case"
          " with the new key without a restart")
    n2 = post_report(unique_report())
    check(scalar("select dek_kid from hotline.cases where case_number = :'a0'", n2) == after[1],
          "new cases are wrapped under the new key")
    time.sleep(1.2)
    st, h, b = Client(intake_only, "gateway").post("/v1/reports", unique_report(), key())
    check(st == 201 and scalar("select dek_kid from hotline.cases where case_number = :'a0'",
                               b.get("case_number")) == after[1],
          "a daemon that only takes submissions notices the new key file and wraps under it",
          (st, b))
    stop_cleanly(intake_only)
    code, out = hotlinectl("keys", "retire", before[1])
    with open(lib.base_settings()["master_key"]) as f:
        keyfile = f.read()
    check(code == 0 and before[1] not in keyfile, "the old key, no longer used, is retired", out)
    code, out = hotlinectl("keys", "list")
    check(code == 0 and after[1] in out, "keys list shows the current key", out)


@test
def purging_a_case_shreds_its_key_and_keeps_the_statistics():
    r = unique_report()
    n = post_report(r)
    code, out = hotlinectl("purge", "--case", n)
    check(code == 0, "hotlinectl purge --case purges one case", out)
    row = psql("select dek_wrapped is null, narrative is null, purged_at is not null,"
               " (select count(*) from hotline.case_categories k where k.case_id = c.id),"
               " (select count(*) from hotline.assignments a where a.case_id = c.id)"
               " from hotline.cases c where case_number = :'a0'", n)[0]
    check(row[:3] == ["t", "t", "t"] and int(row[3]) > 0 and int(row[4]) > 0,
          "its data key and ciphertexts are gone; categories and assignments stay", row)
    before = access_log_count(n)
    st, h, v = view("police-320102", n)
    text = json.dumps(v, ensure_ascii=False)
    check(st == 200 and v["access"] == "purged" and v["narrative"] == {"purged": True}
          and r["child"]["name"] not in text and access_log_count(n) == before,
          "the case view says purged, shows nothing personal, and logs no read", v.get("child"))
    check("purged" in [e["kind"] for e in v["history"]], "the purge is in the case history")
    st, h, b = Client(D, "police-320102").post("/v1/cases/%s/events" % n,
                                               {"type": "note", "text": "（测试）"}, key())
    check(is_error(st, b, 409, "case_purged"), "a note can no longer be added", (st, b))
    code, out = hotlinectl("purge", "--case", "2026-320102-99999999")
    check(code == 1 and "no such case" in out, "an unknown case is an error", out)


@test
def retention_purges_old_calls_and_closed_cases_after_a_dry_run():
    c = sent(dict(json.loads(example("calls.counselled-study-pressure.valid.json")),
                  caller_phone="135" + str(uuid.uuid4().int % 10 ** 8).zfill(8)))
    st, h, b = Client(D, "console").post("/v1/calls", c, key())
    call_id = b["call_id"]
    psql("update hotline.calls set started_at = started_at - interval '40 days',"
         " ended_at = ended_at - interval '40 days' where call_id = :'a0'", call_id)
    n = post_report(unique_report())
    psql("update hotline.cases set status = 'closed', closed_at = now() - interval '11 years'"
         " where case_number = :'a0'", n)
    fresh = post_report(unique_report())
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


# ---------------------------------------------------------------- logs

def personal_data_sent():
    """Every name, phone, ID number and free text the suite sent."""
    values = set()
    for name in lib.example_names():
        try:
            values |= lib.personal_values(example_json(name))
        except ValueError:
            pass
    for body in SENT:
        try:
            values |= lib.personal_values(json.loads(body) if isinstance(body, (bytes, str))
                                          else body)
        except ValueError:
            pass
    return values


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


@test
def the_version_names_the_release_and_the_newest_migration():
    release = subprocess.run([lib.BINARY, "-V"], capture_output=True, text=True,
                             timeout=10).stdout.split()[-1]
    newest = sorted(os.path.basename(f)[:-len(".sql")]
                    for f in glob.glob(os.path.join(lib.ROOT, "sql", "[0-9][0-9][0-9]_*.sql")))[-1]
    want = {"release": release, "schema": newest}
    got = {who: Client(D, who).get("/v1/version") for who in
           ("console", "gateway", "police-320102", "admin")}
    check(all(st == 200 and b == want for st, h, b in got.values()),
          "every client role gets the release (hotlined -V) and the newest migration (%s)"
          % newest, {who: (st, b) for who, (st, h, b) in got.items()})
    check(scalar("select max(version) from hotline.schema_migrations") == newest,
          "which is the one the migration runner recorded last")
    try:
        errs = list(schema_validator("version.response.schema.json").iter_errors(
            got["console"][2]))
    except ImportError as e:
        errs = [e]
    check(not errs, "the answer conforms to version.response", errs[:3])
    st, h, b = Client(D, None).get("/v1/version")
    check(is_error(st, b, 401, "certificate_required"), "without a certificate it is 401", (st, b))
    st, h, b = Client(D, "console").request("POST", "/v1/version", body={})
    check(is_error(st, b, 405, "method_not_allowed") and h.get("allow") == "GET, HEAD",
          "POST is 405 with Allow: GET, HEAD", (st, h.get("allow"), b))


# ---------------------------------------------------------------- the runner

def run_bounded(fn):
    """Run one test under TEST_LIMIT; False if it overran (the run is abandoned)."""
    t = threading.Thread(target=_run_test, args=(fn,), daemon=True)
    t0 = time.monotonic()
    t.start()
    t.join(TEST_LIMIT)
    if t.is_alive():
        frame = sys._current_frames().get(t.ident)
        check(False, "%s finished within %d s" % (fn.__name__, TEST_LIMIT),
              "".join(traceback.format_stack(frame)[-6:]) if frame else "")
        return False
    print("# %s: %.1fs" % (fn.__name__, time.monotonic() - t0))
    return True


def _run_test(fn):
    try:
        fn()
    except Exception:
        check(False, fn.__name__ + " ran to completion", traceback.format_exc())


def check_sanitizers():
    for d in lib.daemons:
        if d.proc is None:
            continue
        bad = d.sanitizer_reports()
        check(not bad, "%r exited without sanitizer reports" % d, "\n".join(bad[:10]))


def main():
    global D
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--var", required=True)
    ap.add_argument("--sanitizers", action="store_true")
    ap.add_argument("-k", default="", help="run only the tests whose name contains this"
                    " (or one of these, comma-separated)")
    args = ap.parse_args()
    # Killed from outside: leave no daemon behind (see the finally in __main__).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lib.setup(args.var, args.binary, args.sanitizers)
    t0 = time.monotonic()
    D = Daemon("main")
    try:
        D.start()
    except Exception as e:
        check(False, "the main daemon starts", e)
        lib.kill_leftovers()
        return 1
    completed = True
    for fn in TESTS:
        if args.k and not any(k in fn.__name__ for k in args.k.split(",")):
            continue
        print("# " + fn.__name__.replace("_", " "))
        sys.stdout.flush()
        if not run_bounded(fn):
            completed = False
            break
    if not completed:
        try:
            lib.pg_start()
        except Exception:
            pass
    stop_cleanly(D)
    for d in lib.daemons:
        if d.running():
            check(False, "%r was stopped by its test" % d)
            d.stop()
    if args.sanitizers:
        check_sanitizers()
    print("# %d passed, %d failed in %.0fs" % (RESULTS["passed"], RESULTS["failed"],
                                              time.monotonic() - t0))
    sys.stdout.flush()
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        lib.kill_leftovers()
    sys.stdout.flush()
    os._exit(code)      # threads of an abandoned test must not keep the run alive
