#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit, integration
# against a real PostgreSQL 15, end-to-end over HTTP with promtool, a
# micro-benchmark smoke run; then the unit and integration suites again
# under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on).
# Each server is started here on 127.0.0.1 and stopped by its PID.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
./tests/install-deps.sh
source tests/lib/pg.sh

JOBS=$(nproc)
WORK=$(mktemp -d /tmp/pgwarden-tests.XXXXXX)
chmod 755 "$WORK"
CLUSTERS=()
cleanup() {
  local d
  for d in "${CLUSTERS[@]}"; do pg_stop "$d"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

build() {  # build DIR CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DPGWARDEN_WERROR=ON "$@" >"$WORK/cmake-$(basename "$dir").log" ||
    { cat "$WORK/cmake-$(basename "$dir").log"; return 1; }
  cmake --build "$dir" -j"$JOBS"
}

# A fresh cluster per suite run: some tests change server state
# (pending_restart survives until a restart).
fresh_cluster() {  # fresh_cluster NAME -> sets PGWARDEN_TEST_DSN
  local dir=$WORK/$1 port
  port=$(pg_free_port)
  CLUSTERS+=("$dir")
  pg_start "$dir" "$port"
  export PGWARDEN_TEST_DSN="host=127.0.0.1 port=$port user=postgres"
  psql "$PGWARDEN_TEST_DSN dbname=postgres" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
}

echo "== build (-Wall -Wextra -Werror)"
build build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo

echo "== unit, integration and end-to-end tests (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
fresh_cluster pg-main
(cd build/ci && ctest --output-on-failure --timeout 600)

echo "== demo self-check (deploy/demo.sh on free ports)"
PGWARDEN_PORT=$(pg_free_port) DEMO_PG_PORT=$(pg_free_port) DEMO_SECONDS=1 DEMO_CHECK=1 \
  ./deploy/demo.sh >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; exit 1; }
grep -E "demo check passed" "$WORK/demo.log"

echo "== micro-benchmark smoke run"
build/ci/tests/micro_bench --benchmark_min_time=0.01 >"$WORK/bench.txt"
tail -n +4 "$WORK/bench.txt"

echo "== AddressSanitizer + UBSan build"
build build/asan -DCMAKE_BUILD_TYPE=Debug -DPGWARDEN_SANITIZE=ON
fresh_cluster pg-asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build/asan && ctest --output-on-failure --timeout 600 -L 'unit|integration')

echo "== all suites passed"
