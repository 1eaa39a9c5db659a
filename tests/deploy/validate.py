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


def verify_unit(text, what):
    """`systemd-analyze verify` on the unit `text` (ExecStart pointed at a
    stand-in binary). It prints nothing for a clean unit; any remark about it
    (an unknown or misspelt directive, a bad value) is a failure."""
    with tempfile.TemporaryDirectory() as d:
        unit = os.path.join(d, "pgwarden.service")
        open(unit, "w").write(text.replace("/usr/local/bin/pgwarden", "/bin/true"))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
        remarks = [l for l in (r.stdout + r.stderr).splitlines() if "pgwarden.service" in l]
        if r.returncode != 0 or remarks:
            fail(what + ": " + "; ".join(remarks or [r.stderr.strip()]))


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
        verify_unit(text, "systemd-analyze verify")
    # The TLS drop-in: its ExecStart, merged into the unit, must verify too.
    dropin = open(os.path.join(ROOT, "deploy/systemd/pgwarden-tls.conf")).read()
    execs = [l.split("=", 1)[1] for l in dropin.splitlines() if l.startswith("ExecStart=")]
    if execs[:1] != [""] or len(execs) != 2 or "--web.config.file=" not in execs[1]:
        fail("pgwarden-tls.conf: want ExecStart= cleared, then one with --web.config.file")
    elif shutil.which("systemd-analyze"):
        merged = re.sub(r"^ExecStart=.*$", "ExecStart=" + execs[1], text, flags=re.M)
        verify_unit(merged, "pgwarden-tls.conf merged")
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


def compose_tls():
    base = os.path.join(ROOT, "deploy/docker")
    plain = yaml.safe_load(open(os.path.join(base, "compose.yml")))["services"]
    doc = yaml.safe_load(open(os.path.join(base, "compose.tls.yml")))
    services = doc.get("services", {})
    for name, svc in services.items():
        if name != "tls-init" and name not in plain:
            fail(f"compose.tls.yml: {name} is not a service of compose.yml")
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith(".") and not os.path.exists(os.path.join(base, src)):
                fail(f"compose.tls.yml: {name} mounts {src}, which does not exist")
            elif not src.startswith(".") and src not in doc.get("volumes", {}):
                fail(f"compose.tls.yml: {name} mounts an undeclared volume {src}")
        for dep in svc.get("depends_on", {}):
            if dep not in services and dep not in plain:
                fail(f"compose.tls.yml: {name} depends on unknown {dep}")
    args = services.get("pgwarden", {}).get("command", [])
    if not any(a.startswith("--web.config.file=/tls/") for a in args):
        fail("compose.tls.yml: pgwarden does not read the web config from the tls volume")
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(base, "prometheus-tls.yml"), d)
        for rules in ("pgwarden-alerts.yml", "pgwarden-recording.yml"):
            shutil.copy(os.path.join(ROOT, "deploy/prometheus", rules), d)
        r = subprocess.run(["promtool", "check", "config",
                            os.path.join(d, "prometheus-tls.yml")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail("deploy/docker/prometheus-tls.yml: " + r.stdout + r.stderr)
        scrape = yaml.safe_load(open(os.path.join(base, "prometheus-tls.yml")))
        job = scrape["scrape_configs"][0]
        if job.get("scheme") != "https" or "basic_auth" not in job:
            fail("prometheus-tls.yml: the pgwarden job is not https with basic_auth")


def kubernetes():
    kubernetes_objects(os.path.join(ROOT, "deploy/kubernetes"), [], tls=False)
    kubernetes_objects(os.path.join(ROOT, "deploy/kubernetes/tls"),
                       [os.path.join(ROOT, "deploy/kubernetes/service.yaml")], tls=True)


def kubernetes_objects(base, extra, tls):
    objects = {}
    files = [os.path.join(base, f) for f in sorted(os.listdir(base)) if f.endswith(".yaml")]
    for path in files + extra:
        f = os.path.relpath(path, ROOT)
        for doc in yaml.safe_load_all(open(path)):
            if not doc:
                continue
            for key in ("apiVersion", "kind"):
                if key not in doc:
                    fail(f"{f}: an object without {key}")
            if not doc.get("metadata", {}).get("name"):
                fail(f"{f}: an object without metadata.name")
            objects[doc.get("kind")] = doc
    for kind in ("Deployment", "Service", "ServiceMonitor") + (() if tls else ("PrometheusRule",)):
        if kind not in objects:
            fail(f"kubernetes ({os.path.relpath(base, ROOT)}): no {kind}")
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
    if tls:
        kubernetes_tls(dep, c, mon)
        return
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


def kubernetes_tls(dep, c, mon):
    config = [a.split("=", 1)[1] for a in c.get("args", []) if a.startswith("--web.config.file=")]
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    secrets = {v["name"]: v.get("secret", {}).get("secretName")
               for v in dep["spec"]["template"]["spec"].get("volumes", [])}
    if not config:
        fail("tls/deployment.yaml: no --web.config.file")
    elif not any(config[0].startswith(path + "/") and secrets.get(name)
                 for name, path in mounts.items()):
        fail("tls/deployment.yaml: --web.config.file is not on a mounted Secret")
    for probe in ("readinessProbe", "livenessProbe"):
        if "httpGet" in c.get(probe, {}):
            fail(f"tls/deployment.yaml: {probe} uses HTTP, which needs the password")
    end = mon["spec"]["endpoints"][0]
    if end.get("scheme") != "https" or "basicAuth" not in end or "tlsConfig" not in end:
        fail("tls/servicemonitor.yaml: not https with tlsConfig and basicAuth")


def main():
    for check in (systemd, dockerfile, compose, compose_tls, kubernetes):
        check()
    for p in problems:
        print("deploy: " + p, file=sys.stderr)
    if not problems:
        print("deploy: systemd unit and TLS drop-in, Dockerfile, compose (plain and TLS) and "
              "Kubernetes manifests (plain and TLS) valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
