#!/usr/bin/env bash
# Many databases on one server: the per-database collectors' cost, before
# (in the scrape) and after (the background visitor). One PostgreSQL 15; for
# each size in SIZES (default "10 100 500") databases of 5 tables each, and
# each binary given, pgwarden with its defaults except the per-database
# collectors' interval (INTERVAL, default 20 s, so a run of RUN_SECONDS,
# default 45, sees two rounds). It is scraped once a second (10 s timeout).
# Per run: scrape p50/p99/max, scrapes whose stat_user_tables failed,
# databases in the last answer, pgwarden's CPU per minute, the server's CPU
# per minute (the postmaster and all its children, exited ones included:
# connection start-up is part of the cost) and connections opened per minute.
# Usage: databases_bench.sh AFTER_PGWARDEN [BEFORE_PGWARDEN]
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
AFTER_BIN=${1:?usage: databases_bench.sh AFTER_PGWARDEN [BEFORE_PGWARDEN]}
BEFORE_BIN=${2:-}
SIZES=${SIZES:-10 100 500}
INTERVAL=${INTERVAL:-20}
RUN_SECONDS=${RUN_SECONDS:-45}
harness_init databases-bench

PORT=$(free_port)
pg_start "$WORK/pg" "$PORT" "max_connections = 200"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench" -c "CREATE DATABASE bench_tpl"
"${PSQL[@]}" -d bench_tpl -c "DO \$\$ BEGIN FOR i IN 1..5 LOOP
    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i); END LOOP; END \$\$"
"${PSQL[@]}" -d postgres -c "ALTER DATABASE bench_tpl WITH ALLOW_CONNECTIONS false"
POSTMASTER=$(head -1 "$WORK/pg/data/postmaster.pid")
HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The server's CPU ticks: the postmaster's own and reaped children's, and
# the live children's.
server_ticks() {
  local total child
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$POSTMASTER/stat")
  for child in $(ps --ppid "$POSTMASTER" -o pid= 2>/dev/null); do
    total=$((total + $(cpu_ticks "$child" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
pct() {  # pct P FILE: the P-th percentile of FILE's numbers, in ms
  sort -n "$2" | awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.0f", v[i] * 1000}'
}
per_minute() {  # per_minute TICKS SECONDS: CPU seconds per minute
  awk -v t="$1" -v s="$2" -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz * 60 / s}'
}
metric() {  # metric FILE NAME: the value of an unlabelled series
  awk -v n="$2" '$1 == n {print $2}' "$1" | tail -1
}

ROWS=()
# run NAME BIN DATABASES
run() {
  local name=$1 bin=$2 n=$3 interval_flag
  interval_flag="stat_user_tables=$INTERVAL,statio_user_tables=$INTERVAL,indexes=$INTERVAL,partitions=$INTERVAL"
  start_pgwarden "$name" "$bin" --dsn "host=127.0.0.1 port=$PORT dbname=bench user=postgres" \
    --collector_min_interval="$interval_flag"
  local times=$WORK/$name-$n.times last=$WORK/$name-$n.last failed=0 scrapes=0
  : >"$times"
  local p0 s0 start now next
  p0=$(cpu_ticks "$PGWARDEN_PID")
  s0=$(server_ticks)
  start=$(date +%s.%N)
  next=$start
  while awk -v a="$(date +%s.%N)" -v b="$start" -v r="$RUN_SECONDS" 'BEGIN {exit !(a - b < r)}'; do
    curl -fsS --max-time 15 -o "$last" -w '%{time_total}\n' "$PGWARDEN_URL/metrics" >>"$times" ||
      echo 15 >>"$times"
    scrapes=$((scrapes + 1))
    grep -q '^pg_scrape_collector_success{collector="stat_user_tables"} 0' "$last" &&
      failed=$((failed + 1))
    next=$(awk -v n="$next" 'BEGIN {printf "%.3f", n + 1}')
    now=$(date +%s.%N)
    awk -v n="$next" -v t="$now" 'BEGIN {exit !(n > t)}' &&
      sleep "$(awk -v n="$next" -v t="$now" 'BEGIN {printf "%.3f", n - t}')"
  done
  local elapsed p1 s1 opened databases
  elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN {printf "%.1f", a - b}')
  p1=$(cpu_ticks "$PGWARDEN_PID")
  s1=$(server_ticks)
  opened=$(metric "$last" pgwarden_connections_opened_total)
  databases=$(grep -oE '^pg_stat_user_tables_seq_scan(_total)?\{datname="[^"]*"' "$last" |
    sort -u | wc -l || true)
  stop "$PGWARDEN_PID"
  ROWS+=("| $n | $name | $scrapes | $(pct 50 "$times") / $(pct 99 "$times") / $(pct 100 "$times") ms | $failed | $databases | $(per_minute $((p1 - p0)) "$elapsed") s | $(per_minute $((s1 - s0)) "$elapsed") s | $(awk -v o="${opened:-0}" -v s="$elapsed" 'BEGIN {printf "%.0f", o * 60 / s}') |")
}

have=0
for n in $SIZES; do
  for ((i = have; i < n; i++)); do echo "CREATE DATABASE db_$i TEMPLATE bench_tpl;"; done |
    "${PSQL[@]}" -d postgres
  have=$n
  "${PSQL[@]}" -d postgres -c "CHECKPOINT"
  [[ -n $BEFORE_BIN ]] && run before "$BEFORE_BIN" "$n"
  run after "$AFTER_BIN" "$n"
done

echo
echo "PostgreSQL 15, databases of 5 tables each (plus 'bench', the connected one);" \
  "per-database collectors every $INTERVAL s; a scrape a second for $RUN_SECONDS s:"
echo
echo "| databases | pgwarden | scrapes | scrape p50 / p99 / max | stat_user_tables failed | databases in the last answer | pgwarden CPU per minute | server CPU per minute | connections opened per minute |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
