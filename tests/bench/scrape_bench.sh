#!/usr/bin/env bash
# Scrape benchmark: pgwarden and Debian's prometheus-postgres-exporter
# against one PostgreSQL 15 with a workload (1000 tables, 2000 distinct
# statements in pg_stat_statements, 100 idle connections, a blocked chain),
# in the same run. Prints a table: scrape latency p50/p99 over N sequential
# scrapes, exporter CPU ms per scrape, RSS, SQL statements and database
# execution ms per scrape (from pg_stat_statements, per exporter role), and
# the raw SQL floor (pgwarden's own queries, printed by --print_queries,
# timed by pgbench on one connection).
#   tests/bench/scrape_bench.sh [SCRAPES]   (default 50)
# BENCH_COMPARE and BENCH_ROUNDS add other pgwarden builds to the same run
# (see below); CPU_SCRAPES sets the scrapes the CPU figure is taken over.
set -euo pipefail

SCRAPES=${1:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
./scripts/install-deps.sh
source scripts/lib/harness.sh
build_release
PE=/usr/bin/prometheus-postgres-exporter
harness_init bench

PORT=$(free_port)
pg_start "$WORK/pg" "$PORT" "pg_stat_statements.max = 5000" "max_connections = 300"
BASE="host=127.0.0.1 port=$PORT dbname=bench"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
"${PSQL[@]}" -d bench <<'SQL'
CREATE EXTENSION pg_stat_statements;
CREATE ROLE pgwarden_bench LOGIN IN ROLE pg_monitor;
CREATE ROLE pe_bench LOGIN IN ROLE pg_monitor;
CREATE ROLE floor_bench LOGIN IN ROLE pg_monitor;
DO $$ BEGIN
  FOR i IN 1..1000 LOOP
    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i);
  END LOOP;
END $$;
CREATE TABLE ledger (id int PRIMARY KEY, v int);
INSERT INTO ledger VALUES (1, 0);
CREATE TABLE settlement (id int);
SQL
echo "workload: 2000 distinct statements" >&2
{
  for i in $(seq 1 1000); do
    echo "SELECT count(*) FROM t$i;"
    echo "SELECT v FROM t$i WHERE id = 1;"
  done
} >"$WORK/distinct.sql"
"${PSQL[@]}" -d bench -f "$WORK/distinct.sql" >/dev/null
echo "workload: 100 idle connections and a blocked chain" >&2
# Sessions that must stay open are pgbench clients sleeping inside their
# script: one process each group, stopped by its PID, no helper processes.
# (pgbench keeps \sleep in microseconds in an int: 1800 s at a time.)
printf '\\sleep 1800 s\n\\sleep 1800 s\n' >"$WORK/idle.sql"
printf 'BEGIN;\nUPDATE ledger SET v = 1 WHERE id = 1;\n\\sleep 1800 s\n\\sleep 1800 s\nCOMMIT;\n' >"$WORK/holder.sql"
PGAPPNAME=idle spawn /dev/null "$PG_BIN/pgbench" -n -c 100 -t 1 -f "$WORK/idle.sql" \
  -h 127.0.0.1 -p "$PORT" -U postgres bench
PGAPPNAME=holder spawn /dev/null "$PG_BIN/pgbench" -n -c 1 -t 1 -f "$WORK/holder.sql" \
  -h 127.0.0.1 -p "$PORT" -U postgres bench
sleep 0.5
PGAPPNAME=waiter spawn /dev/null psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d bench -c \
  "BEGIN; LOCK settlement IN SHARE MODE; UPDATE ledger SET v = 2 WHERE id = 1; COMMIT"
sleep 0.5
PGAPPNAME=waiter2 spawn /dev/null psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d bench -c \
  "INSERT INTO settlement VALUES (1)"
for i in $(seq 1 100); do
  n=$("${PSQL[@]}" -d bench -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'idle' OR wait_event_type = 'Lock'")
  [[ $n -ge 102 ]] && break
  sleep 0.1
done
[[ $n -ge 102 ]] || { echo "workload did not start ($n sessions)" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

rss_anon_kib() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }

# measure NAME ROLE URL PID: N sequential scrapes for latency and SQL, then
# CPU_SCRAPES more for CPU time (the kernel counts it in 10 ms ticks);
# appends a row to rows.tsv.
CPU_SCRAPES=${CPU_SCRAPES:-500}
measure() {
  local name=$1 role=$2 url=$3 pid=$4
  local i t0 t1
  for i in 1 2 3; do curl -fsS -o /dev/null "$url"; done  # warm-up
  # Only this exporter's entries: the workload's statements stay in the view.
  "${PSQL[@]}" -d bench -c "SELECT pg_stat_statements_reset('$role'::regrole)" >/dev/null
  : >"$WORK/$name.lat"
  for i in $(seq 1 "$SCRAPES"); do
    curl -fsS -o "$WORK/$name.last" -w '%{time_total}\n' "$url" >>"$WORK/$name.lat"
  done
  local stats
  stats=$("${PSQL[@]}" -d bench -AtF $'\t' -c \
    "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0)
     FROM pg_stat_statements WHERE userid = '$role'::regrole")
  local series
  series=$(grep -vc '^#' "$WORK/$name.last")
  t0=$(cpu_ticks "$pid")
  for i in $(seq 1 "$CPU_SCRAPES"); do curl -fsS -o /dev/null "$url"; done
  t1=$(cpu_ticks "$pid")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$((t1 - t0))" "$(rss_kib "$pid")" \
    "$(rss_anon_kib "$pid")" "$stats" "$series" >>"$WORK/rows.tsv"
}

start_and_wait() {  # start_and_wait URL CMD... -> PID in STARTED
  local url=$1
  shift
  spawn "$WORK/exporter-$RANDOM.log" "$@"
  STARTED=$SPAWNED
  wait_http "$url"
}

: >"$WORK/rows.tsv"
N_DEFAULT=$("$PGWARDEN_BIN" --help | grep -c ' \[default\]$')
# bench_default LABEL BINARY: a pgwarden binary with its default collectors.
bench_default() {
  local port
  port=$(free_port)
  start_and_wait "http://127.0.0.1:$port/metrics" "$2" \
    --web_listen_address="127.0.0.1:$port" --dsn "$BASE user=pgwarden_bench"
  measure "$1" pgwarden_bench "http://127.0.0.1:$port/metrics" "$STARTED"
  stop "$STARTED"
}
# BENCH_COMPARE="label=/path/to/pgwarden,...": other builds (an earlier
# revision, say), measured with their defaults interleaved with this one,
# BENCH_ROUNDS times each (default 1), in the same run.
IFS=, read -r -a COMPARE <<<"${BENCH_COMPARE:-}"
for round in $(seq 1 "${BENCH_ROUNDS:-1}"); do
  suffix=$([[ ${BENCH_ROUNDS:-1} == 1 ]] && echo "" || echo ", round $round")
  bench_default "pgwarden (default: $N_DEFAULT collectors$suffix)" "$PGWARDEN_BIN"
  for other in "${COMPARE[@]}"; do
    bench_default "${other%%=*} (default$suffix)" "${other#*=}"
  done
done

# postgres_exporter's default set, every collector queried on every scrape
# (no minimum intervals): the like-for-like comparison.
PE_SET=activity,locks,settings,database,replication,replication_slots,roles,stat_archiver
PE_SET+=,stat_bgwriter,stat_database,stat_progress_vacuum,stat_replication,stat_user_tables
PE_SET+=,statio_user_tables,wal
P4=$(free_port)
start_and_wait "http://127.0.0.1:$P4/metrics" "$PGWARDEN_BIN" \
  --web_listen_address="127.0.0.1:$P4" --dsn "$BASE user=pgwarden_bench" \
  --collectors="$PE_SET" \
  --collector_min_interval=database=0,stat_user_tables=0,statio_user_tables=0
measure "pgwarden (postgres_exporter's set, no intervals)" pgwarden_bench "http://127.0.0.1:$P4/metrics" "$STARTED"
stop "$STARTED"

P2=$(free_port)
start_and_wait "http://127.0.0.1:$P2/metrics" "$PGWARDEN_BIN" \
  --web_listen_address="127.0.0.1:$P2" --dsn "$BASE user=pgwarden_bench" \
  --collectors=activity,locks,settings
measure "pgwarden (activity,locks,settings)" pgwarden_bench "http://127.0.0.1:$P2/metrics" "$STARTED"
stop "$STARTED"

P3=$(free_port)
DATA_SOURCE_NAME="postgresql://pe_bench@127.0.0.1:$PORT/bench?sslmode=disable" \
  start_and_wait "http://127.0.0.1:$P3/metrics" "$PE" --web.listen-address="127.0.0.1:$P3"
measure "postgres_exporter 0.11.1 (default)" pe_bench "http://127.0.0.1:$P3/metrics" "$STARTED"
stop "$STARTED"

# Raw SQL floor: pgwarden's own queries for this server, run back to back
# on one connection by pgbench (no HTTP, no parsing, no serialization).
# Simple protocol is what psql does (parse and plan every time); prepared
# is the best these statements can do, and what pgwarden does.
# (The activity sampler's statement, printed last, is not a scrape's.)
"$PGWARDEN_BIN" --dsn "$BASE user=pgwarden_bench" --print_queries |
  sed '/^-- activity sampler/,$d' | grep -v '^--' >"$WORK/floor.sql"
for mode in simple prepared; do
  "$PG_BIN/pgbench" -n -M "$mode" -c 1 -t "$SCRAPES" -f "$WORK/floor.sql" \
    -h 127.0.0.1 -p "$PORT" -U floor_bench bench >"$WORK/floor-$mode.out" 2>&1
done
FLOOR_SIMPLE_MS=$(awk '/latency average/ {print $4}' "$WORK/floor-simple.out")
FLOOR_MS=$(awk '/latency average/ {print $4}' "$WORK/floor-prepared.out")

CLK_TCK=$(getconf CLK_TCK)
python3 - "$WORK" "$SCRAPES" "$CLK_TCK" "$FLOOR_MS" "$FLOOR_SIMPLE_MS" "$CPU_SCRAPES" <<'PY'
import statistics, sys
work, scrapes, clk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
floor_ms, floor_simple_ms, cpu_scrapes = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
rows = []
for line in open(f"{work}/rows.tsv"):
    name, ticks, rss, anon, calls, exec_ms, series = line.rstrip("\n").split("\t")
    lat = sorted(float(x) * 1000 for x in open(f"{work}/{name}.lat"))
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    rows.append((name, p50, p99, int(ticks) * 1000 / clk / cpu_scrapes, int(rss) / 1024,
                 float(calls) / scrapes, float(exec_ms) / scrapes, int(series),
                 int(anon) / 1024))
print(f"\nScrape benchmark: {scrapes} sequential scrapes each; PostgreSQL 15, 1000 tables, "
      "2000 statements, 100 idle connections, a blocked chain.\n")
hdr = ("exporter", "p50 ms", "p99 ms", f"CPU ms/scrape ({cpu_scrapes})", "RSS MiB (private)",
       "SQL stmts/scrape", "DB exec ms/scrape", "series")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for r in rows:
    print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.1f} ({r[8]:.1f}) | "
          f"{r[5]:.1f} | {r[6]:.2f} | {r[7]} |")
print(f"| raw SQL floor, prepared (pgbench -M prepared) | {floor_ms:.2f} | | | | | | |")
print(f"| raw SQL floor, simple protocol as psql (pgbench -M simple) | {floor_simple_ms:.2f} | | | | | | |")
pw = rows[0]
pe = [r for r in rows if r[0].startswith("postgres_exporter")][0]
print(f"\npgwarden p50 / raw SQL floor (prepared) = {pw[1] / floor_ms:.2f}x (target <= 1.5x)")
print(f"pgwarden p50 / postgres_exporter p50 = {pw[1] / pe[1]:.2f}x (target < 0.5x)")
print(f"pgwarden RSS = {pw[4]:.1f} MiB, private {pw[8]:.1f} MiB (target < 10); "
      f"CPU = {pw[3]:.2f} ms/scrape (target < 1)")
PY
