"""The web console's files (daemon/static.c): served from memory under
/console/ to registered clients, each byte for byte with its type, ETag and
the console's security headers; no path reaches anything but the files
loaded; SIGHUP loads them again, a broken directory keeps the old ones; a
console_dir that cannot be read stops the daemon at start; empty, no console.
The console itself is tested in a browser by the console suite
(tests/console/)."""

import os
import re
import shutil
import signal
import subprocess

from . import lib
from .lib import Client, Daemon, check, raw_tls, status_of, stop_cleanly, test, wait_until

CONSOLE = os.path.join(lib.ROOT, "clients", "console")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".json": "application/json; charset=utf-8",
         ".svg": "image/svg+xml"}


def files():
    """The console's files, by name."""
    return sorted(n for n in os.listdir(CONSOLE) if os.path.splitext(n)[1] in TYPES)


def raw_get(daemon, target, cert="console", extra=b""):
    """GET an exact request target over a new connection: (status, raw reply)."""
    out = raw_tls(daemon.port if isinstance(daemon, Daemon) else daemon,
                  b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra +
                  b"Connection: close\r\n\r\n", cert)
    return status_of(out), out


def console_copy(name):
    """A copy of the console's directory in the environment, to change."""
    d = os.path.join(lib.VAR, "console-" + name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(CONSOLE, d)
    return d


@test
def every_console_file_is_served_as_it_is_with_its_type(daemon):
    c = Client(daemon, "console")
    bad = []
    for name in files():
        st, h, body = c.get("/console/" + name)
        with open(os.path.join(CONSOLE, name), "rb") as f:
            want = f.read()
        got = body if isinstance(body, bytes) else None
        if name.endswith(".json"):      # the client parses JSON
            got = want if body == lib.json.loads(want) else None
        if st != 200 or got != want or h.get("content-type") != TYPES[os.path.splitext(name)[1]]:
            bad.append((name, st, h.get("content-type")))
    check(len(files()) >= 10 and not bad,
          "each of the %d console files comes back byte for byte with its Content-Type"
          % len(files()), bad)
    st, h, body = c.get("/console/")
    with open(os.path.join(CONSOLE, "index.html"), "rb") as f:
        check(st == 200 and body == f.read() and h["content-type"].startswith("text/html"),
              "/console/ is index.html")
    st, h, body = c.get("/console")
    check(st == 308 and h.get("location") == "/console/" and not body,
          "/console redirects to /console/ (308)", (st, h))
    st, h, body = c.request("HEAD", "/console/app.js")
    check(st == 200 and not body and h.get("etag"), "HEAD gives the headers without the body",
          (st, h))
    line = [ln for ln in daemon.logtext().splitlines() if "id=%s " % h["x-request-id"] in ln]
    check(len(line) == 1 and "client_name=console method=HEAD route=static status=200" in line[0],
          "each is one request log line, route=static", line)


@test
def the_console_has_a_strict_content_security_policy(daemon):
    st, h, _ = Client(daemon, "police-320102").get("/console/")
    csp = [d.strip() for d in h.get("content-security-policy", "").split(";")]
    want = ["default-src 'self'", "script-src 'self'", "style-src 'self'",
            "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
            "object-src 'none'", "require-trusted-types-for 'script'"]
    check(st == 200 and all(w in csp for w in want) and "unsafe" not in h[
        "content-security-policy"], "the policy allows only the console's own scripts, styles "
          "and API, no inline code, no framing, no base or foreign form targets", csp)
    check(h.get("x-content-type-options") == "nosniff" and
          h.get("referrer-policy") == "no-referrer" and h.get("x-frame-options") == "DENY" and
          h.get("cache-control") == "no-cache",
          "nosniff, no referrer, no framing; cached only with revalidation", h)
    with open(os.path.join(CONSOLE, "index.html")) as f:
        html = f.read()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=", html)
    check(not inline and 'src="/console/app.js"' in html,
          "index.html has no inline script, style or handler for the policy to forbid", inline)


@test
def an_unchanged_file_is_answered_304(daemon):
    c = Client(daemon, "console")
    st, h, _ = c.get("/console/console.css")
    etag = h.get("etag", "")
    check(st == 200 and len(etag) == 18 and etag.startswith('"') and etag.endswith('"'),
          "a file has a strong ETag", etag)
    for inm in (etag, "W/" + etag, '"0000000000000000", ' + etag, "*"):
        st, h2, body = c.get("/console/console.css", headers={"If-None-Match": inm})
        check(st == 304 and not body and h2.get("etag") == etag,
              "If-None-Match %s: 304 without a body" % inm, (st, body))
    st, _, body = c.get("/console/console.css", headers={"If-None-Match": '"0000000000000000"'})
    check(st == 200 and body, "another ETag: the file (200)")
    st, h3, _ = c.get("/console/app.js")
    check(h3.get("etag") != etag, "each file has its own ETag")


@test
def the_console_is_only_for_registered_clients(daemon):
    st, out = raw_get(daemon, b"/console/", cert=None)
    check(st == 401 and b"certificate_required" in out, "no certificate: 401", out[:300])
    for cert, code in (("unregistered", b"client_unknown"), ("revoked", b"client_revoked")):
        st, out = raw_get(daemon, b"/console/app.js", cert=cert)
        check(st == 403 and code in out and b"import" not in out,
              "%s certificate: 403 %s" % (cert, code.decode()), out[:300])
    st, h, _ = Client(daemon, "console").post("/console/", {}, key=lib.new_key())
    check(st == 405 and h.get("allow") == "GET, HEAD", "POST: 405, Allow GET, HEAD", (st, h))


@test
def no_request_target_reaches_beyond_the_loaded_files(daemon):
    targets = [b"/console/../v1/version", b"/console/..%2fv1%2fversion",
               b"/console/%2e%2e/hotlined.conf", b"/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
               b"/console/..%5c..%5cetc%5cpasswd", b"/console/..\\..\\etc\\passwd",
               b"/console/%2fetc%2fpasswd", b"/console//etc/passwd", b"/console/./app.js",
               b"/console/sub/../app.js", b"/console/app.js/", b"/console/app.js%00.html",
               b"/console/app.js%00", b"/console/%61pp.js", b"/console/APP.JS",
               b"/console/.hidden", b"/console/..", b"/console/%2e%2e",
               b"/console/" + b"a" * 200 + b".js", b"/console/../../../../etc/passwd"]
    bad = []
    for t in targets:
        st, out = raw_get(daemon, t)
        if st not in (400, 404) or b"root:" in out or b"import " in out:
            bad.append((t, st, out[:120]))
    check(not bad, "%d targets with .., %%2e%%2e, encoded slashes and backslashes, an encoded "
          "NUL, other spellings of a file name: 404 or 400, never a file" % len(targets), bad)
    st, out = raw_get(daemon, b"/console/app.js\x00.html")
    check(st == 400 and b"import " not in out, "a raw NUL in the target: 400", out[:200])
    st, out = raw_get(daemon, b"/console/app.js", extra=b"X-Pad: a\x00b\r\n")
    check(st == 400, "a NUL in a header: 400", out[:200])


@test
def only_regular_files_of_known_types_are_loaded(daemon):
    d = console_copy("kinds")
    os.mkdir(os.path.join(d, "sub"))
    for name, text in (("sub/inner.js", "x"), ("README.md", "x"), (".hidden.js", "x"),
                       ("notes.conf", "x"), ("a b.js", "x")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    dm = Daemon("console-kinds", console_dir=d).start()
    try:
        got = {t: raw_get(dm, t)[0] for t in (b"/console/sub/inner.js", b"/console/sub",
                                               b"/console/README.md", b"/console/.hidden.js",
                                               b"/console/notes.conf", b"/console/a%20b.js")}
        check(all(s == 404 for s in got.values()), "a subdirectory, other types, hidden files "
              "and odd names are not served", got)
        check(raw_get(dm, b"/console/app.js")[0] == 200, "the console's files are")
        check("event=console_loaded dir=%s files=%d" % (d, len(files())) in dm.logtext(),
              "the log says how many files were loaded", dm.logtail())
    finally:
        stop_cleanly(dm)


@test
def sighup_loads_the_files_again_and_a_broken_directory_keeps_the_old(daemon):
    d = console_copy("reload")
    dm = Daemon("console-reload", console_dir=d).start()
    try:
        c = Client(dm, "console")
        st, h, old = c.get("/console/labels.js")
        with open(os.path.join(d, "labels.js"), "ab") as f:
            f.write(b"\n// reloaded\n")
        check(c.get("/console/labels.js")[2] == old,
              "a changed file is not read again per request")
        dm.signal(signal.SIGHUP)
        check(wait_until(lambda: c.get("/console/labels.js")[2] != old, 5),
              "after SIGHUP the new content is served")
        st, h2, new = c.get("/console/labels.js")
        check(new.endswith(b"// reloaded\n") and h2["etag"] != h["etag"],
              "with a new ETag", (h["etag"], h2["etag"]))
        os.symlink("/etc/passwd", os.path.join(d, "passwd.txt"))
        with open(os.path.join(d, "labels.js"), "ab") as f:
            f.write(b"// again\n")
        dm.signal(signal.SIGHUP)
        check(wait_until(lambda: "event=console_reload_failed keeping=old" in dm.logtext(), 5),
              "a symbolic link in the directory fails the reload", dm.logtail())
        st, _, body = c.get("/console/labels.js")
        check(st == 200 and body == new and raw_get(dm, b"/console/passwd.txt")[0] == 404,
              "and the files loaded before go on being served, the link not followed")
    finally:
        stop_cleanly(dm)


@test
def a_console_dir_that_cannot_be_read_stops_the_daemon(daemon):
    missing = os.path.join(lib.VAR, "no-such-console")
    dm = Daemon("console-missing", console_dir=missing)
    out = subprocess.run([lib.BINARY, "-n", "-f", dm.conf], capture_output=True, text=True,
                         timeout=30)
    check(out.returncode == 1 and "console_dir unusable" in out.stderr,
          "hotlined -n refuses a console_dir that does not exist", out.stderr)
    p = subprocess.run([lib.BINARY, "-d", "-f", dm.conf], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode != 0 and "event=console_dir_failed" in p.stderr and
          "cannot load console_dir" in p.stderr, "and so does the daemon at start",
          p.stderr[-2000:])
    off = Daemon("console-off", console_dir="").start()
    try:
        st, out = raw_get(off, b"/console/")
        check(st == 404 and b"no console is served here" in out,
              "console_dir empty: no console (404)", out[:300])
    finally:
        stop_cleanly(off)
