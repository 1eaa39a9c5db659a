#!/usr/bin/env bash
# Bounded soak: SCRAPES sequential scrapes (default 20000) of pgwarden
# against PostgreSQL 15 under a live workload (pgbench at a fixed rate, a
# long-running query, a blocked pair); reports resident memory after a
# 1000-scrape warm-up and at the end, and fails if it grew by 1 MiB or more.
# Usage: soak.sh PATH_TO_PGWARDEN [SCRAPES]
set -euo pipefail

BIN=${1:?usage: soak.sh PATH_TO_PGWARDEN [SCRAPES]}
SCRAPES=${2:-20000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init soak

PORT=$(free_port)
pg_start "$WORK/pg" "$PORT"
PSQL=(psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION pg_stat_statements"
"$PG_BIN/pgbench" -q -i -s 1 -h 127.0.0.1 -p "$PORT" -U postgres postgres >/dev/null 2>&1
spawn /dev/null "$PG_BIN/pgbench" -n -c 2 -R 50 -T 900 -h 127.0.0.1 -p "$PORT" -U postgres postgres
PGAPPNAME=long spawn /dev/null "${PSQL[@]}" -c "SELECT pg_sleep(900)"
printf 'BEGIN;\nUPDATE pgbench_tellers SET tbalance = 0 WHERE tid = 1;\n\\sleep 900 s\nCOMMIT;\n' \
  >"$WORK/holder.sql"
spawn /dev/null "$PG_BIN/pgbench" -n -c 1 -t 1 -f "$WORK/holder.sql" -h 127.0.0.1 -p "$PORT" \
  -U postgres postgres

start_pgwarden pgwarden "$BIN" --dsn "host=127.0.0.1 port=$PORT user=postgres" \
  --stat_statements_include_query
W=$PGWARDEN_PORT
PID=$PGWARDEN_PID
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }

curl -fsS "http://127.0.0.1:$W/metrics?warmup=[1-1000]" >/dev/null
before=$(rss)
start=$(date +%s.%N)
curl -fsS "http://127.0.0.1:$W/metrics?n=[1-$SCRAPES]" >/dev/null
seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
after=$(rss)
served=$(curl -fsS "http://127.0.0.1:$W/metrics" | grep -oP '^pg_exporter_scrapes_total \K[0-9]+')
up=$(curl -fsS "http://127.0.0.1:$W/metrics" | grep -oP '^pg_up \K[01]')
growth=$((after - before))
echo "soak: $SCRAPES scrapes in ${seconds}s (pg_exporter_scrapes_total $served, pg_up $up);" \
  "RSS after warm-up ${before} KiB, at the end ${after} KiB, growth ${growth} KiB"
[[ $up == 1 && $served -ge $((SCRAPES + 1000)) && $growth -lt 1024 ]]
