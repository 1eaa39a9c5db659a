#!/usr/bin/env bash
# From metrics to a page, for real: PostgreSQL 15, pgwarden, Prometheus
# (scraping every second, the shipped alert and recording rules with
# thresholds and `for` lowered by scripts/lib/lower_rules.py) and
# Alertmanager (the shipped routing, sending to a local webhook receiver).
# Asserts that a long-running query and a blocked chain page within a bounded
# time, with the root blocker's pid in the payload; that ending the blocker
# sends the resolved notification; that remediation (enforce, the shipped
# role) ends that chain when its rule matches, with the action's alert and
# the blocked sessions' resolved one both reaching the webhook; that every
# dashboard panel's query
# returns data through Prometheus' HTTP API; and, over statements that move
# in and out of the top N, that no pg_stat_statements counter resets and the
# recording rules' share of time equals the view's.
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

# Remediation, enforced, as the shipped role: it ends root blockers idle in
# a transaction whose application says "e2e-runaway" (none, until the end).
"${PSQL[@]}" -f "$HERE/../deploy/sql/remediation-role.sql"
echo "host=127.0.0.1 port=$PG_PORT user=pgwarden_remediation dbname=postgres" \
  >"$WORK/remediation.dsn"
cat >"$WORK/remediation.yml" <<YAML
mode: enforce
dsn_file: remediation.dsn
audit_log: audit.jsonl
rules:
  - name: runaway-transactions
    match:
      state: ["idle in transaction"]
      min_blocked_sessions: 1
      application_name: ["e2e-runaway"]
    action: cancel_then_terminate
    grace_seconds: 2
YAML

# pgwarden, with a 2 s long-running threshold (the lowered rule's).
start_pgwarden pgwarden "$BIN" --dsn "$DSN" --long_running_thresholds=2,300 \
  --stat_statements_limit=3 --collector_min_interval=stat_statements=0 \
  --stat_statements_include_query --blocking_query_length=80 \
  --remediation.config="$WORK/remediation.yml"
WEBHOOK_SECONDS=600 STACK_RECORDING_WINDOW=30s start_alerting_stack "127.0.0.1:$PGWARDEN_PORT" 1s \
  --for 1s --long-running 2 --blocked-wait 1 --idle 2 --lock-wait 2

# Statements that churn through a top 3 for about 15 s, then two steady
# ones for about 60 s: A (30 ms a call) and B (10 ms), as role churn. Shape
# k is "SELECT pg_sleep(s)" and k columns more: a queryid of its own.
# pgwarden reads once before churn exists: counting starts at pgwarden's
# first read, and all churn does must be counted.
curl -fsS -o /dev/null "$PGWARDEN_URL/metrics"
"${PSQL[@]}" -c "CREATE ROLE churn LOGIN"
shape() { printf 'SELECT pg_sleep(%s)' "$2"; for ((c = 0; c < $1; c++)); do printf ', 1'; done; echo ';'; }
{
  for round in $(seq 0 7); do
    for k in $(seq 1 12); do
      if ((k > round && k <= round + 3)); then shape "$k" 0.3; shape "$k" 0.3; else shape "$k" 0.002; fi
    done
  done
  for i in $(seq 1 1500); do shape 1 0.03; shape 2 0.01; done
} >"$WORK/churn.sql"
spawn "$WORK/churn.log" psql -X -q "host=127.0.0.1 port=$PG_PORT user=churn dbname=postgres" \
  -f "$WORK/churn.sql"
CHURN_PID=$SPAWNED
# The view's totals once a second (all, role churn's, A's), to compare
# Prometheus' rates and shares with.
A_TEXT='SELECT pg_sleep($1), $2'
cat >"$WORK/view.sql" <<SQL
SELECT extract(epoch FROM clock_timestamp()), sum(total_exec_time),
       coalesce(sum(total_exec_time) FILTER (WHERE userid = 'churn'::regrole), 0),
       coalesce(sum(total_exec_time) FILTER (WHERE query = '$A_TEXT'
                AND userid = 'churn'::regrole), 0)
FROM pg_stat_statements;
SQL
spawn /dev/null bash -c "for i in \$(seq 1 150); do
  psql -X -At '$DSN' -f '$WORK/view.sql' >>'$WORK/view.tsv'; sleep 1; done"

# A lock wait that comes and goes (1.5 s), for the sampler's lock-wait
# histogram and its dashboard heatmap.
timeout 30 "${PSQL[@]}" -c "BEGIN" -c "UPDATE accounts SET balance = balance WHERE id = 10" \
  -c "SELECT pg_sleep(1.5)" -c "COMMIT" &
BRIEF_HOLDER=$!
sleep 0.2
timeout 30 "${PSQL[@]}" -c "UPDATE accounts SET balance = balance WHERE id = 10"
wait "$BRIEF_HOLDER"

# The situation: a 5-minute report, and a session idle in its transaction
# holding a row lock with two sessions queued behind it.
PGAPPNAME=e2e-report spawn "$WORK/report.log" "${PSQL[@]}" -c "SELECT pg_sleep(300)"
mkfifo "$WORK/root.in"
# The application's role, not a superuser: remediation never signals those.
"${PSQL[@]}" -c "CREATE ROLE e2e_app LOGIN; GRANT ALL ON accounts TO e2e_app"
APP_DSN="host=127.0.0.1 port=$PG_PORT user=e2e_app dbname=postgres"
PGAPPNAME=e2e-root spawn "$WORK/root.log" bash -c "exec psql -X -q '$APP_DSN' <'$WORK/root.in'"
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

# Statements. While the steady phase runs, once it has filled the
# recording rules' 30 s window (A has run 850 times: 35 s), Prometheus'
# share and rate against the view's; once churn is done, everything it did
# against what Prometheus counted.
prom() {  # prom EXPR [TIME]: the instant query's result as JSON
  curl -fsS -G "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query" --data-urlencode "query=$1" \
    ${2:+--data-urlencode "time=$2"}
}
a_stat() {  # a_stat COLUMN: statement A's, from the view
  psql -X -At "$DSN" -c "SELECT $1 FROM pg_stat_statements
    WHERE query = '$A_TEXT' AND userid = 'churn'::regrole"
}
a_steady_for_35s() { [[ $(a_stat calls) -ge 850 ]]; }
check "the steady phase runs 35 s within 150 s" wait_until 150 a_steady_for_35s
A_ID=$(a_stat queryid)
AT=$(date +%s.%N)
sleep 2  # Prometheus has ingested the scrapes up to AT
prom "statement:pg_stat_statements_time_share:ratio_rate5m{user=\"churn\",queryid=\"$A_ID\"}" \
  "$AT" >"$WORK/share.json"
prom 'sum by (user, datname) (rate(pg_stat_statements_seconds_total{user="churn"}[30s]))' "$AT" \
  >"$WORK/rate.json"
check "the statement workload finishes within 120 s" wait_until 120 \
  bash -c "! kill -0 $CHURN_PID 2>/dev/null"
sleep 2
prom 'pg_stat_statements_seconds_total{user="churn"}[10m]' >"$WORK/samples.json"
check "no pg_stat_statements counter went down" python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if r and float(r[0]["value"][1]) == 0 else 1)' \
  <<<"$(prom 'sum(resets(pg_stat_statements_calls_total[10m]) + resets(pg_stat_statements_seconds_total[10m]))')"
check "statements moved in and out of the top 3" python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if r and float(r[0]["value"][1]) > 3 else 1)' \
  <<<"$(prom 'count(count_over_time(pg_stat_statements_calls_total{user="churn",queryid!="other"}[10m]))')"
# compare_with_view KIND: Prometheus' figure against the view's, printed.
# KIND is share (A's share of all execution time over the 30 s to AT, the
# recording rule: within 0.03), rate (role churn's summed rate() over the
# same 30 s: within 2%, as Prometheus' and the view's samples are up to a
# second apart) or increase (every churn series' increase over the whole
# run, as Prometheus counts it from the raw samples: their sum within 1% of
# all the execution time the view has for role churn at the last sample).
compare_with_view() {
  python3 - "$1" "$WORK" <<'PY'
import json, sys
kind, work = sys.argv[1:]
def result(name):
    return json.load(open(f"{work}/{name}.json"))["data"]["result"]
share, rate, samples = result("share"), result("rate"), result("samples")
if not share or not rate or not samples:
    sys.exit("no share, rate or samples recorded for role churn")
rows = [tuple(map(float, l.split("|"))) for l in open(f"{work}/view.tsv") if l.count("|") == 3]
def at(t, column):  # the view's column at time t, interpolated
    before = max((r for r in rows if r[0] <= t), key=lambda r: r[0])
    after = min((r for r in rows if r[0] >= t), key=lambda r: r[0])
    if after[0] - before[0] > 3:
        sys.exit(f"no view sample near {t}")
    f = (t - before[0]) / (after[0] - before[0]) if after[0] > before[0] else 0
    return (before[column] + f * (after[column] - before[column])) / 1000
end = float(share[0]["value"][0])
start = end - 30
TOTAL, CHURN, A = 1, 2, 3
if kind == "share":
    got = float(share[0]["value"][1])
    want = (at(end, A) - at(start, A)) / (at(end, TOTAL) - at(start, TOTAL))
    ok = abs(got - want) < 0.03
elif kind == "rate":
    got, want = float(rate[0]["value"][1]), (at(end, CHURN) - at(start, CHURN)) / 30
    ok = abs(got - want) <= 0.02 * want
else:
    last = max(float(s["values"][-1][0]) for s in samples)
    got = sum(float(s["values"][-1][1]) - float(s["values"][0][1]) for s in samples)
    want = at(last, CHURN)
    ok = want > 0 and abs(got - want) <= 0.01 * want
span = "over the whole run" if kind == "increase" else "over 30 s"
print(f"{kind} of execution time {span}: Prometheus {got:.4f}, view {want:.4f}")
sys.exit(0 if ok else 1)
PY
}
check "the recording rule's share of time equals the view's" compare_with_view share
check "role churn's summed rate of execution time equals the view's" compare_with_view rate
check "every second role churn spent is counted, within 1%" compare_with_view increase

# The blocker turns into what the remediation rule names: after its 2 s
# grace, remediation terminates it (one action), the chain drains, the
# action pages and the blocked sessions' alert resolves.
check "remediation left the chain alone until its rule matched" \
  activity "pid = $ROOT_PID" 1
echo "SET application_name = 'e2e-runaway';" >&7
check "remediation terminates the root blocker within 20 s" wait_until 20 \
  activity "pid = $ROOT_PID" 0
exec 7>&-
check "the waiters proceed" wait_until 10 activity "application_name = 'e2e-waiter'" 0
check "the audit log has the action, with the pid" grep -q \
  "\"action\":\"terminate\",\"result\":\"done\",\"pid\":$ROOT_PID," "$WORK/audit.jsonl"
check "exactly one action is counted" bash -c "curl -fsS '$PGWARDEN_URL/metrics' |
  awk '/^pgwarden_remediation_actions_total.*result=\"done\"/ {s += \$2} END {exit s != 1}'"
check "the remediation action pages within 60 s, saying what was done" wait_until 60 \
  notified firing PostgresRemediationActed "pg_terminate_backend) 1 root blocker(s) under rule runaway-transactions"
check "resolved notification within 90 s" wait_until 90 notified resolved PostgresBlockedSessions

check_summary
