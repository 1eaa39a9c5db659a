#!/usr/bin/env bash
# Installs what is missing, builds with -Wall -Wextra -Werror and runs the
# tests, stage by stage:
#   ./tests/run.sh              every stage, in order (what CI runs)
#   ./tests/run.sh unit         one stage; several may be named
#   ./tests/run.sh --list       the stages and what each runs
# Every server is started here on 127.0.0.1 and stopped by its PID.
# PGWARDEN_PG_MAJORS narrows the matrix ("15"); PGWARDEN_FUZZ_SECONDS and
# PGWARDEN_SOAK_SCRAPES shorten those runs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# The stages, in the order a full run takes them, and what each runs.
STAGE_TABLE="\
lint         clang-format, include layers, alert/recording rules (promtool), Alertmanager routing (amtool), dashboards, deployment files
unit         unit tests (no server)
integration  integration suite against PostgreSQL 15; a streaming standby
sampler      the activity sampler on PostgreSQL 15: 30 lock waits, pg_sleep and CPU time against the clock, 15 s snapshots beside it
e2e          the binary over HTTP: exposition, errors, exit codes, postgres_exporter compatibility
web          the front door: hostile clients, TLS, client certificates, basic auth, rate limit, reloads, Prometheus over TLS, postgres_exporter's flags
probe        /probe: three servers, 400/403, password file, one connection per target, frozen target, SIGHUP, LRU and idle close; Prometheus over two hashmod replicas
alerting     PostgreSQL -> pgwarden -> Prometheus -> Alertmanager -> webhook
faults       stopped, killed, frozen, locked, full and misconfigured servers
soak         scrapes under a live workload (PGWARDEN_SOAK_SCRAPES, default 12000), bounded RSS growth
matrix       integration suite and a scrape on PostgreSQL 12-18; README's compatibility table
demo         deploy/demo.sh's self-check on free ports
bench        micro-benchmark smoke run
sanitizers   unit and integration under ASan+UBSan+LSan; concurrency tests under TSan
fuzz         libFuzzer: exposition output, DSNs, flag values"
declare -A ABOUT=()
STAGES=()
while read -r stage about; do
  STAGES+=("$stage")
  ABOUT[$stage]=$about
done <<<"$STAGE_TABLE"

if [[ ${1:-} == --list ]]; then
  echo "$STAGE_TABLE"
  exit 0
fi
for s in "$@"; do
  [[ -n ${ABOUT[$s]:-} ]] || { echo "run.sh: unknown stage \"$s\" (see --list)" >&2; exit 2; }
done
SELECTED=("$@")
((${#SELECTED[@]})) || SELECTED=("${STAGES[@]}")

./scripts/install-deps.sh
source scripts/lib/harness.sh
harness_init tests
JOBS=$(nproc)

# build DIR [--target T...] [CMAKE_ARGS...]: configure, then build what
# changed (everything, or the targets named).
# Line tables only (-g1) in every build: stack traces keep file:line, and
# compiling takes a third less than with full debug information.
RELWITHDEBINFO_FLAGS="-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
build() {
  local dir=$1 targets=()
  shift
  while [[ ${1:-} == --target ]]; do targets+=(--target "$2"); shift 2; done
  cmake -S . -B "$dir" -DPGWARDEN_WERROR=ON -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
    "$RELWITHDEBINFO_FLAGS" "$@" >"$WORK/cmake-$(basename "$dir").log" ||
    { cat "$WORK/cmake-$(basename "$dir").log"; return 1; }
  cmake --build "$dir" -j"$JOBS" "${targets[@]}"
}
build_ci() {  # build_ci [TARGET...]: the RelWithDebInfo build the stages share
  local targets=() t
  for t in "$@"; do targets+=(--target "$t"); done
  build build/ci "${targets[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
}

# logged NAME PATTERN CMD...: runs CMD with its output in $WORK/NAME.log;
# prints the lines matching PATTERN when it passes, all of it when it fails.
logged() {
  local name=$1 log=$WORK/$1.log pattern=$2
  shift 2
  if "$@" >"$log" 2>&1; then
    grep -E "$pattern" "$log" || true
  else
    cat "$log"
    echo "$name failed (log above)" >&2
    return 1
  fi
}

# A fresh cluster per suite run: some tests change server state
# (pending_restart survives until a restart). Sets PGWARDEN_TEST_DSN.
fresh_cluster() {  # fresh_cluster NAME
  local port
  port=$(free_port)
  pg_start "$WORK/$1" "$port"
  export PGWARDEN_TEST_DSN="host=127.0.0.1 port=$port user=postgres"
  psql "$PGWARDEN_TEST_DSN dbname=postgres" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
}

stage_lint() {
  local diffs=()
  for f in $(git ls-files '*.cc' '*.h'); do
    clang-format --dry-run --Werror "$f" 2>/dev/null || diffs+=("$f")
  done
  if ((${#diffs[@]})); then
    echo "not clang-formatted (run clang-format -i): ${diffs[*]}" >&2
    return 1
  fi
  python3 tests/lint/layers.py
  logged rules 'rules found|SUCCESS$' promtool check rules deploy/prometheus/pgwarden-alerts.yml \
    deploy/prometheus/pgwarden-recording.yml
  logged rule-tests 'Unit Testing' bash -c \
    'cd deploy/prometheus && promtool test rules pgwarden-alerts.test.yml pgwarden-recording.test.yml'
  logged prometheus-config 'valid' promtool check config deploy/prometheus/prometheus.yml \
    deploy/prometheus/prometheus-tls.yml deploy/prometheus/prometheus-probe.yml
  logged alertmanager-config 'SUCCESS' bash -c 'cd deploy/alertmanager && amtool check-config alertmanager.yml'
  local severity route
  for severity in critical warning; do
    route=$(amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml \
      severity=$severity 2>/dev/null)
    [[ $route == "postgres-$severity" ]] ||
      { echo "severity=$severity routes to '$route'" >&2; return 1; }
  done
  python3 dashboards/build.py --check
  python3 tests/dashboards/lint.py dashboards
  python3 tests/deploy/validate.py
}

stage_unit() {
  build_ci unit_tests
  logged unit 'tests (passed|failed)' ctest --test-dir build/ci --output-on-failure \
    --timeout 600 -L unit
}

stage_integration() {
  build_ci
  fresh_cluster pg-integration
  logged integration 'tests (passed|failed)' ctest --test-dir build/ci --output-on-failure \
    --timeout 600 -L integration
  logged replica '^replica:' tests/integration/replica.sh build/ci/pgwarden
}

stage_sampler() {
  build_ci pgwarden
  logged sampler '^sampler:' tests/integration/sampler.sh build/ci/pgwarden
}

stage_e2e() {
  build_ci
  fresh_cluster pg-e2e
  logged e2e '^e2e:' tests/e2e/exporter_e2e.sh build/ci/pgwarden
}

stage_web() {
  build_ci
  fresh_cluster pg-web
  logged web '^web:|^\| pgwarden' tests/e2e/web_e2e.sh build/ci/pgwarden
}

stage_probe() {
  build_ci
  logged probe '^probe' tests/e2e/probe_e2e.sh build/ci/pgwarden
}

stage_alerting() {
  build_ci
  logged alerting '^alerting|paged after|of time|skipped' tests/e2e/alerting_e2e.sh build/ci/pgwarden
}

stage_faults() {
  build_ci
  logged faults '^\||^faults:' tests/faults/faults.sh build/ci/pgwarden
}

stage_soak() {
  build_ci
  tests/soak/soak.sh build/ci/pgwarden "${PGWARDEN_SOAK_SCRAPES:-12000}"
}

stage_matrix() {
  build_ci
  tests/matrix.sh build/ci
}

stage_demo() {
  # The demo's own Release build is the same sources and CMake file the
  # other stages built: it runs the binary they tested.
  build_ci pgwarden
  PGWARDEN_BIN=$ROOT/build/ci/pgwarden PGWARDEN_PORT=$(free_port) DEMO_PG_PORT=$(free_port) DEMO_PROMETHEUS_PORT=$(free_port) \
    DEMO_ALERTMANAGER_PORT=$(free_port) DEMO_WEBHOOK_PORT=$(free_port) DEMO_TLS_PORT=$(free_port) \
    DEMO_SECONDS=1 \
    DEMO_CHECK=1 ./deploy/demo.sh >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; return 1; }
  grep -E "demo check passed" "$WORK/demo.log"
}

stage_bench() {
  build_ci
  build/ci/tests/micro_bench --benchmark_min_time=0.01 >"$WORK/bench.txt"
  tail -n +4 "$WORK/bench.txt"
}

stage_sanitizers() {
  # Only what runs under them: the test binaries, not pgwarden or the benchmarks.
  build build/asan --target unit_tests --target integration_tests -DCMAKE_BUILD_TYPE=Debug \
    -DPGWARDEN_SANITIZE=ON >/dev/null
  fresh_cluster pg-asan
  # The 200-database test runs in stage integration: it checks the visitor's
  # schedule in time, which a sanitizer's slowdown would only blur.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    logged asan 'tests (passed|failed)' ctest --test-dir build/asan --output-on-failure \
    --timeout 600 -L 'unit|integration' -E ManyDatabases
  build build/tsan --target concurrency_tests -DCMAKE_BUILD_TYPE=Debug -DPGWARDEN_TSAN=ON \
    >/dev/null
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 logged tsan '^\[  (PASSED|FAILED)' \
    build/tsan/tests/concurrency_tests

}

stage_fuzz() {
  local seconds=${PGWARDEN_FUZZ_SECONDS:-20} target corpus
  cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "$RELWITHDEBINFO_FLAGS" \
    -DPGWARDEN_FUZZ=ON -DPGWARDEN_BUILD_TESTS=OFF \
    -DPGWARDEN_WERROR=ON >"$WORK/cmake-fuzz.log" || { cat "$WORK/cmake-fuzz.log"; return 1; }
  cmake --build build/fuzz -j"$JOBS" --target exposition_fuzz dsn_fuzz flags_fuzz >/dev/null
  for target in exposition dsn flags; do
    corpus=$WORK/corpus-$target
    mkdir -p "$corpus"
    cp tests/fuzz/seeds/$target/* "$corpus/"
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "build/fuzz/${target}_fuzz" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -artifact_prefix="$WORK/" \
      "$corpus" >"$WORK/fuzz-$target.log" 2>&1 || {
        tail -40 "$WORK/fuzz-$target.log"; echo "fuzzer $target found a failure" >&2; return 1; }
    grep -E "^Done" "$WORK/fuzz-$target.log" | sed "s/^/$target: /"
  done
}

for s in "${SELECTED[@]}"; do
  echo "== $s: ${ABOUT[$s]}"
  start=$SECONDS
  "stage_$s"
  echo "-- $s passed in $((SECONDS - start)) s"
done
echo "== all selected stages passed: ${SELECTED[*]}"
