#!/usr/bin/env bash
# The stat_statements collector's cost as pg_stat_statements grows: one
# PostgreSQL 15 with pg_stat_statements.max = 10000, 2000, 5000 and 10000
# distinct statements in the view, and pgwarden reading it on every scrape
# (--collectors=stat_statements, no minimum interval). Prints, per size
# and build, the database time of one read (pg_stat_statements' own account
# of pgwarden's statements), pgwarden's CPU per read, and what that costs
# per scrape at the build's default interval (15 s scrapes). A floor row
# times the extension's function alone (SELECT count(*)).
#   tests/bench/statements_bench.sh [READS]        (default 30)
# BENCH_COMPARE="label=/path/to/pgwarden,..." adds other builds to the run.
set -euo pipefail

READS=${1:-30}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
./scripts/install-deps.sh
source scripts/lib/harness.sh
build_release
harness_init statements-bench

PORT=$(free_port)
pg_start "$WORK/pg" "$PORT" "pg_stat_statements.max = 10000"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION pg_stat_statements"
"${PSQL[@]}" -c "CREATE TABLE wide ($(seq -s, -f 'c%g int' 1 100))"
BUILDS=("pgwarden=$PGWARDEN_BIN")
IFS=, read -r -a COMPARE <<<"${BENCH_COMPARE:-}"
BUILDS+=("${COMPARE[@]}")
for i in "${!BUILDS[@]}"; do "${PSQL[@]}" -c "CREATE ROLE bench$i LOGIN IN ROLE pg_monitor"; done
"${PSQL[@]}" -c "CREATE ROLE benchfloor LOGIN IN ROLE pg_monitor"

# Statement k reads columns k/100+1 and k%100+1 of `wide`: its own queryid.
made=0
grow_to() {
  while ((made < $1)); do
    for k in $(seq "$made" $((made + 999))); do
      echo "SELECT c$((k / 100 + 1)), c$((k % 100 + 1)) FROM wide;"
    done >"$WORK/distinct.sql"
    "${PSQL[@]}" -f "$WORK/distinct.sql" >/dev/null
    made=$((made + 1000))
  done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
: >"$WORK/rows.tsv"
for n in 2000 5000 10000; do
  grow_to "$n"
  entries=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pg_stat_statements")
  # The floor: the extension's function alone, returning one row.
  "${PSQL[@]}" -c "SELECT pg_stat_statements_reset('benchfloor'::regrole)" >/dev/null
  for k in $(seq 1 "$READS"); do
    echo "SELECT count(*) FROM pg_stat_statements(false);"
  done | psql -X -q -h 127.0.0.1 -p "$PORT" -U benchfloor -d postgres >/dev/null
  floor_ms=$("${PSQL[@]}" -Atc "SELECT coalesce(sum(total_exec_time), 0) / $READS
    FROM pg_stat_statements WHERE userid = 'benchfloor'::regrole")
  printf '%s\t%s\t%s\t%s\t\t\n' "$n" "$entries" "floor: count(*) of the view" "$floor_ms" >>"$WORK/rows.tsv"
  for i in "${!BUILDS[@]}"; do
    label=${BUILDS[i]%%=*}
    start_pgwarden "$label-$n" "${BUILDS[i]#*=}" \
      --dsn "host=127.0.0.1 port=$PORT dbname=postgres user=bench$i" \
      --collectors=stat_statements --collector_min_interval=stat_statements=0
    for k in 1 2 3; do curl -fsS -o /dev/null "$PGWARDEN_URL/metrics"; done
    "${PSQL[@]}" -c "SELECT pg_stat_statements_reset('bench$i'::regrole)" >/dev/null
    t0=$(cpu_ticks "$PGWARDEN_PID")
    for k in $(seq 1 "$READS"); do curl -fsS -o /dev/null "$PGWARDEN_URL/metrics"; done
    t1=$(cpu_ticks "$PGWARDEN_PID")
    db_ms=$("${PSQL[@]}" -Atc "SELECT coalesce(sum(total_exec_time), 0) / $READS
      FROM pg_stat_statements WHERE userid = 'bench$i'::regrole")
    printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$entries" "$label" "$db_ms" "$((t1 - t0))" >>"$WORK/rows.tsv"
    stop "$PGWARDEN_PID"
    # The build's default minimum interval for stat_statements (0: every
    # scrape), from its --help.
    every=$("${BUILDS[i]#*=}" --help | sed -n '/^  stat_statements/{n;p}' |
      grep -oP 'at most every \K[0-9]+' || echo 0)
    sed -i "\$s/\$/\t$every/" "$WORK/rows.tsv"
  done
done

python3 - "$WORK/rows.tsv" "$READS" "$(getconf CLK_TCK)" <<'PY'
import sys
path, reads, clk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"\nstat_statements cost: {reads} reads each; PostgreSQL 15, pg_stat_statements.max 10000.\n")
print("| statements | entries in the view | build | DB ms per read | CPU ms per read |"
      " default interval s | DB ms per 15 s scrape at the default |")
print("|---|---|---|---|---|---|---|")
for line in open(path):
    n, entries, label, db_ms, ticks, every = line.rstrip("\n").split("\t")
    db = float(db_ms)
    if not ticks:
        print(f"| {n} | {entries} | {label} | {db:.2f} | | | |")
        continue
    cpu, every = int(ticks) * 1000 / clk / reads, int(every)
    per_scrape = db * min(1.0, 15 / every) if every else db
    print(f"| {n} | {entries} | {label} | {db:.2f} | {cpu:.2f} | {every} | {per_scrape:.2f} |")
PY
