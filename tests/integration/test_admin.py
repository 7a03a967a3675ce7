"""Administration of clients with hotlinectl: a certificate registered with
`clients add` is let in with its role's rights within moments, listed with
its fingerprint, and refused once revoked (the daemons' identity caches
reload on NOTIFY); bad registrations are refused with a clear message and
change nothing.  And the compose set-up's registration
(contrib/compose/clients.sh), run here against a fresh database, registers
the development PKI once however often it runs (test_packaging checks the
compose file itself)."""

import os
import re
import subprocess
import uuid

from . import lib
from .lib import (Client, attempt, check, example, fingerprint, hotlinectl, is_error, new_key,
                  pki, psql, test, wait_until)


def listed(name):
    """The row of `hotlinectl clients list` for a client, as its fields (None if absent)."""
    code, out = hotlinectl("clients", "list")
    assert code == 0, out
    rows = [line.split() for line in out.splitlines()]
    mine = [r for r in rows if r and r[0] == name]
    return mine[0] if mine else None


def refused_as(daemon, name, code):
    """Whether the daemon answers a report from this client with 403 and the error code."""
    st, h, b = attempt(daemon, name, "POST", "/v1/reports", example("reports.self-harm.valid.json"))
    return is_error(st, b, 403, code)


def roster():
    """Every client as the database holds it, to compare before and after."""
    return psql("select name, role, coalesce(agency_id::text, ''), approver, cert_sha256,"
                " coalesce(revoked_at::text, '') from hotline.clients order by name")


@test
def a_client_added_with_hotlinectl_is_let_in_listed_and_revoked(daemon):
    name = lib.make_client_cert("adm-gw-" + uuid.uuid4().hex[:8])
    fpr = fingerprint(pki(name + ".crt"))
    check(refused_as(daemon, name, "client_unknown"), "before it is added: 403 client_unknown")
    code, out = hotlinectl("clients", "add", name, "gateway", pki(name + ".crt"))
    check(code == 0 and fpr in out, "hotlinectl clients add registers it, printing the fingerprint"
          " it computed from the PEM", out)
    c = Client(daemon, name)
    ok = wait_until(lambda: c.post("/v1/reports", example("reports.self-harm.valid.json"),
                                   new_key())[0] == 201, 3, 0.1)
    check(ok, "within moments the new gateway's report is 201")
    check(listed(name) == [name, "gateway", "-", "-", "-", fpr, "-"],
          "clients list shows it: role, no agency, no centre, not an approver, its fingerprint,"
          " not revoked", listed(name))
    code, out = hotlinectl("clients", "revoke", name)
    check(code == 0 and name in out, "hotlinectl clients revoke revokes it", out)
    got = wait_until(lambda: refused_as(daemon, name, "client_revoked"), 2, 0.05)
    check(got, "within 2 s the daemon refuses it: 403 client_revoked")
    st, h, b = c.post("/v1/reports", example("reports.self-harm.valid.json"), new_key())
    check(is_error(st, b, 403, "client_revoked"),
          "on the connection it opened before, too", (st, b))
    row = listed(name)
    check(row is not None and lib.TIMESTAMP.match(row[6]) is not None,
          "clients list shows when it was revoked", row)


@test
def an_approver_added_with_hotlinectl_works_its_agencys_queue(daemon):
    name = lib.make_client_cert("adm-edu-" + uuid.uuid4().hex[:8])
    code, out = hotlinectl("clients", "add", "--approver", name, "agency", "education-320102",
                           pki(name + ".crt"))
    check(code == 0, "hotlinectl clients add --approver registers an agency's approver", out)
    c = Client(daemon, name)
    ok = wait_until(lambda: c.get("/v1/queue")[0] == 200, 3, 0.1)
    check(ok, "within moments it reads its agency's queue (200)")
    check(listed(name) == [name, "agency", "education-320102", "-", "yes",
                           fingerprint(pki(name + ".crt")), "-"],
          "clients list shows its agency and that it approves", listed(name))
    check(psql("select c.approver, a.code from hotline.clients c join hotline.agencies a"
               " on a.id = c.agency_id where c.name = :'a0'", name) == [["t", "education-320102"]],
          "the clients table holds it as its agency's approver")
    code, out = hotlinectl("clients", "revoke", name)
    check(code == 0, "and it can be revoked", out)


@test
def a_seat_added_with_its_centre_works_that_centres_cases(daemon):
    name = lib.make_client_cert("adm-seat-" + uuid.uuid4().hex[:8])
    fpr = fingerprint(pki(name + ".crt"))
    code, out = hotlinectl("clients", "add", name, "operator", "--centre", "320100",
                           pki(name + ".crt"))
    check(code == 0 and "centre 320100" in out and fpr in out,
          "hotlinectl clients add NAME operator --centre REGION registers a seat of the centre",
          out)
    check(listed(name) == [name, "operator", "-", "320100", "-", fpr, "-"],
          "clients list shows its centre", listed(name))
    number = lib.log_call(daemon)["case_number"]       # opened by console, of centre 320100
    c = Client(daemon, name)
    ok = wait_until(lambda: c.get("/v1/cases/" + number)[0] == 200, 3, 0.1)
    check(ok, "within moments the new seat reads a case another seat of its centre opened")
    check(listed("console")[3] == "320100" and listed("console-b")[3] == "320500",
          "the demo's seats are listed with their centres (320100, and 320500 for console-b)",
          (listed("console"), listed("console-b")))
    code, out = hotlinectl("clients", "revoke", name)
    check(code == 0, "and the seat can be revoked", out)


@test
def bad_registrations_are_refused_with_a_clear_message_and_change_nothing(daemon):
    fresh = lib.make_client_cert("adm-bad-" + uuid.uuid4().hex[:8])
    expired = lib.make_expired_client_cert("adm-old-" + uuid.uuid4().hex[:8])
    crt = pki(fresh + ".crt")
    before = roster()
    cases = [
        (("clients", "add", "x-" + fresh, "root", crt), 2, 'no role "root"',
         "an unknown role"),
        (("clients", "add", "x-" + fresh, "agency", crt), 2, "role agency needs the agency's code",
         "role agency without its agency"),
        (("clients", "add", "x-" + fresh, "gateway", "police-320102", crt), 2,
         "role gateway belongs to no agency", "a gateway with an agency"),
        (("clients", "add", "--approver", "x-" + fresh, "operator", crt), 2,
         "no option --approver here", "an operator as an approver"),
        (("clients", "add", "x-" + fresh, "operator", crt), 2,
         "an operator seat belongs to a hotline centre", "an operator without its centre"),
        (("clients", "add", "x-" + fresh, "admin", "--centre", "320100", crt), 2,
         "only an operator seat belongs to a centre", "an admin with a centre"),
        (("clients", "add", "x-" + fresh, "gateway", pki(fresh + ".key")), 2,
         "not a certificate", "a private key for a certificate"),
        (("clients", "add", "x-" + fresh, "gateway", pki("ca.crt")), 2,
         "a CA's certificate, not a client's", "the CA's certificate"),
        (("clients", "add", "x-" + fresh, "gateway", pki(expired + ".crt")), 2,
         "the certificate has expired", "an expired certificate"),
        (("clients", "add", "console", "operator", "--centre", "320100", crt), 1,
         "a client named console exists", "a name already registered"),
        (("clients", "add", "revoked", "operator", "--centre", "320100", crt), 1,
         "a client named revoked exists", "the name of a revoked client"),
        (("clients", "add", "x-" + fresh, "operator", "--centre", "320100",
          pki("console.crt")), 1, "this certificate is registered to another client",
         "a certificate registered to another client"),
        (("clients", "add", "x-" + fresh, "operator", "--centre", "999900", crt), 1,
         'no region has the code "999900"', "a centre that is no region"),
        (("clients", "add", "x-" + fresh, "agency", "police-999999", crt), 1,
         'no agency has the code "police-999999"', "an unknown agency"),
        (("clients", "revoke", "nobody-" + fresh), 1, "no client named nobody-" + fresh,
         "revoking a name no client has"),
    ]
    for args, status, message, what in cases:
        code, out = hotlinectl(*args)
        check(code == status and message in out,
              "hotlinectl refuses %s: exit %d, \"%s\"" % (what, status, message),
              "exit %d: %s" % (code, out))
    check(roster() == before, "the refused registrations changed no client")
    check(refused_as(daemon, fresh, "client_unknown"),
          "and the certificate is still unknown to the daemon")


def psql_in(db, sql):
    """Run SQL as the superuser in another database; its rows."""
    out = subprocess.run([lib.PSQL, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                          "-d", db], input=sql, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line]


@test(limit=180)
def the_compose_setup_registers_the_development_pki_once(daemon):
    db = "hotline_compose_" + uuid.uuid4().hex[:8]
    script = "bash " + os.path.join(lib.ROOT, "contrib", "compose", "clients.sh")
    env = dict(os.environ, PGDATABASE=db, HOTLINED_PKI=lib.ENV["HOTLINED_PKI"],
               PATH=os.path.join(lib.ROOT, "build") + os.pathsep + os.environ["PATH"])
    psql_in("postgres", "create database %s" % db)
    try:
        out = subprocess.run(["bash", "-c", "bash sql/migrate.sh && psql -X -q -1 -v"
                              " ON_ERROR_STOP=1 -f sql/demo/demo.sql"], cwd=lib.ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        agencies = {r[0] for r in psql_in(db, "select code from hotline.agencies")}
        approvers = {os.path.basename(p)[:-4] for p in os.listdir(lib.ENV["HOTLINED_PKI"])
                     if p.endswith("-approver.crt")}
        want = {"console", "gateway", "admin", "statistician"} | agencies | approvers
        run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                             timeout=120)
        rows = psql_in(db, "select c.name, c.role, coalesce(a.code, ''), c.approver,"
                       " c.cert_sha256 from hotline.clients c left join hotline.agencies a"
                       " on a.id = c.agency_id order by c.name")
        check(run.returncode == 0 and {r[0] for r in rows} == want,
              "the compose set-up's clients.sh registers console, gateway, admin, statistician,"
              " the %d agencies and the %d approvers, and nothing else of the PKI"
              % (len(agencies), len(approvers)),
              "exit %d %s\n%s" % (run.returncode, run.stderr,
                                  sorted({r[0] for r in rows} ^ want)))
        roles = {"console": "operator", "gateway": "gateway", "admin": "admin",
                 "statistician": "statistician"}
        wrong = [r for r in rows
                 if r[4] != fingerprint(os.path.join(lib.ENV["HOTLINED_PKI"], r[0] + ".crt"))
                 or r[1] != roles.get(r[0], "agency")
                 or r[2] != ("" if r[0] in roles else re.sub("-approver$", "", r[0]))
                 or r[3] != ("t" if r[0] in approvers else "f")]
        check(not wrong, "each with its certificate's fingerprint, its role, its agency and"
              " whether it approves", wrong)
        again = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                               timeout=120)
        check(again.returncode == 0 and again.stdout.count("registered already") == len(want)
              and psql_in(db, "select c.name, c.role, coalesce(a.code, ''), c.approver,"
                          " c.cert_sha256 from hotline.clients c left join hotline.agencies a"
                          " on a.id = c.agency_id order by c.name") == rows,
              "run again (every docker compose up), it leaves them as they are and succeeds",
              again.stdout[-500:] + again.stderr)
    finally:
        psql_in("postgres", "drop database if exists %s" % db)
