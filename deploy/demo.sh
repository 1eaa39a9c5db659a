#!/usr/bin/env bash
# pgwarden demo: builds pgwarden, starts a throwaway PostgreSQL 15 with a
# small live workload (pgbench at a low rate, a long-running report query,
# a session holding a row lock with a blocked chain behind it, and 3 s lock
# storms every 20 s that only the activity sampler sees), runs
# pgwarden against it, and Prometheus + Alertmanager with the shipped rules
# (demo thresholds: seconds instead of minutes) delivering to a local
# webhook receiver, and shows where to look. Ctrl-C stops everything.
#
# Environment: PGWARDEN_PORT (default 9187), DEMO_PG_PORT (default 55432),
# DEMO_PROMETHEUS_PORT (9090), DEMO_ALERTMANAGER_PORT (9093),
# DEMO_WEBHOOK_PORT (9095), DEMO_TLS_PORT (9443: a second pgwarden serving
# the same database over TLS with basic auth), DEMO_SECONDS (stop by itself after this many
# seconds; default: run until Ctrl-C), DEMO_CHECK=1 (exit non-zero unless the
# long-running query and the blocked sessions show up in /metrics and through
# /probe, and both alerts reach the webhook; used by the tests), PGWARDEN_BIN
# (a pgwarden to run instead of building one).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PGWARDEN_PORT=${PGWARDEN_PORT:-9187}
DEMO_PG_PORT=${DEMO_PG_PORT:-55432}
DEMO_SECONDS=${DEMO_SECONDS:-0}
DEMO_CHECK=${DEMO_CHECK:-0}
DEMO_PROMETHEUS_PORT=${DEMO_PROMETHEUS_PORT:-9090}
DEMO_ALERTMANAGER_PORT=${DEMO_ALERTMANAGER_PORT:-9093}
DEMO_WEBHOOK_PORT=${DEMO_WEBHOOK_PORT:-9095}
DEMO_TLS_PORT=${DEMO_TLS_PORT:-9443}

./scripts/install-deps.sh
source scripts/lib/harness.sh

echo "== building pgwarden"
build_release

harness_init demo
trap 'echo; echo "== stopping the demo"; exit 0' INT TERM

echo "== starting PostgreSQL 15 on 127.0.0.1:$DEMO_PG_PORT (data in $WORK/pg)"
pg_start "$WORK/pg" "$DEMO_PG_PORT" "log_lock_waits = on"
PSQL=(psql -X -q -h 127.0.0.1 -p "$DEMO_PG_PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE shop"
"${PSQL[@]}" -d postgres -f deploy/sql/monitoring-role.sql >/dev/null
"${PSQL[@]}" -d postgres -f deploy/sql/remediation-role.sql >/dev/null 2>&1
"${PSQL[@]}" -d shop -c "CREATE EXTENSION pg_stat_statements"
"$PG_BIN/pgbench" -q -i -s 2 -h 127.0.0.1 -p "$DEMO_PG_PORT" -U postgres shop >/dev/null 2>&1
"${PSQL[@]}" -d shop -c "CREATE TABLE ledger (id int PRIMARY KEY, balance int);
  INSERT INTO ledger SELECT g, 0 FROM generate_series(1, 10) g;
  CREATE TABLE settlement (id int);
  CREATE ROLE app_rw LOGIN; GRANT ALL ON ledger, settlement TO app_rw"

echo "== starting the workload"
# Steady traffic: 2 clients, 20 transactions/s, bounded by time.
PGBENCH_SECONDS=$DEMO_SECONDS
[[ $PGBENCH_SECONDS == 0 ]] && PGBENCH_SECONDS=86400
spawn "$WORK/pgbench.log" "$PG_BIN/pgbench" -c 2 -R 20 -T "$PGBENCH_SECONDS" \
  -h 127.0.0.1 -p "$DEMO_PG_PORT" -U postgres shop
# A report that runs for an hour.
PGAPPNAME=nightly-report spawn /dev/null "${PSQL[@]}" -d shop -c "SELECT pg_sleep(3600)"
# A batch that updated a ledger row and went idle in its transaction (a
# pgbench client sleeping inside its script: one process, stopped by PID)...
# (pgbench keeps \sleep in microseconds in an int: 1800 s at a time.)
{
  printf 'BEGIN;\nUPDATE ledger SET balance = balance + 1 WHERE id = 1;\n'
  for i in $(seq 1 48); do printf '\\sleep 1800 s\n'; done
  printf 'COMMIT;\n'
} >"$WORK/billing-batch.sql"
PGAPPNAME=billing-batch spawn /dev/null "$PG_BIN/pgbench" -n -c 1 -t 1 \
  -f "$WORK/billing-batch.sql" -h 127.0.0.1 -p "$DEMO_PG_PORT" -U app_rw shop
sleep 1
# ...so a payment on the same row waits, holding a lock on settlement that a
# third session needs: billing-batch -> payment -> audit.
PGAPPNAME=payment spawn /dev/null "${PSQL[@]}" -d shop -c "BEGIN; LOCK settlement IN SHARE MODE;
  UPDATE ledger SET balance = balance - 1 WHERE id = 1; COMMIT;"
sleep 1
PGAPPNAME=audit spawn /dev/null "${PSQL[@]}" -d shop -c "INSERT INTO settlement VALUES (1)"

echo "== starting pgwarden on :$PGWARDEN_PORT (and /probe for this server: $WORK/probe.yml)"
# /probe's configuration: how to log in (the monitoring role; the demo
# server trusts local connections) and the only server a probe may reach.
cat >"$WORK/probe.yml" <<YAML
auth_modules:
  demo:
    type: userpass
    userpass:
      username: pgwarden
allowed_targets:
  - "127.0.0.1:$DEMO_PG_PORT"
  - "localhost:$DEMO_PG_PORT"
YAML
# Remediation in dry run: it decides and audits what it would do to root
# blockers idle in their transaction, as the pg_signal_backend role, and
# signals nothing.
echo "host=127.0.0.1 port=$DEMO_PG_PORT dbname=shop user=pgwarden_remediation" \
  >"$WORK/remediation.dsn"
cat >"$WORK/remediation.yml" <<YAML
mode: dry_run
dsn_file: remediation.dsn
audit_log: remediation.jsonl
rules:
  - name: idle-blockers
    match:
      state: ["idle in transaction"]
      min_blocked_sessions: 2
      min_blocking_seconds: 10
      usename: [app_rw]
      application_name: ["billing-*"]
    action: cancel_then_terminate
    grace_seconds: 10
YAML
PGWARDEN_LISTEN=":$PGWARDEN_PORT" start_pgwarden pgwarden "$PGWARDEN_BIN" \
  --dsn "host=127.0.0.1 port=$DEMO_PG_PORT dbname=shop user=pgwarden" \
  --long_running_thresholds=10,60,300,900,3600 --blocking_query_length=80 \
  --config.file="$WORK/probe.yml" --remediation.config="$WORK/remediation.yml"

echo "== starting pgwarden over TLS with basic auth on :$DEMO_TLS_PORT (web config: $WORK/tls)"
# A throwaway CA, certificate and scrape password, as compose.tls.yml makes them.
TLS_DIR=$WORK/tls sh deploy/docker/make-tls.sh
spawn "$WORK/pgwarden-tls.log" "$PGWARDEN_BIN" \
  --dsn "host=127.0.0.1 port=$DEMO_PG_PORT dbname=shop user=pgwarden" \
  --web.listen-address=":$DEMO_TLS_PORT" --web.config.file="$WORK/tls/web-config.yml"
TLS_CURL=(curl -s --cacert "$WORK/tls/ca.crt" -u "prometheus:$(cat "$WORK/tls/scrape-password")")

echo "== starting Prometheus :$DEMO_PROMETHEUS_PORT and Alertmanager :$DEMO_ALERTMANAGER_PORT (shipped rules, demo thresholds)"
# The shipped rules and routing, with thresholds in seconds (lower_rules.py
# changes nothing else), so the alerts fire within a minute.
PROMETHEUS_PORT=$DEMO_PROMETHEUS_PORT ALERTMANAGER_PORT=$DEMO_ALERTMANAGER_PORT \
  WEBHOOK_PORT=$DEMO_WEBHOOK_PORT STACK_HOST="" WEBHOOK_SECONDS=86400 \
  start_alerting_stack "127.0.0.1:$PGWARDEN_PORT" 5s \
  --for 5s --long-running 10 --blocked-wait 5 --idle 20 --lock-wait 20
# Lock storms too short for a 15 s scrape to see: every 20 s a
# "reconcile" job holds ledger row 2 for 3 s while a "checkout" waits on it.
# Only the activity sampler (one sample a second) counts them.
STORMS=$((PGBENCH_SECONDS / 20 + 1))
((STORMS > 4320)) && STORMS=4320
spawn /dev/null bash -c "for i in \$(seq 1 $STORMS); do
  PGAPPNAME=reconcile timeout 30 psql -X -q -h 127.0.0.1 -p $DEMO_PG_PORT -U postgres -d shop \\
    -c 'BEGIN' -c 'UPDATE ledger SET balance = balance WHERE id = 2' -c 'SELECT pg_sleep(3)' -c 'COMMIT' &
  sleep 0.3
  PGAPPNAME=checkout timeout 30 psql -X -q -h 127.0.0.1 -p $DEMO_PG_PORT -U postgres -d shop \\
    -c 'UPDATE ledger SET balance = balance WHERE id = 2'
  wait
  sleep 17
done"

show() {
  curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics" |
    grep -E '^(pg_up|pg_blocked_sessions\{datname="shop"|pg_blocking_root_sessions\{datname="shop"|pg_blocking_session_info|pg_long_running_queries\{datname="shop",threshold_seconds="10"|pg_stat_activity_max_query_duration_seconds\{datname="shop",state="active"|pg_locks_waiting\{)' || true
}

cat <<MSG

pgwarden is running against a live demo database.

  Metrics:       http://localhost:$PGWARDEN_PORT/metrics
  Landing page:  http://localhost:$PGWARDEN_PORT/
  Log:           $WORK/pgwarden.log
  Prometheus:    http://localhost:$DEMO_PROMETHEUS_PORT/alerts  (the shipped rules; demo thresholds)
  Alertmanager:  http://localhost:$DEMO_ALERTMANAGER_PORT/
  Pages sent:    $WORK/notifications.jsonl  (what a pager would receive)
  Dashboards:    dashboards/*.json, for Grafana (deploy/docker/compose.yml provisions them)
  Over TLS:      https://localhost:$DEMO_TLS_PORT/metrics  (basic auth; web config in $WORK/tls)
                 ${TLS_CURL[*]} https://localhost:$DEMO_TLS_PORT/metrics
  Fleet mode:    one pgwarden probing servers by name, as postgres_exporter's /probe:
                 curl -s 'localhost:$PGWARDEN_PORT/probe?target=localhost:$DEMO_PG_PORT/shop&auth_module=demo'
                 a server outside allowed_targets ($WORK/probe.yml) is refused (403):
                 curl -s 'localhost:$PGWARDEN_PORT/probe?target=169.254.169.254:5432&auth_module=demo'

Within a minute PostgresLongRunningQuery and PostgresBlockedSessions fire; the
blocked-sessions page names the root blocker's pid (billing-batch).

Look for:
  curl -s localhost:$PGWARDEN_PORT/metrics | grep -E '^pg_(blocked|blocking|long_running|locks_waiting)'

  pg_blocking_session_info names the session to cancel (pid, user, application);
  the nightly-report query crosses pg_long_running_queries{threshold_seconds="10"}
  about 10 s after start.

  The statements busiest lately (pg_stat_statements, read every 2 minutes; the
  counters never go backwards as statements enter and leave the top 100):
  curl -s localhost:$PGWARDEN_PORT/metrics | grep '^pg_stat_statements_seconds_total'
  and in Prometheus: topk(5, statement:pg_stat_statements_time_share:ratio_rate5m)

Between the scrapes (the activity sampler, one sample a second on its own
connection): every 20 s a 3 s lock storm that a 15 s scrape mostly misses.
  curl -s localhost:$PGWARDEN_PORT/metrics | grep -E '^pg_(lock_wait_duration|blocking_seconds|wait_event_seconds)'
  pg_lock_wait_duration_seconds counts every storm's wait; pg_blocking_seconds_total
  credits the waiting to "reconcile" and "billing-batch"; in Prometheus:
  sum by (wait_event_type) (rate(pg_wait_event_seconds_total[1m]))

Remediation, in dry run ($WORK/remediation.yml): about 20 s in, the audit log
says it would terminate billing-batch (idle in its transaction, blocking two);
nothing is signalled until the policy says mode: enforce.
  cat $WORK/remediation.jsonl
  $PGWARDEN_BIN --remediation.config=$WORK/remediation.yml --remediation.check
  curl -s localhost:$PGWARDEN_PORT/metrics | grep '^pgwarden_remediation_actions_total.*would_do'

Per-database collectors (tables, indexes) visit every database in the
background, spread over their interval, never inside a scrape:
  curl -s localhost:$PGWARDEN_PORT/metrics | grep -E '^pgwarden_database(s|_visit)'
  curl -s localhost:$PGWARDEN_PORT/metrics | grep '^pg_stat_user_tables_n_live_tup'

Right now:
MSG
show

if [[ $DEMO_CHECK == 1 ]]; then
  # Each check below polls through wait_until (scripts/lib/common.sh).
  chain_visible() {
    m=$(curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics")
    grep -qx 'pg_blocked_sessions{datname="shop"} 2' <<<"$m" &&
      grep -q '^pg_blocking_session_info{.*application_name="billing-batch".*} 2$' <<<"$m" &&
      grep -qx 'pg_long_running_queries{datname="shop",threshold_seconds="10"} 1' <<<"$m" &&
      grep -q '^pg_stat_statements_calls_total{user="postgres",datname="shop",queryid="other"} ' <<<"$m" &&
      grep -q '^pg_stat_statements_deallocations_total ' <<<"$m" &&
      grep -qE '^pg_lock_wait_duration_seconds_count\{datname="shop"\} [1-9]' <<<"$m" &&
      grep -qE '^pg_blocking_seconds_total\{datname="shop",usename="postgres",application_name="reconcile"\} [1-9]' <<<"$m"
  }
  ok=0
  wait_until 90 chain_visible && ok=1
  echo
  echo "After the long-running threshold:"
  show
  if [[ $ok != 1 ]]; then
    echo "demo check FAILED: blocked chain, long-running query, statements or sampled lock waits not visible" >&2
    exit 1
  fi
  alerts_paged() {
    notified firing PostgresLongRunningQuery && notified firing PostgresBlockedSessions
  }
  paged=0
  wait_until 120 alerts_paged && paged=1
  if [[ $paged != 1 ]]; then
    echo "demo check FAILED: the alerts did not reach the webhook" >&2
    exit 1
  fi
  probe_url="http://127.0.0.1:$PGWARDEN_PORT/probe?target=localhost:$DEMO_PG_PORT/shop&auth_module=demo"
  probed=$(curl -fsS "$probe_url")
  # 2 blocked by billing-batch, 3 while a lock storm's checkout waits too.
  if ! grep -qx 'pg_up 1' <<<"$probed" || ! grep -qxE 'pg_blocked_sessions\{datname="shop"\} [23]' <<<"$probed"; then
    echo "demo check FAILED: /probe of the demo server does not show it" >&2
    exit 1
  fi
  refused=$(curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$PGWARDEN_PORT/probe?target=169.254.169.254:5432&auth_module=demo")
  if [[ $refused != 403 ]]; then
    echo "demo check FAILED: /probe of a server outside allowed_targets answered $refused" >&2
    exit 1
  fi
  echo "/probe: the demo server through its name, pg_up 1 and the blocked chain; 169.254.169.254 refused (403)"
  would_terminate() {
    grep -q '"action":"terminate","result":"would_do".*"application_name":"billing-batch"' \
      "$WORK/remediation.jsonl" 2>/dev/null &&
      m=$(curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics") &&
      grep -qx 'pgwarden_remediation_actions_total{rule="idle-blockers",action="terminate",result="would_do"} 1' <<<"$m"
  }
  would=0
  wait_until 60 would_terminate && would=1
  if [[ $would != 1 ]] || ! grep -qx 'pg_blocked_sessions{datname="shop"} [23]' \
       <(curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics"); then
    echo "demo check FAILED: dry-run remediation did not audit billing-batch, or signalled it" >&2
    exit 1
  fi
  echo "remediation (dry run): would terminate billing-batch; the chain is still there"
  visited_in_background() {
    m=$(curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics")
    grep -q '^pg_stat_user_tables_seq_scan{datname="shop",' <<<"$m" &&
      grep -qE '^pgwarden_database_visits_total [1-9]' <<<"$m" &&
      grep -qE '^pgwarden_databases [2-9]' <<<"$m"
  }
  visited=0
  wait_until 60 visited_in_background && visited=1
  if [[ $visited != 1 ]]; then
    echo "demo check FAILED: the per-database collectors did not visit shop in the background" >&2
    exit 1
  fi
  echo "per-database collectors: $(grep -E '^pgwarden_databases ' <<<"$m" | cut -d' ' -f2) databases visited in the background"
  echo "Pages received:"
  # Webhook notifications (the chat messages go to the same file).
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    for a in json.loads(l)["payload"].get("alerts", []):
        print("  " + a["status"], a["labels"]["alertname"], a["annotations"].get("blockers", ""))' \
    "$WORK/notifications.jsonl" | sort -u
  echo "demo check passed"
fi

# Waiting on a background sleep lets the traps run as soon as a signal comes.
if [[ $DEMO_SECONDS != 0 ]]; then
  spawn /dev/null sleep "$DEMO_SECONDS"
else
  echo
  echo "Press Ctrl-C to stop."
  spawn /dev/null sleep infinity
fi
wait "$SPAWNED" || true
echo "== stopping the demo"
