#!/usr/bin/env python3
"""Derives short-fuse copies of the shipped Prometheus and Alertmanager
configuration, for the end-to-end alerting test and the demo: alerts fire
within seconds instead of minutes. Everything else stays the shipped text,
so the tests exercise the rules users deploy, never a hand-written copy.

  lower_rules.py rules IN OUT --for 1s --long-running 2 --blocked-wait 1 \
      --idle 2 --lock-wait 2
  lower_rules.py alertmanager IN OUT --webhook http://127.0.0.1:PORT
  lower_rules.py prometheus IN OUT --target HOST:PORT --alertmanager HOST:PORT \
      --interval 1s --rules FILE[,FILE]
  lower_rules.py recording IN OUT --window 30s   (every rate's [5m] range)
  lower_rules.py probe IN OUT --targets T1,T2,... --replicas HOST:PORT,HOST:PORT \
      --module NAME --alertmanager HOST:PORT --interval 1s --rules FILE[,FILE]

Each substitution must apply, or the script fails: a rule edited in a way
the test no longer understands stops the test instead of going untested.
"""

import argparse
import sys

import yaml


def substitute(rule, old, new):
    if old not in rule["expr"]:
        sys.exit(f"lower_rules: {rule['alert']}: '{old}' not in its expr")
    rule["expr"] = rule["expr"].replace(old, new)


def rules(args):
    doc = yaml.safe_load(open(args.input))
    changes = {
        "PostgresLongRunningQuery": [('threshold_seconds="300"',
                                      f'threshold_seconds="{args.long_running}"')],
        "PostgresBlockedSessions": [("pg_blocked_max_wait_seconds > 60",
                                     f"pg_blocked_max_wait_seconds > {args.blocked_wait}")],
        "PostgresIdleInTransaction": [("> 300", f"> {args.idle}")],
        "PostgresLockWaits": [("> 120", f"> {args.lock_wait}")],
    }
    seen = set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            for old, new in changes.get(rule["alert"], []):
                substitute(rule, old, new)
                seen.add(rule["alert"])
            if "for" in rule:
                rule["for"] = args.for_
    missing = set(changes) - seen
    if missing:
        sys.exit(f"lower_rules: alerts not found: {sorted(missing)}")
    yaml.safe_dump(doc, open(args.output, "w"), sort_keys=False, width=1000)


def recording(args):
    doc = yaml.safe_load(open(args.input))
    changed = 0
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "[" in rule["expr"] and "[5m]" not in rule["expr"]:
                sys.exit(f"lower_rules: {rule['record']}: a range other than [5m]")
            changed += "[5m]" in rule["expr"]
            rule["expr"] = rule["expr"].replace("[5m]", f"[{args.window}]")
    if not changed:
        sys.exit("lower_rules: no [5m] range in the recording rules")
    yaml.safe_dump(doc, open(args.output, "w"), sort_keys=False, width=1000)


def alertmanager(args):
    doc = yaml.safe_load(open(args.input))
    def fast(route):
        route["group_wait"] = "1s"
        route["group_interval"] = "1s"
        route["repeat_interval"] = "1m"
        for child in route.get("routes", []):
            fast(child)
    fast(doc["route"])
    urls = 0
    for receiver in doc["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            path = hook["url"].split("/", 3)[3] if hook["url"].count("/") >= 3 else ""
            hook["url"] = f"{args.webhook}/{path}"
            urls += 1
        # Chat messages go to the same receiver, which records the text the
        # template rendered.
        for chat in receiver.get("slack_configs", []):
            chat["api_url"] = f"{args.webhook}/slack/{receiver['name']}"
            urls += 1
    if not urls:
        sys.exit("lower_rules: no webhook receivers in the Alertmanager config")
    yaml.safe_dump(doc, open(args.output, "w"), sort_keys=False)


def prometheus(args):
    doc = yaml.safe_load(open(args.input))
    doc["global"]["scrape_interval"] = args.interval
    doc["global"]["evaluation_interval"] = args.interval
    doc["rule_files"] = args.rules.split(",")
    doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [args.alertmanager]
    jobs = [j for j in doc["scrape_configs"] if j["job_name"] == "pgwarden"]
    if len(jobs) != 1:
        sys.exit("lower_rules: no pgwarden job in the Prometheus config")
    jobs[0]["scrape_interval"] = args.interval
    jobs[0]["scrape_timeout"] = args.interval
    jobs[0]["static_configs"] = [{"targets": [args.target]}]
    yaml.safe_dump(doc, open(args.output, "w"), sort_keys=False)


def probe(args):
    """The fleet configuration: its targets, replicas and auth_module
    replaced, its hashmod sharding kept as shipped."""
    doc = yaml.safe_load(open(args.input))
    doc["global"]["scrape_interval"] = args.interval
    doc["global"]["evaluation_interval"] = args.interval
    doc["rule_files"] = args.rules.split(",")
    doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [args.alertmanager]
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    if set(jobs) != {"pgwarden-probe", "pgwarden"}:
        sys.exit("lower_rules: the probe config's jobs changed: " + ", ".join(jobs))
    fleet, replicas = jobs["pgwarden-probe"], args.replicas.split(",")
    fleet["scrape_interval"] = fleet["scrape_timeout"] = args.interval
    fleet["static_configs"] = [{"targets": args.targets.split(",")}]
    fleet["params"]["auth_module"] = [args.module]
    shards = [r for r in fleet["relabel_configs"] if r.get("target_label") == "__address__"]
    hashmod = [r for r in fleet["relabel_configs"] if r.get("action") == "hashmod"]
    if len(shards) != len(replicas) or len(hashmod) != 1 or hashmod[0]["modulus"] != len(replicas):
        sys.exit("lower_rules: the probe config does not shard over %d replicas" % len(replicas))
    for rule in shards:
        rule["replacement"] = replicas[int(rule["regex"])]
    jobs["pgwarden"]["scrape_interval"] = args.interval
    jobs["pgwarden"]["scrape_timeout"] = args.interval
    jobs["pgwarden"]["static_configs"] = [{"targets": replicas}]
    yaml.safe_dump(doc, open(args.output, "w"), sort_keys=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["rules", "recording", "alertmanager", "prometheus", "probe"])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--for", dest="for_", default="1s")
    p.add_argument("--long-running", default="2")
    p.add_argument("--blocked-wait", default="1")
    p.add_argument("--idle", default="2")
    p.add_argument("--lock-wait", default="2")
    p.add_argument("--webhook")
    p.add_argument("--target")
    p.add_argument("--alertmanager")
    p.add_argument("--interval", default="1s")
    p.add_argument("--rules")
    p.add_argument("--window", default="5m")
    p.add_argument("--targets")
    p.add_argument("--replicas")
    p.add_argument("--module")
    args = p.parse_args()
    {"rules": rules, "recording": recording, "alertmanager": alertmanager,
     "prometheus": prometheus, "probe": probe}[args.kind](args)


if __name__ == "__main__":
    main()
