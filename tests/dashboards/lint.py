#!/usr/bin/env python3
"""Lints pgwarden's Grafana dashboards: valid JSON, current schema, the
datasource/instance/datname variables, unique panel ids, every panel on the
${datasource} variable, and every PromQL expression accepted by promtool
(each becomes a recording rule in a scratch file for `promtool check rules`).

  lint.py DASHBOARD_DIR            lint; exit 1 on any problem
  lint.py DASHBOARD_DIR --exprs    print "file<TAB>panel title<TAB>expr" with
                                   the variables filled in (for the e2e check)
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

VARIABLES = {"$datasource": "prometheus", "${datasource}": "prometheus",
             "$instance": ".*", "$datname": ".*", "$__rate_interval": "5m",
             "$__interval": "1m", "$__range": "1h"}


def fill(expr):
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    return expr


def panels_of(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        for inner in p.get("panels", []):
            yield inner


def lint(path, problems):
    name = os.path.basename(path)
    try:
        d = json.load(open(path))
    except ValueError as e:
        problems.append(f"{name}: invalid JSON: {e}")
        return []
    if d.get("schemaVersion", 0) < 36:
        problems.append(f"{name}: schemaVersion {d.get('schemaVersion')} is older than 36")
    if not d.get("uid") or not d.get("title"):
        problems.append(f"{name}: no uid or title")
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append(f"{name}: no datasource variable")
    for v in ("instance", "datname"):
        if v not in variables:
            problems.append(f"{name}: no {v} variable")
    ids = set()
    exprs = []
    for p in panels_of(d):
        pid = p.get("id")
        if pid in ids:
            problems.append(f"{name}: duplicate panel id {pid}")
        ids.add(pid)
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{name}: panel {p.get('title')!r} does not use ${{datasource}}")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{name}: panel {p.get('title')!r} has no query")
        for t in targets:
            if not t.get("expr"):
                problems.append(f"{name}: panel {p.get('title')!r} has an empty expr")
                continue
            exprs.append((name, p.get("title", ""), fill(t["expr"])))
    return exprs


def main():
    directory = sys.argv[1]
    problems = []
    exprs = []
    files = sorted(glob.glob(os.path.join(directory, "*.json")))
    if not files:
        problems.append(f"no dashboards in {directory}")
    for path in files:
        exprs += lint(path, problems)
    if "--exprs" in sys.argv:
        for e in exprs:
            print("\t".join(e))
        return 1 if problems else 0
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("groups:\n  - name: dashboard_exprs\n    rules:\n")
        for i, (_, _, expr) in enumerate(exprs):
            f.write(f"      - record: dashboard_expr_{i}\n        expr: {json.dumps(expr)}\n")
        rules = f.name
    result = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    os.unlink(rules)
    if result.returncode != 0:
        problems.append("promtool rejects a dashboard expression:\n" + result.stdout + result.stderr)
    for p in problems:
        print("dashboard lint: " + p, file=sys.stderr)
    if not problems:
        print(f"dashboard lint: {len(files)} dashboards, {len(exprs)} expressions OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
