#!/usr/bin/env bash
# End-to-end checks of the pgwarden binary over HTTP, against the PostgreSQL
# named by PGWARDEN_TEST_DSN: exposition validity (promtool), gzip, 404,
# landing page, password hygiene, exit code 2 on bad input, clean SIGTERM,
# and an unreachable database.
# Usage: exporter_e2e.sh PATH_TO_PGWARDEN
set -uo pipefail

BIN=${1:?usage: exporter_e2e.sh PATH_TO_PGWARDEN}
DSN=${PGWARDEN_TEST_DSN:?PGWARDEN_TEST_DSN must name the test server}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/lib/pg.sh"
WORK=$(mktemp -d /tmp/pgwarden-e2e.XXXXXX)
SECRET="e2e-Secret-Pw-7731"
passed=0
failed=0
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

check() {  # check NAME COMMAND...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "e2e FAIL: $name" >&2
  fi
}

# start_exporter NAME ARGS... : starts pgwarden, waits for /healthz; sets
# PORT and PID.
start_exporter() {
  local name=$1
  shift
  PORT=$(pg_free_port)
  "$BIN" --web_listen_address="127.0.0.1:$PORT" "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_http "http://127.0.0.1:$PORT/healthz" && return 0
  echo "e2e: $name did not start" >&2
  cat "$WORK/$name.log" >&2
  return 1
}

# --- a healthy target -----------------------------------------------------
start_exporter main --dsn "$DSN password=$SECRET" || exit 1
MAIN_PID=$PID
MAIN_PORT=$PORT
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt"
check "promtool check metrics exit 0" promtool check metrics <"$WORK/metrics.txt"
check "pg_up 1" grep -qx 'pg_up 1' "$WORK/metrics.txt"
for c in activity blocking locks settings stat_statements; do
  check "collector $c succeeds" grep -qx "pg_scrape_collector_success{collector=\"$c\"} 1" "$WORK/metrics.txt"
done
check "process metrics" grep -q '^process_resident_memory_bytes ' "$WORK/metrics.txt"

curl -fsS -D "$WORK/gz.headers" -H 'Accept-Encoding: gzip' \
  "http://127.0.0.1:$PORT/metrics" -o "$WORK/metrics.gz"
check "gzip content encoding" grep -qi '^Content-Encoding: gzip' "$WORK/gz.headers"
check "gzip body decodes to valid exposition" \
  bash -c "gzip -dc '$WORK/metrics.gz' | promtool check metrics"
check "content type" grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/gz.headers"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/no/such/path")
check "404 for unknown path" test "$code" = 404
curl -fsS "http://127.0.0.1:$PORT/" >"$WORK/landing.html"
check "landing page names the target" grep -q 'host=127.0.0.1 port=' "$WORK/landing.html"
check "landing page lists collectors" grep -q '<li>blocking</li>' "$WORK/landing.html"

# --- SIGTERM: clean exit within 3 s, connection closed --------------------
kill -TERM "$MAIN_PID"
exited=1
for i in $(seq 1 30); do
  if ! kill -0 "$MAIN_PID" 2>/dev/null; then exited=0; break; fi
  sleep 0.1
done
check "SIGTERM exits within 3 s" test "$exited" = 0
wait "$MAIN_PID"
check "SIGTERM exit code 0" test $? = 0
check "no pgwarden session left" bash -c \
  "[ \"\$(psql '$DSN' -Atc \"select count(*) from pg_stat_activity where application_name='pgwarden'\")\" = 0 ]"

# --- an unreachable database ----------------------------------------------
DEAD_PORT=$(pg_free_port)
start_exporter down --dsn "host=127.0.0.1 port=$DEAD_PORT user=x password=$SECRET" || exit 1
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$WORK/down.txt"
check "down: pg_up 0" grep -qx 'pg_up 0' "$WORK/down.txt"
check "down: collectors report 0" grep -qx 'pg_scrape_collector_success{collector="locks"} 0' "$WORK/down.txt"
check "down: valid exposition" promtool check metrics <"$WORK/down.txt"
curl -fsS "http://127.0.0.1:$PORT/metrics" >/dev/null
check "down: one error line for repeated failures" \
  test "$(grep -c 'level=error' "$WORK/down.log")" = 1
curl -fsS "http://127.0.0.1:$PORT/" >"$WORK/down.html"
check "down: landing page shows the error" grep -q 'Last error' "$WORK/down.html"
kill -TERM "$PID"; wait "$PID" 2>/dev/null

# --- passwords never leak -------------------------------------------------
check "password not in logs, metrics or pages" bash -c \
  "! grep -rl -- '$SECRET' '$WORK'/*.log '$WORK'/*.txt '$WORK'/*.html"

# --- bad input: exit 2 and one line ---------------------------------------
expect_exit2() {  # expect_exit2 NAME ARGS...
  local name=$1
  shift
  "$BIN" "$@" >"$WORK/bad.out" 2>"$WORK/bad.err"
  local rc=$?
  check "$name: exit 2 (got $rc)" test "$rc" = 2
  check "$name: one line" test "$(wc -l <"$WORK/bad.err")" = 1
  check "$name: no password" bash -c "! grep -q -- '$SECRET' '$WORK/bad.err'"
}
expect_exit2 "unknown flag" --no_such_flag=1
expect_exit2 "unknown collector" --collectors=default,-lockz
expect_exit2 "bad value" --scrape_timeout=soon
expect_exit2 "positional argument" stray
expect_exit2 "unreadable dsn file" --dsn_file=/nonexistent/dsn
expect_exit2 "invalid dsn" --dsn "host=x password=$SECRET garbage"
expect_exit2 "bad log level" --log_level=loud
start_exporter holder --dsn "$DSN" || exit 1
expect_exit2 "port in use" --web_listen_address="127.0.0.1:$PORT" --dsn "$DSN"
kill -TERM "$PID"; wait "$PID" 2>/dev/null

"$BIN" --version >"$WORK/version.out"
check "--version" grep -q '^pgwarden ' "$WORK/version.out"
"$BIN" --help >"$WORK/help.out"
check "--help lists flags" grep -q -- '--stat_statements_limit' "$WORK/help.out"
for flag in $(grep -oE '^  --[a-z_]+' "$WORK/help.out"); do
  check "README documents $flag" grep -q -- "\`$flag\`" "$HERE/../README.md"
done
"$BIN" --dsn "$DSN" --print_queries >"$WORK/queries.sql"
check "--print_queries prints one statement per collector" \
  test "$(grep -cE '^-- [a-z_]+$' "$WORK/queries.sql")" = 5
check "--print_queries output runs in psql" \
  bash -c "psql '$DSN' -v ON_ERROR_STOP=1 -qf '$WORK/queries.sql' >/dev/null"

echo "e2e: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
