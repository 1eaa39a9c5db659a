#!/usr/bin/env python3
"""Validates the deployment files that cannot run on the test machine (no
Docker engine, no Kubernetes, no systemd as PID 1): their syntax, the
references between them, and the hardening they promise.

- systemd: `systemd-analyze verify` (with ExecStart pointed at a stand-in
  binary), plus the hardening directives.
- Dockerfile: known instructions, a build and a debian:bookworm-slim runtime
  stage, a non-root USER, COPY sources that exist, COPY --from a real stage.
- compose: services, bind-mounted files that exist, the Dockerfile it builds.
- Kubernetes: every object's apiVersion/kind/name, Service <-> Deployment
  <-> ServiceMonitor wiring, and the PrometheusRule regenerated from the rule
  files and accepted by `promtool check rules`.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
problems = []


def fail(msg):
    problems.append(msg)


def systemd():
    path = os.path.join(ROOT, "deploy/systemd/pgwarden.service")
    text = open(path).read()
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            settings.setdefault(k.strip(), []).append(v.strip())
    wanted = {"User": "pgwarden", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
              "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
              "RestartPreventExitStatus": "2"}
    for k, v in wanted.items():
        if v not in settings.get(k, []):
            fail(f"pgwarden.service: want {k}={v}")
    if not settings.get("EnvironmentFile"):
        fail("pgwarden.service: no EnvironmentFile")
    if shutil.which("systemd-analyze"):
        with tempfile.TemporaryDirectory() as d:
            unit = os.path.join(d, "pgwarden.service")
            open(unit, "w").write(text.replace("/usr/local/bin/pgwarden", "/bin/true"))
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                               text=True)
            # It prints nothing for a clean unit; any remark about it (an
            # unknown or misspelt directive, a bad value) is a failure.
            remarks = [l for l in (r.stdout + r.stderr).splitlines() if "pgwarden.service" in l]
            if r.returncode != 0 or remarks:
                fail("systemd-analyze verify: " + "; ".join(remarks or [r.stderr.strip()]))
    env = os.path.join(ROOT, "deploy/systemd/pgwarden.env")
    if "DATA_SOURCE_URI=" not in open(env).read():
        fail("pgwarden.env: no DATA_SOURCE_URI")


INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL"}


def dockerfile():
    path = os.path.join(ROOT, "deploy/docker/Dockerfile")
    lines, current = [], ""
    for raw in open(path).read().splitlines():
        if raw.strip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").rstrip() + " "
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    stages, froms, user = [], [], None
    for line in lines:
        word, _, rest = line.partition(" ")
        if word.upper() not in INSTRUCTIONS or word != word.upper():
            fail(f"Dockerfile: unknown instruction {word!r}")
            continue
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            if not m:
                fail(f"Dockerfile: bad FROM {rest!r}")
                continue
            froms.append(m.group(1))
            stages.append(m.group(2))
            user = None
        elif word == "USER":
            user = rest.split(":")[0]
        elif word == "COPY":
            args = rest.split()
            if args[0].startswith("--from="):
                if args[0][7:] not in stages[:-1]:
                    fail(f"Dockerfile: COPY --from unknown stage {args[0][7:]}")
            else:
                for src in args[:-1]:
                    if not os.path.exists(os.path.join(ROOT, src)):
                        fail(f"Dockerfile: COPY source {src} does not exist (context: repo root)")
    if len(froms) < 2:
        fail("Dockerfile: not multi-stage")
    if not froms or froms[-1] != "debian:bookworm-slim":
        fail("Dockerfile: runtime stage is not debian:bookworm-slim")
    if user in (None, "root", "0"):
        fail("Dockerfile: runtime stage runs as root")


def compose():
    base = os.path.join(ROOT, "deploy/docker")
    doc = yaml.safe_load(open(os.path.join(base, "compose.yml")))
    services = doc.get("services", {})
    for s in ("postgres", "pgwarden", "prometheus", "alertmanager", "grafana"):
        if s not in services:
            fail(f"compose.yml: no {s} service")
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith(".") and not os.path.exists(os.path.join(base, src)):
                fail(f"compose.yml: {name} mounts {src}, which does not exist")
        build = svc.get("build")
        if build:
            ctx = os.path.join(base, build["context"])
            if not os.path.exists(os.path.join(ctx, build["dockerfile"])):
                fail(f"compose.yml: {name} builds a missing Dockerfile")
    for name, secret in doc.get("secrets", {}).items():
        if not os.path.exists(os.path.join(base, secret["file"])):
            fail(f"compose.yml: secret {name} file missing")
    # The container sees the rule files next to its config; so does promtool.
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(base, "prometheus.yml"), d)
        for rules in ("pgwarden-alerts.yml", "pgwarden-recording.yml"):
            shutil.copy(os.path.join(ROOT, "deploy/prometheus", rules), d)
        r = subprocess.run(["promtool", "check", "config", os.path.join(d, "prometheus.yml")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail("deploy/docker/prometheus.yml: " + r.stdout + r.stderr)


def kubernetes():
    base = os.path.join(ROOT, "deploy/kubernetes")
    objects = {}
    for f in sorted(os.listdir(base)):
        if not f.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(open(os.path.join(base, f))):
            if not doc:
                continue
            for key in ("apiVersion", "kind"):
                if key not in doc:
                    fail(f"{f}: an object without {key}")
            if not doc.get("metadata", {}).get("name"):
                fail(f"{f}: an object without metadata.name")
            objects[doc.get("kind")] = doc
    for kind in ("Deployment", "Service", "ServiceMonitor", "PrometheusRule"):
        if kind not in objects:
            fail(f"kubernetes: no {kind}")
    if problems:
        return
    dep, svc, mon = objects["Deployment"], objects["Service"], objects["ServiceMonitor"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    if dep["spec"]["selector"]["matchLabels"].items() - pod_labels.items():
        fail("Deployment selector does not match its pod labels")
    if svc["spec"]["selector"].items() - pod_labels.items():
        fail("Service selector does not match the pods")
    if mon["spec"]["selector"]["matchLabels"].items() - svc["metadata"]["labels"].items():
        fail("ServiceMonitor selector does not match the Service")
    ports = [p["name"] for c in dep["spec"]["template"]["spec"]["containers"]
             for p in c.get("ports", [])]
    if svc["spec"]["ports"][0]["targetPort"] not in ports:
        fail("Service targetPort is not a container port")
    if mon["spec"]["endpoints"][0]["port"] != svc["spec"]["ports"][0]["name"]:
        fail("ServiceMonitor port is not the Service's")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
        fail("Deployment: root filesystem is writable")
    r = subprocess.run([sys.executable, os.path.join(base, "generate-prometheusrule.py"),
                        "--check"], capture_output=True, text=True)
    if r.returncode != 0:
        fail(r.stderr.strip())
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": objects["PrometheusRule"]["spec"]["groups"]}, f)
    r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if r.returncode != 0:
        fail("PrometheusRule: " + r.stdout + r.stderr)


def main():
    for check in (systemd, dockerfile, compose, kubernetes):
        check()
    for p in problems:
        print("deploy: " + p, file=sys.stderr)
    if not problems:
        print("deploy: systemd unit, Dockerfile, compose and Kubernetes manifests valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
