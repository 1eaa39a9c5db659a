#!/usr/bin/env bash
# The PostgreSQL matrix: on each major (12-18, or PGWARDEN_PG_MAJORS), a
# fresh cluster, the integration suite and one scrape of pgwarden checked by
# promtool. Prints README's compatibility table from the results; on the
# full matrix, fails if README.md's table differs from it
# (PGWARDEN_UPDATE_README=1 writes it instead).
# Usage: matrix.sh BUILD_DIR (with pgwarden and tests/integration_tests)
set -euo pipefail

BUILD=$(cd "${1:?usage: matrix.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init matrix

MAJORS=${PGWARDEN_PG_MAJORS:-12 13 14 15 16 17 18}
RESULTS=$BUILD/compat
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
# sampled_lock_wait DSN: a 2 s lock wait while the activity sampler runs;
# then a scrape, so the next shows what the first showed at 0.
sampled_lock_wait() {
  psql "$1" -qc "CREATE TABLE IF NOT EXISTS matrix_lock (id int)"
  timeout 30 psql "$1" -qc "BEGIN" -c "LOCK TABLE matrix_lock" -c "SELECT pg_sleep(2.5)" \
    -c "COMMIT" >/dev/null &
  local holder=$!
  sleep 0.3
  timeout 30 psql "$1" -qc "SELECT count(*) FROM matrix_lock" >/dev/null
  wait "$holder"
  sleep 1.5
  curl -fsS "$PGWARDEN_URL/metrics" >/dev/null
  sleep 1.1
}
# sampler_saw MAJOR FILE: the sampler counted the lock wait, the holder's
# pg_sleep, and (14+) active time by query id.
sampler_saw() {
  local major=$1 file=$2 ok=0
  grep -qE '^pg_lock_wait_duration_seconds_count\{datname="postgres"\} [1-9]' "$file" || ok=1
  grep -qE '^pg_wait_event_seconds_total\{datname="postgres",wait_event_type="Timeout",wait_event="PgSleep"\} [1-9]' "$file" || ok=1
  grep -qE '^pg_blocked_seconds_total\{datname="postgres"\} [1-9]' "$file" || ok=1
  if ((major >= 14)); then
    grep -qE '^pg_query_active_seconds_total\{datname="postgres",queryid="-?[0-9]+"\} [0-9.]*[1-9]' "$file" || ok=1
  fi
  ((ok == 0)) || echo "PostgreSQL $major: the activity sampler missed the lock wait or pg_sleep"
  return $ok
}
# One major: a fresh cluster, the suite, a scrape. Failures are appended to
# $RESULTS/failed, output to $WORK/major-MAJOR.out.
run_major() {
  local major=$1 bin port
  if ! bin=$(pg_bin_for "$major"); then
    echo "PostgreSQL $major: binaries could not be installed"
    echo "$major (not installed)" >>"$RESULTS/failed"
    return 0
  fi
  port=$(free_port)
  PG_BIN=$bin pg_start "$WORK/pg-$major" "$port"
  local dsn="host=127.0.0.1 port=$port user=postgres"
  psql "$dsn dbname=postgres" -qc "CREATE EXTENSION pg_stat_statements"
  "$bin/postgres" --version | awk '{print $3}' >"$RESULTS/$major.version"
  echo "-- PostgreSQL $(cat "$RESULTS/$major.version")"
  # The 200-database test runs once, in stage integration: its subject is
  # the visitor's schedule, not the catalog of a major.
  if ! PGWARDEN_TEST_DSN=$dsn "$BUILD/tests/integration_tests" --gtest_filter=-ManyDatabasesTest.* \
      --gtest_output="xml:$RESULTS/$major.xml" >"$WORK/it-$major.log" 2>&1; then
    grep -E "Failure|FAILED|Expected|Which is|Actual" "$WORK/it-$major.log" | head -40
    echo "$major (integration)" >>"$RESULTS/failed"
  fi
  grep -E "^\[  (PASSED|FAILED)" "$WORK/it-$major.log" || true
  if start_pgwarden "pgwarden-$major" "$BUILD/pgwarden" --dsn "$dsn dbname=postgres" &&
     sampled_lock_wait "$dsn dbname=postgres" &&
     curl -fsS "$PGWARDEN_URL/metrics" -o "$RESULTS/$major.metrics"; then
    promtool check metrics <"$RESULTS/$major.metrics" || echo "$major (promtool)" >>"$RESULTS/failed"
    sampler_saw "$major" "$RESULTS/$major.metrics" || echo "$major (sampler)" >>"$RESULTS/failed"
  else
    echo "$major (scrape)" >>"$RESULTS/failed"
  fi
  stop "$PGWARDEN_PID"
  pg_stop "$WORK/pg-$major"
}

# Two lanes, one per core: each major has its own cluster and port, and the
# suite spends most of its time waiting on its server. A lane is a subshell
# with its own exit handlers, so a failing lane still stops what it started.
lane() {
  (
    HARNESS_EXIT=()
    HARNESS_PIDS=()
    trap 'for ((i = ${#HARNESS_EXIT[@]} - 1; i >= 0; i--)); do eval "${HARNESS_EXIT[i]}" || true; done
          for p in "${HARNESS_PIDS[@]}"; do stop "$p"; done' EXIT
    for major in "$@"; do run_major "$major" >"$WORK/major-$major.out" 2>&1; done
  )
}
read -ra ALL <<<"$MAJORS"
LANES=("" "")
for i in "${!ALL[@]}"; do LANES[i % 2]+=" ${ALL[i]}"; done
lane ${LANES[0]} &
LANE0=$!
lane ${LANES[1]} &
LANE1=$!
wait "$LANE0" || echo "lane${LANES[0]} ended early" >>"$RESULTS/failed"
wait "$LANE1" || echo "lane${LANES[1]} ended early" >>"$RESULTS/failed"
for major in "${ALL[@]}"; do cat "$WORK/major-$major.out" 2>/dev/null || true; done
failed=()
if [[ -s $RESULTS/failed ]]; then mapfile -t failed <"$RESULTS/failed"; fi

README=()
if [[ -z ${PGWARDEN_PG_MAJORS:-} ]]; then
  README=(--readme "$HARNESS_ROOT/README.md")
  [[ ${PGWARDEN_UPDATE_README:-0} == 1 ]] && README+=(--update)
fi
python3 "$HERE/compat/compat_table.py" "$RESULTS" $MAJORS "${README[@]}" ||
  failed+=("README's table")
if ((${#failed[@]})); then
  echo "matrix failures: ${failed[*]}" >&2
  exit 1
fi
echo "matrix: PostgreSQL $MAJORS passed"
