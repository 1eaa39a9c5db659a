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
failed=()
for major in $MAJORS; do
  if ! bin=$(pg_bin_for "$major"); then
    echo "PostgreSQL $major: binaries could not be installed" >&2
    failed+=("$major (not installed)")
    continue
  fi
  port=$(free_port)
  PG_BIN=$bin pg_start "$WORK/pg-$major" "$port"
  export PGWARDEN_TEST_DSN="host=127.0.0.1 port=$port user=postgres"
  psql "$PGWARDEN_TEST_DSN dbname=postgres" -qc "CREATE EXTENSION pg_stat_statements"
  "$bin/postgres" --version | awk '{print $3}' >"$RESULTS/$major.version"
  echo "-- PostgreSQL $(cat "$RESULTS/$major.version")"
  if ! "$BUILD/tests/integration_tests" --gtest_output="xml:$RESULTS/$major.xml" \
      >"$WORK/it-$major.log" 2>&1; then
    grep -E "Failure|FAILED|Expected|Which is|Actual" "$WORK/it-$major.log" | head -40
    failed+=("$major (integration)")
  fi
  grep -E "^\[  (PASSED|FAILED)" "$WORK/it-$major.log" || true
  if start_pgwarden "pgwarden-$major" "$BUILD/pgwarden" --dsn "$PGWARDEN_TEST_DSN" &&
     curl -fsS "$PGWARDEN_URL/metrics" -o "$RESULTS/$major.metrics"; then
    promtool check metrics <"$RESULTS/$major.metrics" || failed+=("$major (promtool)")
  else
    failed+=("$major (scrape)")
  fi
  stop "$PGWARDEN_PID"
  pg_stop "$WORK/pg-$major"
done

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
