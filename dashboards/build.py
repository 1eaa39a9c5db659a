#!/usr/bin/env python3
"""Writes pgwarden's Grafana dashboards (dashboards/*.json) from the panel
lists below, so that every dashboard shares the variables, the datasource
wiring and the panel layout rules. Run it after editing; tests/run.sh checks
that the committed JSON is what this script writes."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'
SELDB = 'instance=~"$instance",datname=~"$datname"'


def variables():
    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
        {"name": "instance", "label": "Instance", "type": "query", "datasource": DS,
         "query": {"query": "label_values(pg_up, instance)", "refId": "instance"},
         "definition": "label_values(pg_up, instance)",
         "multi": True, "includeAll": True, "allValue": ".*", "refresh": 2, "sort": 1,
         "current": {}, "hide": 0},
        {"name": "datname", "label": "Database", "type": "query", "datasource": DS,
         "query": {"query": 'label_values(pg_stat_database_numbackends{instance=~"$instance"}, datname)',
                   "refId": "datname"},
         "definition": 'label_values(pg_stat_database_numbackends{instance=~"$instance"}, datname)',
         "multi": True, "includeAll": True, "allValue": ".*", "refresh": 2, "sort": 1,
         "current": {}, "hide": 0},
    ]}


class Layout:
    """Places panels left to right in a 24-column grid."""

    def __init__(self):
        self.x = self.y = self.row_h = 0
        self.next_id = 1
        self.panels = []

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["datasource"] = DS
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def row(self, title):
        self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0


def target(expr, legend="", instant=False, ref="A"):
    t = {"refId": ref, "datasource": DS, "expr": expr, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant}
    if instant:
        t["format"] = "table"
    return t


def timeseries(title, targets, unit="short", description="", stacked=False):
    custom = {"fillOpacity": 10}
    if stacked:
        custom = {"fillOpacity": 60, "stacking": {"mode": "normal", "group": "A"}}
    return {"type": "timeseries", "title": title, "description": description,
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "custom": custom},
                            "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                        "tooltip": {"mode": "multi"}}}


def stat(title, expr, unit="short", legend="", thresholds=None, description=""):
    steps = thresholds or [{"color": "green", "value": None}]
    return {"type": "stat", "title": title, "description": description,
            "targets": [target(expr, legend)],
            "fieldConfig": {"defaults": {"unit": unit,
                                         "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background",
                        "graphMode": "none", "textMode": "auto"}}


def table(title, targets, description="", transformations=None, unit="short"):
    return {"type": "table", "title": title, "description": description, "targets": targets,
            "transformations": transformations or [],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"showHeader": True}}


def heatmap(title, expr, description=""):
    t = target(expr, "{{le}}")
    t["format"] = "heatmap"
    return {"type": "heatmap", "title": title, "description": description, "targets": [t],
            "options": {"calculate": False, "cellGap": 1,
                        "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
                        "yAxis": {"unit": "s"}, "rowsFrame": {"layout": "auto"},
                        "tooltip": {"show": True, "yHistogram": True}}}


RED_AT_1 = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
RED_AT_0 = [{"color": "red", "value": None}, {"color": "green", "value": 1}]


def overview():
    L = Layout()
    L.row("Health")
    L.add(stat("PostgreSQL up", f"pg_up{{{SEL}}}", legend="{{instance}}", thresholds=RED_AT_0,
               description="1: pgwarden connected and read the server version in the last scrape."), 4, 4)
    L.add(stat("Version", f"pg_static{{{SEL}}}", legend="{{short_version}}",
               description="Server version (pg_static)."), 4, 4)
    L.add(stat("Uptime", f"time() - pg_postmaster_start_time_seconds{{{SEL}}}", unit="s",
               legend="{{instance}}"), 4, 4)
    L.add(stat("Blocked sessions", f"sum(pg_blocked_sessions{{{SELDB}}})", thresholds=RED_AT_1,
               description="Sessions waiting on a lock held by another session."), 4, 4)
    L.add(stat("Longest query", f"max(pg_stat_activity_max_query_duration_seconds{{{SELDB}}})",
               unit="s", thresholds=[{"color": "green", "value": None},
                                     {"color": "orange", "value": 300}]), 4, 4)
    L.add(stat("Replication lag", f"max(pg_replication_lag_seconds{{{SEL}}})", unit="s",
               description="0 on a primary."), 4, 4)
    L.row("Load")
    L.add(timeseries("Connections by state vs max_connections", [
        target(f"sum by (state) (pg_stat_activity_count{{{SELDB},backend_type=\"client backend\"}})",
               "{{state}}"),
        target(f"max(pg_settings_max_connections{{{SEL}}})", "max_connections", ref="B")]), 12, 8)
    L.add(timeseries("Transactions per second",
                     [target(f"instance_datname:pg_stat_database_xact:rate5m{{{SELDB}}}",
                             "{{datname}}")], unit="ops"), 12, 8)
    L.add(timeseries("Cache hit ratio",
                     [target(f"instance_datname:pg_stat_database_blks_hit:ratio_rate5m{{{SELDB}}}",
                             "{{datname}}")], unit="percentunit"), 12, 8)
    L.add(timeseries("Locks by mode",
                     [target(f"sum by (mode) (pg_locks_count{{{SELDB}}})", "{{mode}}")]), 12, 8)
    L.add(timeseries("Blocked sessions and longest lock wait", [
        target(f"sum by (datname) (pg_blocked_sessions{{{SELDB}}})", "blocked {{datname}}"),
        target(f"max by (datname) (pg_locks_max_wait_seconds{{{SELDB}}})", "longest wait (s) {{datname}}",
               ref="B")]), 12, 8)
    L.add(timeseries("Deadlocks (5m)",
                     [target(f"sum by (datname) (increase(pg_stat_database_deadlocks{{{SELDB}}}[5m]))",
                             "{{datname}}")]), 12, 8)
    L.row("Storage and replication")
    L.add(timeseries("Database size", [target(f"pg_database_size_bytes{{{SELDB}}}", "{{datname}}")],
                     unit="bytes"), 8, 8)
    L.add(timeseries("Transaction ID space used",
                     [target(f"pg_database_wraparound_xid_used_ratio{{{SELDB}}}", "{{datname}}")],
                     unit="percentunit",
                     description="Share of the 2^31 horizon used by the oldest unfrozen XID."), 8, 8)
    L.add(timeseries("Replication", [
        target(f"pg_replication_lag_seconds{{{SEL}}}", "replay lag (s) {{instance}}"),
        target(f"pg_stat_replication_pg_wal_lsn_diff{{{SEL}}}", "standby {{application_name}} bytes behind",
               ref="B")]), 8, 8)
    return "pgwarden-overview", "PostgreSQL overview (pgwarden)", L.panels


def activity():
    L = Layout()
    L.row("Long-running work")
    L.add(timeseries("Queries running longer than each threshold",
                     [target(f"sum by (threshold_seconds) (pg_long_running_queries{{{SELDB}}})",
                             "> {{threshold_seconds}}s")]), 12, 8)
    L.add(timeseries("Longest time in the current state",
                     [target(f"max by (state) (pg_stat_activity_max_state_duration_seconds{{{SELDB}}})",
                             "{{state}}")], unit="s",
                     description="idle in transaction: sessions holding locks and the xmin horizon."), 12, 8)
    L.add(timeseries("Idle in transaction", [
        target(f"sum by (datname) (pg_stat_activity_count{{{SELDB},state=~\"idle in transaction.*\"}})",
               "sessions {{datname}}"),
        target(f"max by (datname) (pg_stat_activity_max_state_duration_seconds{{{SELDB},state=~\"idle in transaction.*\"}})",
               "longest (s) {{datname}}", ref="B")]), 12, 8)
    L.add(timeseries("Oldest open transaction",
                     [target(f"pg_long_running_transactions_oldest_timestamp_seconds{{{SEL}}}",
                             "{{instance}}")], unit="s"), 12, 8)
    L.row("Blocking")
    L.add(table("Root blockers (cancel with SELECT pg_cancel_backend(pid))",
                [target(f"pg_blocking_session_info{{{SELDB}}}", instant=True)],
                description="Sessions at the head of a lock-wait chain; Value = sessions they block.",
                transformations=[{"id": "organize", "options": {
                    "excludeByName": {"Time": True, "__name__": True, "job": True},
                    "renameByName": {"Value": "sessions blocked"}}}]), 24, 8)
    L.add(timeseries("Blocked sessions",
                     [target(f"sum by (datname) (pg_blocked_sessions{{{SELDB}}})", "{{datname}}")]),
          8, 8)
    L.add(timeseries("Lock waits by mode and type",
                     [target(f"sum by (mode, locktype) (pg_locks_waiting{{{SELDB}}})",
                             "{{mode}} {{locktype}}")]), 8, 8)
    L.add(timeseries("Longest lock wait",
                     [target(f"max by (datname) (pg_locks_max_wait_seconds{{{SELDB}}})",
                             "{{datname}}")], unit="s"), 8, 8)
    L.add(timeseries("Sessions by wait event type",
                     [target(f"sum by (wait_event_type) (pg_stat_activity_count{{{SELDB},wait_event_type!=\"\"}})",
                             "{{wait_event_type}}")]), 24, 8)
    L.row("Between the scrapes (the activity sampler, one sample a second)")
    L.add(timeseries("Session time by wait event type (average active sessions)",
                     [target(f"sum by (wait_event_type) (rate(pg_wait_event_seconds_total{{{SELDB}}}[$__rate_interval]))",
                             "{{wait_event_type}}")], stacked=True,
                     description="Sampled every second: sessions at work on average, by what they "
                                 "waited on. CPU: active and waiting on nothing (on CPU or not "
                                 "instrumented)."), 12, 9)
    L.add(timeseries("Top wait events",
                     [target(f"topk(10, sum by (wait_event_type, wait_event) (rate(pg_wait_event_seconds_total{{{SELDB},wait_event_type!=\"CPU\"}}[$__rate_interval])))",
                             "{{wait_event_type}}/{{wait_event}}")],
                     description="Average sessions waiting on each event."), 12, 9)
    L.add(table("Top blockers by time (dashboard range)",
                [target(f"topk(10, sum by (instance, datname, usename, application_name) (increase(pg_blocking_seconds_total{{{SELDB}}}[$__range])))",
                        instant=True)], unit="s",
                description="Session time others spent blocked, credited to the root blocker's "
                            "role and application; \"other\" past --sample_blockers_limit.",
                transformations=[{"id": "organize", "options": {
                    "excludeByName": {"Time": True},
                    "renameByName": {"Value": "others waited"}}}]), 12, 9)
    L.add(heatmap("Lock waits by duration",
                  f"sum by (le) (increase(pg_lock_wait_duration_seconds_bucket{{{SELDB}}}[$__rate_interval]))",
                  description="Every lock wait the sampler saw end, by its length."), 12, 9)
    L.add(timeseries("Sessions blocked (sampled)",
                     [target(f"sum by (datname) (rate(pg_blocked_seconds_total{{{SELDB}}}[$__rate_interval]))",
                             "{{datname}}")],
                     description="Average sessions waiting on another's lock, seen every second."),
          12, 8)
    L.add(table("Active time by query (with pg_stat_statements' text)",
                [target(f"topk(10, sum by (instance, datname, queryid) (rate(pg_query_active_seconds_total{{{SELDB},queryid!=\"other\"}}[$__rate_interval])))"
                        f" * on (instance, queryid) group_left (query) max by (instance, queryid, query) (pg_stat_statements_query_id{{{SEL}}})"
                        f" or on (instance, datname, queryid) topk(10, sum by (instance, datname, queryid) (rate(pg_query_active_seconds_total{{{SELDB}}}[$__rate_interval])))",
                        instant=True)],
                description="Average sessions running each query id (PostgreSQL 14+), with its "
                            "text where stat_statements emits it (--stat_statements_include_query).",
                transformations=[{"id": "organize", "options": {
                    "excludeByName": {"Time": True},
                    "renameByName": {"Value": "active sessions"}}}]), 12, 8)
    return "pgwarden-activity", "PostgreSQL activity and blocking (pgwarden)", L.panels


def statements():
    L = Layout()
    L.row("Top statements (last 5 minutes)")
    L.add(table("Top 10 by share of execution time", [
        target(f"topk(10, statement:pg_stat_statements_time_share:ratio_rate5m{{{SELDB}}})",
               instant=True)],
        unit="percentunit",
        description="Share of the server's statement execution time; queryid \"other\" sums "
                    "the statements past --stat_statements_limit.",
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "__name__": True, "job": True},
            "renameByName": {"Value": "time share"}}}]), 12, 10)
    L.add(table("Query text (with --stat_statements_include_query)", [
        target(f"pg_stat_statements_query_id{{{SEL}}}", instant=True)],
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "__name__": True, "job": True, "Value": True}}}]),
          12, 10)
    L.add(timeseries("Execution time per second",
                     [target(f"topk(10, statement:pg_stat_statements_seconds:rate5m{{{SELDB}}})",
                             "{{queryid}} {{user}}@{{datname}}")], unit="s"), 12, 8)
    L.add(timeseries("Calls per second",
                     [target(f"topk(10, statement:pg_stat_statements_calls:rate5m{{{SELDB}}})",
                             "{{queryid}} {{user}}@{{datname}}")], unit="ops"), 12, 8)
    L.add(timeseries("Mean time per call",
                     [target(f"topk(10, statement:pg_stat_statements_mean_seconds:ratio_rate5m{{{SELDB}}})",
                             "{{queryid}} {{user}}@{{datname}}")], unit="s"), 12, 8)
    L.add(timeseries("Rows per second",
                     [target(f"topk(10, statement:pg_stat_statements_rows:rate5m{{{SELDB}}})",
                             "{{queryid}} {{user}}@{{datname}}")], unit="rps"), 12, 8)
    L.add(stat("pg_stat_statements available", f"pg_stat_statements_available{{{SEL}}}",
               legend="{{instance}}", thresholds=RED_AT_0,
               description="0: the extension is missing; the landing page says how to enable it."),
          6, 4)
    return "pgwarden-statements", "PostgreSQL statements (pgwarden)", L.panels


SETTINGS = [
    ("max_connections", "short"), ("superuser_reserved_connections", "short"),
    ("shared_buffers_bytes", "bytes"), ("effective_cache_size_bytes", "bytes"),
    ("work_mem_bytes", "bytes"), ("maintenance_work_mem_bytes", "bytes"),
    ("max_wal_size_bytes", "bytes"), ("checkpoint_timeout_seconds", "s"),
    ("random_page_cost", "short"), ("seq_page_cost", "short"),
    ("max_worker_processes", "short"), ("max_parallel_workers", "short"),
    ("max_locks_per_transaction", "short"), ("autovacuum_vacuum_scale_factor", "short"),
    ("statement_timeout_seconds", "s"), ("idle_in_transaction_session_timeout_seconds", "s"),
]


def settings():
    L = Layout()
    L.row("Key settings")
    targets = [target(f"pg_settings_{name}{{{SEL}}}", name, instant=True, ref=chr(65 + i))
               for i, (name, _) in enumerate(SETTINGS)]
    L.add(table("Key settings", targets,
                description="Values in base units (bytes, seconds); -1 means off.",
                transformations=[{"id": "reduce", "options": {"reducers": ["lastNotNull"],
                                                              "mode": "seriesToRows"}}]), 12, 16)
    L.add(stat("Settings waiting for a restart", f"pg_settings_pending_restart{{{SEL}}}",
               legend="{{instance}}", thresholds=RED_AT_1), 12, 4)
    L.add(table("Collectors", [target(f"pg_scrape_collector_success{{{SEL}}}", instant=True)],
                description="1: the collector's query succeeded in the last scrape.",
                transformations=[{"id": "organize", "options": {
                    "excludeByName": {"Time": True, "__name__": True, "job": True},
                    "renameByName": {"Value": "success"}}}]), 12, 12)
    L.add(timeseries("Collector duration", [
        target(f"pg_scrape_collector_duration_seconds{{{SEL}}}", "{{collector}}")], unit="s"), 24, 8)
    return "pgwarden-settings", "PostgreSQL settings and exporter (pgwarden)", L.panels


def dashboard(uid, title, panels):
    return {
        "uid": uid, "title": title, "tags": ["postgresql", "pgwarden"],
        "timezone": "browser", "schemaVersion": 39, "version": 1, "editable": True,
        "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "templating": variables(),
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["pgwarden"], "asDropdown": True,
                   "title": "pgwarden dashboards"}],
        "panels": panels,
    }


def main():
    check = "--check" in sys.argv
    stale = []
    for build in (overview, activity, statements, settings):
        uid, title, panels = build()
        text = json.dumps(dashboard(uid, title, panels), indent=2, sort_keys=True) + "\n"
        path = os.path.join(HERE, uid.replace("pgwarden-", "") + ".json")
        if check:
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale dashboards (run dashboards/build.py): " + " ".join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
