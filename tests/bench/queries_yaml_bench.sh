#!/usr/bin/env bash
# postgres_exporter's example queries.yaml shape at size, side by side:
# pgwarden and Debian's prometheus-postgres-exporter 0.11.1, each with its
# default collectors plus tests/e2e/queries.yaml (the example file's shapes:
# replication, postmaster, per-table statistics and I/O, pg_stat_statements
# per statement, and the idle-time histogram), against one PostgreSQL 15
# with TABLES tables, STATEMENTS distinct statements and IDLE idle
# connections (BENCH_SIZE=small: 100, 200, 10; medium, the default: 1000,
# 2000, 100; large, or BENCH_LARGE=1: 5000, 5000, 250).
# Per exporter: p50/p99 and CPU per scrape over SEQUENTIAL scrapes, series
# and bytes per answer, RSS and peak (VmHWM) after them; then 16 clients
# scraping at once for ROUNDS rounds: p50/p99, the peak during it (VmHWM
# reset first), and RSS a minute after the load.
# Usage: queries_yaml_bench.sh [PATH_TO_PGWARDEN]   (default: a Release build)
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
SIZE=${BENCH_SIZE:-medium}
[[ ${BENCH_LARGE:-0} == 1 ]] && SIZE=large
case $SIZE in
  small) TABLES=100 STATEMENTS=200 IDLE=10 ;;
  medium) TABLES=1000 STATEMENTS=2000 IDLE=100 ;;
  large) TABLES=5000 STATEMENTS=5000 IDLE=250 ;;
  *) echo "BENCH_SIZE must be small, medium or large" >&2; exit 2 ;;
esac
SEQUENTIAL=${SEQUENTIAL:-30}
ROUNDS=${ROUNDS:-5}
AFTER=${AFTER_SECONDS:-60}
if [[ -n ${1:-} ]]; then PGWARDEN_BIN=$1; else build_release; fi
harness_init queries-bench
PE=/usr/bin/prometheus-postgres-exporter
QUERIES=$HERE/e2e/queries.yaml

PORT=$(free_port)
pg_start "$WORK/pg" "$PORT" "pg_stat_statements.max = $((STATEMENTS + 1000))" \
  "max_connections = $((IDLE + 100))"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
"${PSQL[@]}" -d bench -c "CREATE EXTENSION pg_stat_statements" \
  -c "CREATE ROLE pw LOGIN IN ROLE pg_monitor" -c "CREATE ROLE pe LOGIN IN ROLE pg_monitor" \
  -c "DO \$\$ BEGIN FOR i IN 1..$TABLES LOOP
        EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i); END LOOP; END \$\$"
# Two statements per table (constants are normalized away).
for i in $(seq 1 $((STATEMENTS / 2))); do
  echo "SELECT count(*) FROM t$i;"
  echo "SELECT v FROM t$i WHERE id = 1;"
done >"$WORK/distinct.sql"
"${PSQL[@]}" -d bench -f "$WORK/distinct.sql" >/dev/null
printf '\\sleep 1800 s\n' >"$WORK/idle.sql"
PGAPPNAME=idle spawn /dev/null "$PG_BIN/pgbench" -n -c "$IDLE" -t 1 -f "$WORK/idle.sql" \
  -h 127.0.0.1 -p "$PORT" -U postgres bench
wait_until 30 bash -c "[[ \$(psql -X -At -h 127.0.0.1 -p $PORT -U postgres -d bench \
  -c \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'idle'\") -ge $IDLE ]]"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_mib() { awk -v k="$2:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
pct() {  # pct P FILE: the P-th percentile of FILE's numbers, in ms
  sort -n "$2" | awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.0f", v[i] * 1000}'
}

ROWS=()
# bench NAME URL PID
bench() {
  local name=$1 url=$2 pid=$3 i t0 t1
  for i in 1 2 3; do curl -fsS -o /dev/null "$url"; done
  : >"$WORK/$name.seq"
  t0=$(cpu_ticks "$pid")
  for i in $(seq 1 "$SEQUENTIAL"); do
    curl -fsS -o "$WORK/$name.last" -w '%{time_total}\n' "$url" >>"$WORK/$name.seq"
  done
  t1=$(cpu_ticks "$pid")
  local cpu series bytes rss_seq hwm_seq
  cpu=$(awk -v t=$((t1 - t0)) -v n="$SEQUENTIAL" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", t * 1000 / hz / n}')
  series=$(grep -vc '^#' "$WORK/$name.last")
  bytes=$(stat -c %s "$WORK/$name.last")
  rss_seq=$(status_mib "$pid" VmRSS)
  hwm_seq=$(status_mib "$pid" VmHWM)
  echo 5 >"/proc/$pid/clear_refs"  # VmHWM from here on
  : >"$WORK/$name.conc"
  local c clients=()
  for c in $(seq 1 16); do
    (for i in $(seq 1 "$ROUNDS"); do
       curl -fsS -o /dev/null -w '%{time_total}\n' --max-time 120 "$url"
     done >>"$WORK/$name.conc.$c") &
    clients+=($!)
  done
  wait "${clients[@]}"
  cat "$WORK/$name".conc.* >"$WORK/$name.conc"
  local hwm_conc
  hwm_conc=$(status_mib "$pid" VmHWM)
  sleep "$AFTER"
  local per_series
  per_series=$(awk -v t=$((t1 - t0)) -v n="$SEQUENTIAL" -v hz="$(getconf CLK_TCK)" \
    -v s="$series" -v b="$bytes" -v h="$hwm_conc" \
    'BEGIN {printf "%.2f µs / %.0f B / %.0f B", t * 1e6 / hz / n / s, b / s, h * 1048576 / s}')
  ROWS+=("| $name | $series | $((bytes / 1024)) KiB | $per_series | $(pct 50 "$WORK/$name.seq") / $(pct 99 "$WORK/$name.seq") ms | $cpu ms | $rss_seq ($hwm_seq) MiB | $(pct 50 "$WORK/$name.conc") / $(pct 99 "$WORK/$name.conc") ms | $hwm_conc MiB | $(status_mib "$pid" VmRSS) MiB |")
}

P1=$(free_port)
start_pgwarden pgwarden "$PGWARDEN_BIN" --dsn "host=127.0.0.1 port=$PORT dbname=bench user=pw" \
  --extend_query_path "$QUERIES" --web.max-requests=64
bench pgwarden "$PGWARDEN_URL/metrics" "$PGWARDEN_PID"
stop "$PGWARDEN_PID"
P2=$(free_port)
DATA_SOURCE_NAME="postgresql://pe@127.0.0.1:$PORT/bench?sslmode=disable" \
  spawn "$WORK/pe.log" "$PE" --web.listen-address="127.0.0.1:$P2" --extend.query-path="$QUERIES"
PE_PID=$SPAWNED
wait_http "http://127.0.0.1:$P2/metrics"
bench "postgres_exporter 0.11.1" "http://127.0.0.1:$P2/metrics" "$PE_PID"
stop "$PE_PID"

echo
echo "PostgreSQL 15, $SIZE: $TABLES tables, $STATEMENTS statements, $IDLE idle connections;" \
  "default collectors + tests/e2e/queries.yaml; $SEQUENTIAL sequential scrapes, then 16 clients x $ROUNDS:"
echo
echo "| exporter | series | bytes | per series: CPU / bytes / peak memory | sequential p50 / p99 | CPU per scrape | RSS (peak) after sequential | 16 concurrent p50 / p99 | peak during 16 concurrent | RSS ${AFTER} s after |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
