#!/usr/bin/env bash
# From metrics to a page, for real: PostgreSQL 15, pgwarden, Prometheus
# (scraping every second, the shipped alert and recording rules with
# thresholds and `for` lowered by tests/lib/lower_rules.py) and Alertmanager
# (the shipped routing, sending to a local webhook receiver).
# Asserts that a long-running query and a blocked chain page within a bounded
# time, with the root blocker's pid in the payload; that ending the blocker
# sends the resolved notification; and that every dashboard panel's query
# returns data through Prometheus' HTTP API.
# Usage: alerting_e2e.sh PATH_TO_PGWARDEN
set -uo pipefail

BIN=${1:?usage: alerting_e2e.sh PATH_TO_PGWARDEN}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(cd "$HERE/.." && pwd)
source "$HERE/lib/pg.sh"
CHECK_SUITE=alerting
source "$HERE/lib/check.sh"
WORK=$(mktemp -d /tmp/pgwarden-alerting.XXXXXX)
chmod 755 "$WORK"
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  pg_stop "$WORK/pg"
  [[ -n ${KEEP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# wait_until SECONDS COMMAND...: polls every 0.5 s; 0 when it succeeded.
wait_until() {
  local end=$((SECONDS + $1))
  shift
  while ((SECONDS < end)); do
    "$@" && return 0
    sleep 0.5
  done
  "$@"
}

PG_PORT=$(pg_free_port)
pg_start "$WORK/pg" "$PG_PORT" || exit 1
DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
PSQL=(psql -X -q "$DSN")
"${PSQL[@]}" -c "CREATE EXTENSION pg_stat_statements;
  CREATE TABLE accounts (id int PRIMARY KEY, balance int);
  INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 10) g"

# pgwarden, with a 2 s long-running threshold (the lowered rule's).
EXP_PORT=$(pg_free_port)
"$BIN" --web_listen_address="127.0.0.1:$EXP_PORT" --dsn "$DSN" \
  --long_running_thresholds=2,300 --stat_statements_include_query --blocking_query_length=80 \
  >"$WORK/pgwarden.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$EXP_PORT/healthz" || exit 1

# Webhook receiver, Alertmanager, Prometheus.
HOOK_PORT=$(pg_free_port)
python3 "$HERE/lib/webhook_receiver.py" "$HOOK_PORT" "$WORK/notifications.jsonl" 600 &
PIDS+=($!)
cp "$ROOT/deploy/alertmanager/pgwarden.tmpl" "$WORK/"
python3 "$HERE/lib/lower_rules.py" alertmanager "$ROOT/deploy/alertmanager/alertmanager.yml" \
  "$WORK/alertmanager.yml" --webhook "http://127.0.0.1:$HOOK_PORT" || exit 1
AM_PORT=$(pg_free_port)
AM_CLUSTER_PORT=$(pg_free_port)
prometheus-alertmanager --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address="" \
  >"$WORK/alertmanager.log" 2>&1 &
PIDS+=($!)
python3 "$HERE/lib/lower_rules.py" rules "$ROOT/deploy/prometheus/pgwarden-alerts.yml" \
  "$WORK/alerts.yml" --for 1s --long-running 2 --blocked-wait 1 --idle 2 --lock-wait 2 || exit 1
cp "$ROOT/deploy/prometheus/pgwarden-recording.yml" "$WORK/recording.yml"
PROM_PORT=$(pg_free_port)
python3 "$HERE/lib/lower_rules.py" prometheus "$ROOT/deploy/prometheus/prometheus.yml" \
  "$WORK/prometheus.yml" --target "127.0.0.1:$EXP_PORT" --alertmanager "127.0.0.1:$AM_PORT" \
  --interval 1s --rules "$WORK/alerts.yml,$WORK/recording.yml" || exit 1
promtool check config "$WORK/prometheus.yml" >/dev/null || { echo "bad prometheus.yml" >&2; exit 1; }
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" || { tail "$WORK/prometheus.log"; exit 1; }
wait_http "http://127.0.0.1:$AM_PORT/-/ready" || { tail "$WORK/alertmanager.log"; exit 1; }

# The situation: a 5-minute report, and a session idle in its transaction
# holding a row lock with two sessions queued behind it.
PGAPPNAME=e2e-report "${PSQL[@]}" -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
PIDS+=($!)
mkfifo "$WORK/root.in"
PGAPPNAME=e2e-root psql -X -q "$DSN" <"$WORK/root.in" >/dev/null 2>&1 &
PIDS+=($!)
exec 7>"$WORK/root.in"
echo "BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = 1;" >&7
check "root blocker holds its lock" wait_until 10 bash -c \
  "[ \"\$(psql -X -Atc \"SELECT state FROM pg_stat_activity WHERE application_name = 'e2e-root'\" '$DSN')\" = 'idle in transaction' ]"
for i in 1 2; do
  PGAPPNAME=e2e-waiter "${PSQL[@]}" -c "UPDATE accounts SET balance = balance - 1 WHERE id = 1" \
    >/dev/null 2>&1 &
  PIDS+=($!)
done
check "two sessions queue behind it" wait_until 10 bash -c \
  "[ \"\$(psql -X -Atc \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'e2e-waiter' AND wait_event_type = 'Lock'\" '$DSN')\" = 2 ]"
ROOT_PID=$(psql -X -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'e2e-root'" "$DSN")
echo "root blocker pid $ROOT_PID"

# firing NAME [TEXT]: a firing notification for alert NAME arrived (whose
# JSON contains TEXT).
notified() {  # notified STATUS NAME [TEXT]
  python3 - "$WORK/notifications.jsonl" "$@" <<'PY'
import json, sys
path, status, name = sys.argv[1:4]
text = sys.argv[4] if len(sys.argv) > 4 else ""
for line in open(path):
    n = json.loads(line)["payload"]
    for a in n.get("alerts", []):
        if a["labels"].get("alertname") == name and a["status"] == status and text in json.dumps(a):
            sys.exit(0)
sys.exit(1)
PY
}
start=$SECONDS
check "long-running query pages within 90 s" wait_until 90 notified firing PostgresLongRunningQuery
check "blocked sessions page within 90 s, with the blocker's pid" \
  wait_until 90 notified firing PostgresBlockedSessions "pid $ROOT_PID "
check "the page carries the blocker's statement and the cancel command" \
  notified firing PostgresBlockedSessions "query: UPDATE accounts SET balance = balance + 1 WHERE id = 1;) blocks 2: SELECT pg_cancel_backend($ROOT_PID)"
echo "paged after $((SECONDS - start)) s"
# The chat message, rendered by deploy/alertmanager/pgwarden.tmpl.
check "the chat message names the blocker, its statement and the fix" wait_until 30 python3 - \
  "$WORK/notifications.jsonl" "$ROOT_PID" <<'PY'
import json, sys
path, pid = sys.argv[1], sys.argv[2]
for line in open(path):
    n = json.loads(line)
    text = json.dumps(n["payload"].get("attachments", [])) if n["path"].startswith("/slack/") else ""
    if ("PostgresBlockedSessions" in text and f"pid {pid} " in text
            and "UPDATE accounts" in text and f"SELECT pg_cancel_backend({pid})" in text
            and "What to do:" in text):
        sys.exit(0)
sys.exit(1)
PY
check "blocked sessions went to the critical receiver" python3 - "$WORK/notifications.jsonl" <<'PY'
import json, sys
ok = any(json.loads(l)["path"] == "/critical" and any(a["labels"]["alertname"] == "PostgresBlockedSessions"
         for a in json.loads(l)["payload"]["alerts"]) for l in open(sys.argv[1]))
sys.exit(0 if ok else 1)
PY

# Every dashboard panel's query returns data (Prometheus has scraped for a
# while now). Panels whose data cannot exist on this lone primary:
SKIP='Replication|Replication lag'
python3 "$HERE/dashboards/lint.py" "$ROOT/dashboards" --exprs >"$WORK/exprs.tsv"
check "dashboards have expressions" test -s "$WORK/exprs.tsv"
sleep 5
while IFS=$'\t' read -r file title expr; do
  if [[ $title =~ ^($SKIP)$ && $expr == *pg_stat_replication_* ]]; then
    echo "skipped (needs a standby): $file / $title: $expr"
    continue
  fi
  n=$(curl -fsS -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$expr" |
      python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))')
  check "panel $file / $title returns data: $expr" test "${n:-0}" -gt 0
done <"$WORK/exprs.tsv"

# End the blocker: the chain drains and the alert resolves.
"${PSQL[@]}" -c "SELECT pg_terminate_backend($ROOT_PID)" >/dev/null
exec 7>&-
check "resolved notification within 90 s" wait_until 90 notified resolved PostgresBlockedSessions

check_summary
