#!/usr/bin/env bash
# From metrics to a page, for real: PostgreSQL 15, pgwarden, Prometheus
# (scraping every second, the shipped alert and recording rules with
# thresholds and `for` lowered by scripts/lib/lower_rules.py) and
# Alertmanager (the shipped routing, sending to a local webhook receiver).
# Asserts that a long-running query and a blocked chain page within a bounded
# time, with the root blocker's pid in the payload; that ending the blocker
# sends the resolved notification; and that every dashboard panel's query
# returns data through Prometheus' HTTP API.
# Usage: alerting_e2e.sh PATH_TO_PGWARDEN
set -euo pipefail

BIN=${1:?usage: alerting_e2e.sh PATH_TO_PGWARDEN}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init alerting

PG_PORT=$(free_port)
pg_start "$WORK/pg" "$PG_PORT"
DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
PSQL=(psql -X -q "$DSN")
"${PSQL[@]}" -c "CREATE EXTENSION pg_stat_statements;
  CREATE TABLE accounts (id int PRIMARY KEY, balance int);
  INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 10) g"

# pgwarden, with a 2 s long-running threshold (the lowered rule's).
start_pgwarden pgwarden "$BIN" --dsn "$DSN" --long_running_thresholds=2,300 \
  --stat_statements_include_query --blocking_query_length=80
WEBHOOK_SECONDS=600 start_alerting_stack "127.0.0.1:$PGWARDEN_PORT" 1s \
  --for 1s --long-running 2 --blocked-wait 1 --idle 2 --lock-wait 2

# The situation: a 5-minute report, and a session idle in its transaction
# holding a row lock with two sessions queued behind it.
PGAPPNAME=e2e-report spawn "$WORK/report.log" "${PSQL[@]}" -c "SELECT pg_sleep(300)"
mkfifo "$WORK/root.in"
PGAPPNAME=e2e-root spawn "$WORK/root.log" bash -c "exec psql -X -q '$DSN' <'$WORK/root.in'"
exec 7>"$WORK/root.in"
echo "BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = 1;" >&7
activity() {  # activity SQL_CONDITION EXPECTED: pg_stat_activity count matches
  [[ $(psql -X -Atc "SELECT count(*) FROM pg_stat_activity WHERE $1" "$DSN") == "$2" ]]
}
check "root blocker holds its lock" wait_until 10 \
  activity "application_name = 'e2e-root' AND state = 'idle in transaction'" 1
for i in 1 2; do
  PGAPPNAME=e2e-waiter spawn "$WORK/waiter$i.log" "${PSQL[@]}" \
    -c "UPDATE accounts SET balance = balance - 1 WHERE id = 1"
done
check "two sessions queue behind it" wait_until 10 \
  activity "application_name = 'e2e-waiter' AND wait_event_type = 'Lock'" 2
ROOT_PID=$(psql -X -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'e2e-root'" "$DSN")
echo "root blocker pid $ROOT_PID"

start=$SECONDS
check "long-running query pages within 90 s" wait_until 90 notified firing PostgresLongRunningQuery
check "blocked sessions page within 90 s, with the blocker's pid" \
  wait_until 90 notified firing PostgresBlockedSessions "pid $ROOT_PID "
check "the page carries the blocker's statement and the cancel command" \
  notified firing PostgresBlockedSessions "query: UPDATE accounts SET balance = balance + 1 WHERE id = 1;) blocks 2: SELECT pg_cancel_backend($ROOT_PID)"
echo "paged after $((SECONDS - start)) s"
# The chat message, rendered by deploy/alertmanager/pgwarden.tmpl.
chat_message() {
  python3 - "$WORK/notifications.jsonl" "$ROOT_PID" <<'PY'
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
}
check "the chat message names the blocker, its statement and the fix" wait_until 30 chat_message
critical_route() {
  python3 - "$WORK/notifications.jsonl" <<'PY'
import json, sys
ok = any(json.loads(l)["path"] == "/critical" and any(a["labels"]["alertname"] == "PostgresBlockedSessions"
         for a in json.loads(l)["payload"]["alerts"]) for l in open(sys.argv[1]))
sys.exit(0 if ok else 1)
PY
}
check "blocked sessions went to the critical receiver" critical_route

# Every dashboard panel's query returns data (Prometheus has scraped for a
# while now). Panels whose data cannot exist on this lone primary:
SKIP='Replication|Replication lag'
python3 "$HERE/dashboards/lint.py" "$HARNESS_ROOT/dashboards" --exprs >"$WORK/exprs.tsv"
check "dashboards have expressions" test -s "$WORK/exprs.tsv"
sleep 5
while IFS=$'\t' read -r file title expr; do
  if [[ $title =~ ^($SKIP)$ && $expr == *pg_stat_replication_* ]]; then
    echo "skipped (needs a standby): $file / $title: $expr"
    continue
  fi
  n=$(curl -fsS -G "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query" --data-urlencode "query=$expr" |
      python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))')
  check "panel $file / $title returns data: $expr" test "${n:-0}" -gt 0
done <"$WORK/exprs.tsv"

# End the blocker: the chain drains and the alert resolves.
"${PSQL[@]}" -c "SELECT pg_terminate_backend($ROOT_PID)" >/dev/null
exec 7>&-
check "resolved notification within 90 s" wait_until 90 notified resolved PostgresBlockedSessions

check_summary
