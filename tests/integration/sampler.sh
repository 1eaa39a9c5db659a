#!/usr/bin/env bash
# The activity sampler against a real server (Debian's PostgreSQL 15):
# 30 lock waits of about 2 s (10 rounds of 3, 3 s apart) while Prometheus'
# usual 15 s scrape runs; then a 5 s pg_sleep and a CPU-bound loop.
# Asserts the lock-wait histogram counted every wait and their real time
# (within 10%), pg_blocked_seconds_total the same time, PgSleep and CPU
# their time; prints how many waits the 15 s snapshots saw beside it.
# Usage: sampler.sh PATH_TO_PGWARDEN
set -euo pipefail

BIN=${1:?usage: sampler.sh PATH_TO_PGWARDEN}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init sampler

PORT=$(free_port)
pg_start "$WORK/pg" "$PORT"
DSN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
psql "$DSN" -qc "CREATE TABLE rows_to_lock (id int PRIMARY KEY, v int)"
psql "$DSN" -qc "INSERT INTO rows_to_lock SELECT g, 0 FROM generate_series(1, 3) g"

# The CPU-bound loop runs in a database no pgwarden session enters: the
# sampler counts a whole interval for every active session it sees, and a
# scrape's or a visit's queries in the same database can land on a sample.
psql "$DSN" -qc "CREATE DATABASE sampler_cpu"
start_pgwarden sampler "$BIN" --dsn "$DSN" --sample_interval=1s --exclude_databases=sampler_cpu
URL=$PGWARDEN_URL

# value FILE NAME [LABEL=VALUE...]: the sum of NAME's samples whose labels
# include every LABEL=VALUE (0 when none).
value() {
  python3 - "$@" <<'PY'
import re, sys
path, name, *want = sys.argv[1:]
want = [w.split("=", 1) for w in want]
total = 0.0
for line in open(path):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line.strip())
    if not m or m.group(1) != name:
        continue
    labels = dict(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
    if all(labels.get(k) == v for k, v in want):
        total += float(m.group(4))
print(f"{total:.6f}")
PY
}
# settled FILE: a scrape after another, so that series that first showed
# at 0 carry what they counted (their first increase waits for a showing).
settled() {
  curl -fsS "$URL/metrics" >/dev/null
  sleep 1.1
  curl -fsS "$URL/metrics" >"$1"
}
near() {  # near GOT WANT TOLERANCE: |GOT - WANT| <= TOLERANCE
  python3 -c "import sys; g, w, t = map(float, sys.argv[1:]); sys.exit(abs(g - w) > t)" "$@"
}

wait_until 10 bash -c "curl -fsS '$URL/metrics' | grep -q '^pgwarden_sampler_samples_total [1-9]'"
settled "$WORK/before.txt"
check "the sampler has its own session" \
  [ "$(psql "$DSN" -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgwarden_sampler'")" == 1 ]

# Prometheus' usual scrape, every 15 s, for as long as the lock waits last.
touch "$WORK/scraping"
(
  for i in $(seq 1 8); do
    [[ -f $WORK/scraping ]] || break
    curl -fsS "$URL/metrics" >"$WORK/snapshot-$i.txt" || true
    sleep 15
  done
) &
SCRAPER=$!

# Ten rounds of three lock waits: a holder updates a row and sleeps 2.2 s
# in its transaction; 0.2 s later a waiter updates the same row. The
# waiter's statement time is the wait's real length.
for round in $(seq 1 10); do
  pids=()
  for i in 1 2 3; do
    timeout 30 psql "$DSN" -qc "BEGIN" -c "UPDATE rows_to_lock SET v = v + 1 WHERE id = $i" \
      -c "SELECT pg_sleep(2.2)" -c "COMMIT" >/dev/null &
    pids+=($!)
  done
  sleep 0.2
  for i in 1 2 3; do
    timeout 30 psql "$DSN" -qAt -c '\timing on' -c "UPDATE rows_to_lock SET v = v + 1 WHERE id = $i" \
      >"$WORK/wait-$round-$i.txt" &
    pids+=($!)
  done
  wait "${pids[@]}"
  sleep 3
done
rm -f "$WORK/scraping"
sleep 1.5
settled "$WORK/after-waits.txt"

REAL=$(cat "$WORK"/wait-*.txt | awk '/^Time:/ { s += $2 / 1000; n++ } END { printf "%.3f %d", s, n }')
REAL_SECONDS=${REAL% *}
REAL_WAITS=${REAL#* }
delta() {  # delta NAME [LABELS...]: after-waits minus before
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" \
    "$(value "$WORK/before.txt" "$@")" "$(value "$WORK/after-waits.txt" "$@")"
}
COUNT=$(delta pg_lock_wait_duration_seconds_count datname=postgres)
SUM=$(delta pg_lock_wait_duration_seconds_sum datname=postgres)
BLOCKED=$(delta pg_blocked_seconds_total datname=postgres)
BLOCKING=$(delta pg_blocking_seconds_total datname=postgres)
SNAPSHOT_SEEN=0
for f in "$WORK"/snapshot-*.txt; do
  SNAPSHOT_SEEN=$(python3 -c "import sys; print(int(float(sys.argv[1]) + float(sys.argv[2])))" \
    "$SNAPSHOT_SEEN" "$(value "$f" pg_blocked_sessions datname=postgres)")
done
echo "sampler: $REAL_WAITS lock waits, ${REAL_SECONDS} s in all; the sampler counted $COUNT" \
  "waits, ${SUM} s (histogram), ${BLOCKED} s blocked, ${BLOCKING} s blocking; the 15 s" \
  "snapshots (pg_blocked_sessions) saw $SNAPSHOT_SEEN"
TOLERANCE=$(python3 -c "print($REAL_SECONDS * 0.1)")
check "30 waits were made" [ "$REAL_WAITS" == 30 ]
check "the histogram counted 30 waits (within 1)" near "$COUNT" 30 1
check "the histogram's sum is the waits' real time (within 10%)" near "$SUM" "$REAL_SECONDS" "$TOLERANCE"
check "pg_blocked_seconds_total grew by the waits' time (within 10%)" near "$BLOCKED" "$REAL_SECONDS" "$TOLERANCE"
check "pg_blocking_seconds_total credits the same time to the blockers" near "$BLOCKING" "$BLOCKED" 0.5
check "the blockers are the holders' role and application" \
  python3 -c "import sys; sys.exit(float(sys.argv[1]) < 0.9 * float(sys.argv[2]))" \
  "$(value "$WORK/after-waits.txt" pg_blocking_seconds_total usename=postgres application_name=psql)" "$BLOCKED"
check "the 15 s snapshots saw fewer waits than the sampler" [ "$SNAPSHOT_SEEN" -lt "${COUNT%.*}" ]
wait "$SCRAPER" 2>/dev/null || true

# A 5 s pg_sleep is 5 s of Timeout/PgSleep.
settled "$WORK/before-sleep.txt"
psql "$DSN" -qc "SELECT pg_sleep(5)" >/dev/null
sleep 1.5
settled "$WORK/after-sleep.txt"
SLEPT=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" \
  "$(value "$WORK/before-sleep.txt" pg_wait_event_seconds_total datname=postgres wait_event_type=Timeout wait_event=PgSleep)" \
  "$(value "$WORK/after-sleep.txt" pg_wait_event_seconds_total datname=postgres wait_event_type=Timeout wait_event=PgSleep)")
echo "sampler: a 5 s pg_sleep added ${SLEPT} s of Timeout/PgSleep"
check "pg_sleep(5) adds about 5 s to Timeout/PgSleep" near "$SLEPT" 5 1.2

# A CPU-bound loop lands in CPU, and in its query id's active time.
CPU_BEFORE=$(value "$WORK/after-sleep.txt" pg_wait_event_seconds_total datname=sampler_cpu wait_event_type=CPU)
START=$(date +%s.%N)
psql "$DSN dbname=sampler_cpu" -qc "DO \$\$ BEGIN FOR i IN 1..200000000 LOOP END LOOP; END \$\$" >/dev/null
ELAPSED=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$START" "$(date +%s.%N)")
sleep 1.5
settled "$WORK/after-cpu.txt"
CPU=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" \
  "$CPU_BEFORE" "$(value "$WORK/after-cpu.txt" pg_wait_event_seconds_total datname=sampler_cpu wait_event_type=CPU)")
echo "sampler: a ${ELAPSED} s CPU-bound loop added ${CPU} s of CPU"
check "a CPU-bound query lands in CPU" near "$CPU" "$ELAPSED" 1.2
check "active time by query id (PostgreSQL 14+)" \
  python3 -c "import re, sys; sys.exit(not any(re.match(r'pg_query_active_seconds_total\{.*queryid=\"-?[0-9]+\".*\} [1-9]', l) for l in open(sys.argv[1])))" \
  "$WORK/after-cpu.txt"
check "promtool accepts the exposition" promtool check metrics <"$WORK/after-cpu.txt"
check "no sample failed" [ "$(value "$WORK/after-cpu.txt" pgwarden_sampler_errors_total)" == 0.000000 ]
check_summary
