# Building and starting pgwarden. Source scripts/lib/common.sh first.
#   build_release                 builds build/release/pgwarden (Release, no
#                                 tests) and sets PGWARDEN_BIN to it; with
#                                 PGWARDEN_BIN already set (the tests, which
#                                 built one), uses that binary
#   start_pgwarden NAME BIN ARG...  starts BIN on a free 127.0.0.1 port (or
#                                 PGWARDEN_LISTEN when set) with ARGs, log in
#                                 $WORK/NAME.log, and waits for /healthz;
#                                 sets PGWARDEN_PORT, PGWARDEN_URL and
#                                 PGWARDEN_PID. Stopped at exit.

build_release() {
  if [[ -n ${PGWARDEN_BIN:-} ]]; then
    [[ -x $PGWARDEN_BIN ]] || { echo "PGWARDEN_BIN=$PGWARDEN_BIN is not executable" >&2; return 1; }
    return 0
  fi
  cmake -S "$HARNESS_ROOT" -B "$HARNESS_ROOT/build/release" -DCMAKE_BUILD_TYPE=Release \
    -DPGWARDEN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$HARNESS_ROOT/build/release" -j"$(nproc)" --target pgwarden >/dev/null
  PGWARDEN_BIN=$HARNESS_ROOT/build/release/pgwarden
}

start_pgwarden() {
  local name=$1 bin=$2
  shift 2
  local listen=${PGWARDEN_LISTEN:-}
  if [[ -z $listen ]]; then
    PGWARDEN_PORT=$(free_port)
    listen=127.0.0.1:$PGWARDEN_PORT
  else
    PGWARDEN_PORT=${listen##*:}
  fi
  PGWARDEN_URL=http://127.0.0.1:$PGWARDEN_PORT
  spawn "$WORK/$name.log" "$bin" --web_listen_address="$listen" "$@"
  PGWARDEN_PID=$SPAWNED
  wait_http "$PGWARDEN_URL/healthz" && return 0
  echo "pgwarden ($name) did not start:" >&2
  cat "$WORK/$name.log" >&2
  return 1
}
