"""Packaging: docker-compose.yml parses and mirrors the layout the
deploy suite runs (primary, synchronous standby, one-shot setup, two daemons,
HAProxy with contrib/haproxy.cfg), every file it mounts exists and every
script is valid shell; the configuration its setup writes passes
`hotlined -n`; contrib/hotlined.service passes `systemd-analyze verify` and
carries its hardening.  No Docker engine is needed."""

import os
import re
import shutil
import subprocess

from . import lib
from .lib import check, test

SERVICES = {"primary", "standby", "setup", "hotlined-a", "hotlined-b", "haproxy"}


def compose():
    """docker-compose.yml, parsed."""
    import yaml
    with open(os.path.join(lib.ROOT, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


def mounts(service):
    """(host path, container path) of a service's bind mounts."""
    out = []
    for v in service.get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("./"):
            out.append((src, dst))
    return out


@test
def the_compose_file_mirrors_the_tested_layout():
    try:
        c = compose()
    except ImportError:
        check(False, "python3-yaml is installed (daemon/dev/deps.sh test installs it)")
        return
    services = c.get("services", {})
    check(set(services) == SERVICES, "the services are %s" % sorted(SERVICES), sorted(services))
    dep = {name: s.get("depends_on", {}) for name, s in services.items()}
    check(dep["standby"].get("primary", {}).get("condition") == "service_healthy"
          and dep["setup"].get("standby", {}).get("condition") == "service_healthy"
          and all(dep[d].get("setup", {}).get("condition") == "service_completed_successfully"
                  for d in ("hotlined-a", "hotlined-b"))
          and set(dep["haproxy"]) == {"hotlined-a", "hotlined-b"},
          "primary, then its standby, then the one-shot setup, then the daemons, then HAProxy",
          dep)
    missing = [(name, src) for name, s in services.items() for src, _ in mounts(s)
               if not src.startswith("./var/")
               and not os.path.exists(os.path.join(lib.ROOT, src))]
    check(not missing, "every file the services mount is in the repository (./var/pki aside)",
          missing)
    with open(os.path.join(lib.ROOT, "Dockerfile")) as f:
        dockerfile = f.read()
    check(services["setup"]["build"].get("target") == "setup"
          and re.search(r"(?m)^FROM \S+ AS setup$", dockerfile)
          and "COPY contrib/compose/setup.sh" in dockerfile,
          "the setup service is the Dockerfile's setup stage, which runs contrib/compose/setup.sh")
    check(re.search(r"(?m)^FROM debian:12-slim$", dockerfile.split("AS setup")[-1]) is not None,
          "the daemon's image stays the Dockerfile's last (default) stage")
    hap = dict((dst, src) for src, dst in mounts(services["haproxy"]))
    check(hap.get("/usr/local/etc/haproxy/haproxy.cfg") == "./contrib/haproxy.cfg",
          "HAProxy runs contrib/haproxy.cfg, the file the deploy suite runs", hap)
    with open(os.path.join(lib.ROOT, "contrib", "haproxy.cfg")) as f:
        servers = re.findall(r"(?m)^\s+server (\S+) (\S+):12355$", f.read())
    check(sorted(a for _, a in servers) == ["hotlined-a", "hotlined-b"],
          "contrib/haproxy.cfg names both daemons of the compose file", servers)
    scripts = [os.path.join(lib.ROOT, src) for s in services.values() for src, _ in mounts(s)
               if src.endswith(".sh")] + [os.path.join(lib.ROOT, "contrib/compose/setup.sh")]
    bad = [(p, subprocess.run(["bash", "-n", p], capture_output=True, text=True).stderr)
           for p in scripts]
    bad = [b for b in bad if b[1]]
    check(len(scripts) == 3 and not bad, "its %d scripts are valid shell" % len(scripts), bad)
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        out = subprocess.run(["docker", "compose", "config", "-q"], cwd=lib.ROOT,
                             capture_output=True, text=True)
        check(out.returncode == 0, "docker compose config accepts the file", out.stderr)
    else:
        print("# docker compose is not installed here: the file was checked as YAML only")


@test
def the_configuration_the_compose_setup_writes_is_valid():
    with open(os.path.join(lib.ROOT, "contrib", "compose", "setup.sh")) as f:
        script = f.read()
    m = re.search(r'cat >"\$conf/hotlined.conf" <<CONF\n(.*?)\nCONF\n', script, re.S)
    check(m is not None, "contrib/compose/setup.sh writes hotlined.conf")
    if m is None:
        return
    d = os.path.join(lib.VAR, "test-compose-conf")
    os.makedirs(os.path.join(d, "keys"), exist_ok=True)
    if not os.path.exists(os.path.join(d, "pki")):
        os.symlink(lib.ENV["HOTLINED_PKI"], os.path.join(d, "pki"))
    for k in ("master.key", "hash.key"):
        shutil.copy(os.path.join(lib.VAR, "keys", k), os.path.join(d, "keys", k))
        os.chmod(os.path.join(d, "keys", k), 0o600)
    text = m.group(1).replace("$conf", d).replace("$HOTLINED_DB_PASSWORD", "secret")
    conf = os.path.join(d, "hotlined.conf")
    with open(conf, "w") as f:
        f.write(text + "\n")
    out = subprocess.run([lib.BINARY, "-n", "-f", conf], capture_output=True, text=True)
    check(out.returncode == 0 and "configuration OK" in out.stdout,
          "hotlined -n accepts the configuration the setup service writes", out.stderr)
    db = re.search(r"(?m)^database = (.*)$", text).group(1)
    check("host=primary,standby port=5432,5432" in db and "target_session_attrs=read-write" in db
          and "connect_timeout=" in db,
          "its connection string names the primary and the standby, read-write only", db)


@test
def the_systemd_unit_verifies_and_is_hardened():
    path = os.path.join(lib.ROOT, "contrib", "hotlined.service")
    with open(path) as f:
        unit = f.read()
    settings = dict(re.findall(r"(?m)^(\w+)=(.*)$", unit))
    want = {"Type": "notify", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
            "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
            "User": "hotlined", "ExecReload": "/bin/kill -HUP $MAINPID"}
    wrong = {k: settings.get(k) for k, v in want.items() if settings.get(k) != v}
    check(not wrong, "the unit is Type=notify, unprivileged and hardened", wrong)
    check("-d -f /etc/hotlined/hotlined.conf" in settings.get("ExecStart", ""),
          "it runs the daemon in the foreground (-d), logging to the journal")
    if shutil.which("systemd-analyze") is None:
        check(False, "systemd-analyze is installed (daemon/dev/deps.sh test installs systemd)")
        return
    d = os.path.join(lib.VAR, "test-systemd")
    os.makedirs(d, exist_ok=True)
    # The binary where the build put it, and a user that exists here.
    here = unit.replace("/usr/local/sbin/hotlined", lib.BINARY).replace(
        "User=hotlined", "User=root").replace("Group=hotlined", "Group=root")

    def verify(text):
        p = os.path.join(d, "hotlined.service")
        with open(p, "w") as f:
            f.write(text)
        out = subprocess.run(["systemd-analyze", "verify", p], capture_output=True, text=True)
        return out.returncode, (out.stdout + out.stderr).strip()
    rc, out = verify(here)
    check(rc == 0 and out == "", "systemd-analyze verify finds nothing to say", out)
    rc, out = verify(here.replace("ProtectSystem=strict", "ProtectSytem=strict"))
    check("ProtectSytem" in out, "and it does speak up about a misspelt setting", out)
