#!/usr/bin/env bash
# The activity sampler's cost at 1 Hz on PostgreSQL 15 with 10, 100 and
# 1000 backends, all busy (pgbench clients in pg_sleep, so every one is a
# row of every sample): database time per sample (pg_stat_statements' mean
# for the sample statement) and pgwarden's CPU per second, beside a
# pgwarden with --sample_interval=0 on the same server, neither scraped,
# for SAMPLER_BENCH_SECONDS (30) each. Then 12 lock waits of 1.5 s, 5 s
# apart, under a 15 s scrape: how many the snapshot families
# (pg_blocked_sessions) saw, and how many the sampler counted.
# Usage: sampler_bench.sh [PATH_TO_PGWARDEN]   (default: a Release build)
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
SECONDS_EACH=${SAMPLER_BENCH_SECONDS:-30}
BACKENDS=${SAMPLER_BENCH_BACKENDS:-10 100 1000}
if [[ -n ${1:-} ]]; then PGWARDEN_BIN=$1; else build_release; fi
harness_init sampler-bench
ulimit -n 8192

PORT=$(free_port)
pg_start "$WORK/pg" "$PORT" "max_connections = 1100"
DSN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
psql -X -q "$DSN" -c "CREATE EXTENSION pg_stat_statements" \
  -c "CREATE TABLE rows_to_lock (id int PRIMARY KEY)" -c "INSERT INTO rows_to_lock VALUES (1)"
printf 'SELECT pg_sleep(0.5);\n' >"$WORK/busy.sql"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

start_pgwarden with "$PGWARDEN_BIN" --dsn "$DSN"
WITH_PID=$PGWARDEN_PID
WITH_URL=$PGWARDEN_URL
start_pgwarden without "$PGWARDEN_BIN" --dsn "$DSN" --sample_interval=0
WITHOUT_PID=$PGWARDEN_PID

ROWS=()
for n in $BACKENDS; do
  spawn "$WORK/pgbench-$n.log" "$PG_BIN/pgbench" -n -c "$n" -j 4 -T $((SECONDS_EACH + 20)) \
    -f "$WORK/busy.sql" -h 127.0.0.1 -p "$PORT" -U postgres postgres
  BENCH=$SPAWNED
  wait_until 15 bash -c "[[ \$(psql -X -At '$DSN' -c \"SELECT count(*) FROM pg_stat_activity
    WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%'\") -ge $((n * 9 / 10)) ]]"
  psql -X -q "$DSN" -c "SELECT pg_stat_statements_reset()" >/dev/null
  w0=$(cpu_ticks "$WITH_PID")
  o0=$(cpu_ticks "$WITHOUT_PID")
  s0=$(curl -fsS "$WITH_URL/metrics" | awk '/^pgwarden_sampler_samples_total /{print $2}')
  sleep "$SECONDS_EACH"
  w1=$(cpu_ticks "$WITH_PID")
  o1=$(cpu_ticks "$WITHOUT_PID")
  s1=$(curl -fsS "$WITH_URL/metrics" | awk '/^pgwarden_sampler_samples_total /{print $2}')
  db=$(psql -X -At "$DSN" -c "SELECT round(sum(total_exec_time)::numeric / sum(calls), 3), sum(calls)
    FROM pg_stat_statements WHERE query LIKE '%pg_blocking_pids%' AND query LIKE '%clock_timestamp%'")
  rows=$(psql -X -At "$DSN" -c "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle'")
  stop "$BENCH"
  ROWS+=("$(awk -v n="$n" -v rows="$rows" -v db="${db%|*}" -v samples=$((s1 - s0)) \
    -v w=$((w1 - w0)) -v o=$((o1 - o0)) -v t="$TICK" -v s="$SECONDS_EACH" 'BEGIN {
      printf "| %d | %d | %d | %s ms | %.2f%% | %.2f%% | %.2f%% |", n, rows, samples, db,
        100 * w / t / s, 100 * o / t / s, 100 * (w - o) / t / s }')")
done

echo
echo "Activity sampler at 1 Hz, PostgreSQL 15, ${SECONDS_EACH} s per row (CPU: % of one core):"
echo
echo "| backends | non-idle sessions | samples | database time per sample | pgwarden CPU with the sampler | without | the sampler's share |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"

# Short lock waits under a 15 s scrape.
curl -fsS "$WITH_URL/metrics" >/dev/null
sleep 1.1
before=$(curl -fsS "$WITH_URL/metrics" | awk '/^pg_lock_wait_duration_seconds_count\{datname="postgres"\} /{print $2}')
# Prometheus' usual scrape, every 15 s, independent of the waits.
spawn /dev/null bash -c "for i in 1 2 3 4 5; do
  curl -fsS '$WITH_URL/metrics' | awk '/^pg_blocked_sessions\\{datname=\"postgres\"\\} /{print \$2}' >>'$WORK/snapshots'
  sleep 15; done"
for i in $(seq 1 12); do
  timeout 30 psql -X -q "$DSN" -c "BEGIN" -c "SELECT * FROM rows_to_lock FOR UPDATE" \
    -c "SELECT pg_sleep(1.7)" -c "COMMIT" >/dev/null &
  holder=$!
  sleep 0.2
  timeout 30 psql -X -q "$DSN" -c "SELECT * FROM rows_to_lock FOR UPDATE" >/dev/null
  wait "$holder"
  sleep 3.3
done
sleep 1.5
curl -fsS "$WITH_URL/metrics" >/dev/null
sleep 1.1
after=$(curl -fsS "$WITH_URL/metrics" | awk '/^pg_lock_wait_duration_seconds_count\{datname="postgres"\} /{print $2}')
echo
seen=$(awk '{s += $1} END {print s + 0}' "$WORK/snapshots")
echo "12 lock waits of 1.5 s, 5 s apart: the 15 s snapshots (pg_blocked_sessions) saw $seen;" \
  "the sampler counted $(( ${after:-0} - ${before:-0} ))."
stop "$WITH_PID"
stop "$WITHOUT_PID"
