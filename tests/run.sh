#!/usr/bin/env bash
# Installs what is missing, builds with -Wall -Wextra -Werror, and runs
# every test: alert and recording rule unit tests (promtool), the
# Alertmanager config (amtool), the dashboards' lint and the deployment
# files' validation; unit, integration (real PostgreSQL 15, and a streaming
# standby) and end-to-end tests; alerting end to end through the real
# Prometheus and Alertmanager;
# fault injection; a 20000-scrape soak; the integration suite on
# PostgreSQL 12-18 (checking README's compatibility table); the demo's
# self-check; a micro-benchmark smoke run; the unit and integration suites
# under AddressSanitizer + UBSan (LeakSanitizer on); the concurrency tests
# under ThreadSanitizer; and three libFuzzer targets for a bounded time.
# Every server is started here on 127.0.0.1 and stopped by its PID.
# PGWARDEN_PG_MAJORS narrows the matrix ("15"); PGWARDEN_FUZZ_SECONDS and
# PGWARDEN_SOAK_SCRAPES shorten those runs.
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

echo "== alert and recording rules, Alertmanager config, dashboards, deployment files"
promtool check rules deploy/prometheus/pgwarden-alerts.yml deploy/prometheus/pgwarden-recording.yml
(cd deploy/prometheus && promtool test rules pgwarden-alerts.test.yml pgwarden-recording.test.yml)
promtool check config deploy/prometheus/prometheus.yml
(cd deploy/alertmanager && amtool check-config alertmanager.yml)
for severity in critical warning; do
  route=$(amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml \
    severity=$severity 2>/dev/null)
  [[ $route == "postgres-$severity" ]] || { echo "severity=$severity routes to '$route'" >&2; exit 1; }
done
python3 dashboards/build.py --check
python3 tests/dashboards/lint.py dashboards
python3 tests/deploy/validate.py

echo "== build (-Wall -Wextra -Werror)"
build build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo

echo "== unit, integration and end-to-end tests (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
fresh_cluster pg-main
(cd build/ci && ctest --output-on-failure --timeout 600)

echo "== alerting end to end: PostgreSQL -> pgwarden -> Prometheus -> Alertmanager -> webhook"
tests/e2e/alerting_e2e.sh build/ci/pgwarden 2>&1 | grep -E '^alerting|paged after|skipped'
[[ ${PIPESTATUS[0]} == 0 ]] || exit 1

echo "== faults: stopped, killed, frozen, locked, full, misconfigured servers"
tests/faults/faults.sh build/ci/pgwarden 2>&1 | grep -E '^\||^faults:'

echo "== soak: 20000 scrapes under a live workload"
tests/soak/soak.sh build/ci/pgwarden "${PGWARDEN_SOAK_SCRAPES:-20000}"

echo "== PostgreSQL matrix: integration suite and a scrape on each major"
source tests/lib/pg_versions.sh
MAJORS=${PGWARDEN_PG_MAJORS:-12 13 14 15 16 17 18}
RESULTS=build/compat
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
matrix_failed=()
for major in $MAJORS; do
  if ! bin=$(pg_bin_for "$major"); then
    echo "PostgreSQL $major: binaries could not be installed" >&2
    matrix_failed+=("$major (not installed)")
    continue
  fi
  PG_BIN=$bin fresh_cluster "pg-$major"
  "$bin/postgres" --version | awk '{print $3}' >"$RESULTS/$major.version"
  echo "-- PostgreSQL $(cat "$RESULTS/$major.version")"
  if ! build/ci/tests/integration_tests --gtest_output="xml:$RESULTS/$major.xml" \
      >"$WORK/it-$major.log" 2>&1; then
    grep -E "Failure|FAILED|Expected|Which is|Actual" "$WORK/it-$major.log" | head -40
    matrix_failed+=("$major (integration)")
  fi
  grep -E "^\[  (PASSED|FAILED)" "$WORK/it-$major.log" || true
  port=$(pg_free_port)
  build/ci/pgwarden --web_listen_address="127.0.0.1:$port" --dsn "$PGWARDEN_TEST_DSN" \
    >"$WORK/pgwarden-$major.log" 2>&1 &
  exporter=$!
  wait_http "http://127.0.0.1:$port/healthz" &&
    curl -fsS "http://127.0.0.1:$port/metrics" -o "$RESULTS/$major.metrics" ||
    matrix_failed+=("$major (scrape)")
  kill "$exporter"
  wait "$exporter" || true
  promtool check metrics <"$RESULTS/$major.metrics" || matrix_failed+=("$major (promtool)")
  pg_stop "${CLUSTERS[-1]}"
done
python3 tests/lib/compat_table.py "$RESULTS" $MAJORS >"$RESULTS/table.md"
cat "$RESULTS/table.md"
if [[ -z ${PGWARDEN_PG_MAJORS:-} ]]; then
  # The README's table is this output; a run on every major checks it.
  if [[ ${PGWARDEN_UPDATE_README:-0} == 1 ]]; then
    python3 - "$RESULTS/table.md" <<'PY'
import re, sys
table = open(sys.argv[1]).read()
readme = open("README.md").read()
new = re.sub(r"(<!-- compat:begin -->\n).*?(<!-- compat:end -->)",
             lambda m: m.group(1) + table + m.group(2), readme, flags=re.S)
open("README.md", "w").write(new)
PY
  elif ! diff <(sed -n '/<!-- compat:begin -->/,/<!-- compat:end -->/p' README.md | sed '1d;$d') \
      "$RESULTS/table.md"; then
    echo "README.md's compatibility table differs from these results;" \
      "run PGWARDEN_UPDATE_README=1 tests/run.sh" >&2
    exit 1
  fi
fi
if ((${#matrix_failed[@]})); then
  echo "matrix failures: ${matrix_failed[*]}" >&2
  exit 1
fi

echo "== demo self-check (deploy/demo.sh on free ports)"
PGWARDEN_PORT=$(pg_free_port) DEMO_PG_PORT=$(pg_free_port) DEMO_PROMETHEUS_PORT=$(pg_free_port) \
  DEMO_ALERTMANAGER_PORT=$(pg_free_port) DEMO_WEBHOOK_PORT=$(pg_free_port) DEMO_SECONDS=1 DEMO_CHECK=1 \
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

echo "== ThreadSanitizer: the concurrency tests (single-flight, deadlines, HTTP)"
build build/tsan -DCMAKE_BUILD_TYPE=Debug -DPGWARDEN_TSAN=ON
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build/tsan/tests/unit_tests \
  --gtest_filter='EngineTest.*:HttpServer*' 2>&1 | tail -3

echo "== libFuzzer (clang): exposition output, DSNs, flag values; ${PGWARDEN_FUZZ_SECONDS:=20} s each"
cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGWARDEN_FUZZ=ON -DPGWARDEN_BUILD_TESTS=OFF \
  -DPGWARDEN_WERROR=ON >"$WORK/cmake-fuzz.log" || { cat "$WORK/cmake-fuzz.log"; exit 1; }
cmake --build build/fuzz -j"$JOBS" --target exposition_fuzz dsn_fuzz flags_fuzz
for target in exposition dsn flags; do
  corpus=$WORK/corpus-$target
  mkdir -p "$corpus"
  cp tests/fuzz/seeds/$target/* "$corpus/"
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "build/fuzz/${target}_fuzz" \
    -max_total_time="$PGWARDEN_FUZZ_SECONDS" -rss_limit_mb=2048 -artifact_prefix="$WORK/" \
    "$corpus" >"$WORK/fuzz-$target.log" 2>&1 || {
      tail -40 "$WORK/fuzz-$target.log"; echo "fuzzer $target found a failure" >&2; exit 1; }
  grep -E "^Done" "$WORK/fuzz-$target.log" | sed "s/^/$target: /"
done

echo "== all suites passed"
