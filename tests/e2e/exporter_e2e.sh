#!/usr/bin/env bash
# End-to-end checks of the pgwarden binary over HTTP, against the PostgreSQL
# named by PGWARDEN_TEST_DSN: exposition validity (promtool), gzip, 404,
# landing page, password hygiene, exit code 2 on bad input, clean SIGTERM,
# and an unreachable database.
# Usage: exporter_e2e.sh PATH_TO_PGWARDEN
set -euo pipefail

BIN=${1:?usage: exporter_e2e.sh PATH_TO_PGWARDEN}
DSN=${PGWARDEN_TEST_DSN:?PGWARDEN_TEST_DSN must name the test server}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init e2e
SECRET="e2e-Secret-Pw-7731"

# --- a healthy target -----------------------------------------------------
start_pgwarden main "$BIN" --dsn "$DSN password=$SECRET"
MAIN_PID=$PGWARDEN_PID
curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics" >"$WORK/metrics.txt"
check "promtool check metrics exit 0" promtool check metrics <"$WORK/metrics.txt"
check "pg_up 1" grep -qx 'pg_up 1' "$WORK/metrics.txt"
DEFAULT_COLLECTORS=$("$BIN" --help | sed -n 's/^  \([a-z_]*\) \[default\]$/\1/p')
check "at least 20 default collectors" test "$(echo "$DEFAULT_COLLECTORS" | wc -l)" -ge 20
for c in $DEFAULT_COLLECTORS; do
  check "collector $c succeeds" grep -qx "pg_scrape_collector_success{collector=\"$c\"} 1" "$WORK/metrics.txt"
done
check "process metrics" grep -q '^process_resident_memory_bytes ' "$WORK/metrics.txt"

curl -fsS -D "$WORK/gz.headers" -H 'Accept-Encoding: gzip' \
  "http://127.0.0.1:$PGWARDEN_PORT/metrics" -o "$WORK/metrics.gz"
check "gzip content encoding" grep -qi '^Content-Encoding: gzip' "$WORK/gz.headers"
check "gzip body decodes to valid exposition" \
  bash -c "gzip -dc '$WORK/metrics.gz' | promtool check metrics"
check "content type" grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/gz.headers"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PGWARDEN_PORT/no/such/path")
check "404 for unknown path" test "$code" = 404
curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/" >"$WORK/landing.html"
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
wait "$MAIN_PID" && rc=0 || rc=$?
check "SIGTERM exit code 0" test "$rc" = 0
check "no pgwarden session left" bash -c \
  "[ \"\$(psql '$DSN' -Atc \"select count(*) from pg_stat_activity where application_name='pgwarden'\")\" = 0 ]"

# --- an unreachable database ----------------------------------------------
DEAD_PORT=$(free_port)
start_pgwarden down "$BIN" --dsn "host=127.0.0.1 port=$DEAD_PORT user=x password=$SECRET"
curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics" >"$WORK/down.txt"
check "down: pg_up 0" grep -qx 'pg_up 0' "$WORK/down.txt"
check "down: collectors report 0" grep -qx 'pg_scrape_collector_success{collector="locks"} 0' "$WORK/down.txt"
check "down: valid exposition" promtool check metrics <"$WORK/down.txt"
curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics" >/dev/null
sleep 1.2  # the activity sampler fails again meanwhile
check "down: one error line for repeated failures (scrapes, the sampler, the database visitor)" \
  test "$(grep -c 'level=error' "$WORK/down.log")" = 3 -a \
  "$(grep -c 'level=error msg="activity sampler of' "$WORK/down.log")" = 1 -a \
  "$(grep -c 'level=error msg="per-database collectors of .*listing databases' "$WORK/down.log")" = 1
curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/" >"$WORK/down.html"
check "down: landing page shows the error" grep -q 'Last error' "$WORK/down.html"
stop "$PGWARDEN_PID"

# --- passwords never leak -------------------------------------------------
check "password not in logs, metrics or pages" bash -c \
  "! grep -rl -- '$SECRET' '$WORK'/*.log '$WORK'/*.txt '$WORK'/*.html"

# --- bad input: exit 2 and one line ---------------------------------------
expect_exit2() {  # expect_exit2 NAME ARGS...
  local name=$1
  shift
  local rc=0
  "$BIN" "$@" >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
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
start_pgwarden holder "$BIN" --dsn "$DSN"
expect_exit2 "port in use" --web_listen_address="127.0.0.1:$PGWARDEN_PORT" --dsn "$DSN"
stop "$PGWARDEN_PID"

"$BIN" --version >"$WORK/version.out"
check "--version" grep -q '^pgwarden ' "$WORK/version.out"
"$BIN" --help >"$WORK/help.out"
check "--help lists flags" grep -q -- '--stat_statements_limit' "$WORK/help.out"
for flag in $(grep -oE '^  --[a-z_]+' "$WORK/help.out"); do
  check "README documents $flag" grep -q -- "\`$flag\`" "$HERE/../README.md"
done
"$BIN" --dsn "$DSN" --print_queries >"$WORK/queries.sql"
check "--print_queries prints one statement per collector" \
  test "$(grep -cE '^-- [a-z_]+$' "$WORK/queries.sql")" = "$(echo "$DEFAULT_COLLECTORS" | wc -l)"
check "--print_queries ends with the activity sampler's statement" \
  bash -c "sed -n '/^-- activity sampler, every 1 s/,\$p' '$WORK/queries.sql' | grep -q pg_blocking_pids"
check "--print_queries output runs in psql" \
  bash -c "psql '$DSN' -v ON_ERROR_STOP=1 -qf '$WORK/queries.sql' >/dev/null"

# --- postgres_exporter compatibility: queries.yaml, environment, names ----
psql "$DSN dbname=postgres" -qc "CREATE TABLE IF NOT EXISTS e2e_orders (id int); SELECT count(*) FROM e2e_orders" >/dev/null
start_pgwarden custom "$BIN" --dsn "$DSN dbname=postgres" --extend_query_path "$HERE/e2e/queries.yaml" \
  --legacy_names
curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics" >"$WORK/custom.txt"
for c in pg_e2e_replication pg_e2e_postmaster pg_e2e_databases pg_e2e_wait pg_e2e_process_idle \
  pg_e2e_stat_user_tables pg_e2e_statio_user_tables pg_e2e_stat_statements; do
  check "custom query $c succeeds" grep -qx "pg_scrape_collector_success{collector=\"$c\"} 1" "$WORK/custom.txt"
done
check "per-table rows, labelled by database, schema and table" \
  grep -qE '^pg_e2e_stat_user_tables_n_live_tup\{datname="postgres",schemaname="[^"]+",relname="[^"]+"\} ' "$WORK/custom.txt"
check "pg_stat_statements rows by role, database and queryid" \
  grep -qE '^pg_e2e_stat_statements_calls\{rolname="[^"]+",datname="[^"]+",queryid="-?[0-9]+"\} [1-9]' "$WORK/custom.txt"
check "GAUGE" grep -qx 'pg_e2e_replication_lag 0' "$WORK/custom.txt"
check "GAUGE start time" grep -qE '^pg_e2e_postmaster_start_time_seconds [0-9.e+]+$' "$WORK/custom.txt"
check "LABEL + MAPPEDMETRIC" grep -qx 'pg_e2e_databases_state{datname="postgres"} 1' "$WORK/custom.txt"
check "DURATION in seconds" grep -qx 'pg_e2e_databases_checkpoint_seconds{datname="postgres"} 2.5' "$WORK/custom.txt"
check "DURATION legacy name" grep -qx 'pg_e2e_databases_checkpoint_ms_milliseconds{datname="postgres"} 2500' "$WORK/custom.txt"
check "COUNTER" grep -qE '^pg_e2e_databases_commits\{datname="postgres"\} [0-9]+$' "$WORK/custom.txt"
check "DISCARD" bash -c "! grep -q '^pg_e2e_databases_note' '$WORK/custom.txt'"
check "HISTOGRAM: one histogram per row, values as the SQL's" bash -c "
  grep -qx '# TYPE pg_e2e_wait_seconds histogram' '$WORK/custom.txt' &&
  grep -qx 'pg_e2e_wait_seconds_bucket{application_name=\"a\",le=\"2\"} 1' '$WORK/custom.txt' &&
  grep -qx 'pg_e2e_wait_seconds_bucket{application_name=\"a\",le=\"15\"} 2' '$WORK/custom.txt' &&
  grep -qx 'pg_e2e_wait_seconds_bucket{application_name=\"a\",le=\"+Inf\"} 3' '$WORK/custom.txt' &&
  grep -qx 'pg_e2e_wait_seconds_sum{application_name=\"a\"} 23.5' '$WORK/custom.txt' &&
  grep -qx 'pg_e2e_wait_seconds_count{application_name=\"b\"} 1' '$WORK/custom.txt' &&
  grep -qx 'pg_e2e_wait_seconds_bucket{application_name=\"b\",le=\"1\"} 1' '$WORK/custom.txt'"
check "HISTOGRAM families pass promtool" bash -c \
  "grep -E '^(# (HELP|TYPE) )?pg_e2e_wait_seconds' '$WORK/custom.txt' | promtool check metrics"
check "legacy bgwriter name" grep -qE '^pg_stat_bgwriter_buffers_alloc [0-9]+$' "$WORK/custom.txt"
check "legacy replication lag name" grep -qx 'pg_replication_lag 0' "$WORK/custom.txt"
stop "$PGWARDEN_PID"
# postgres_exporter's own example file, unchanged, as Debian's package ships
# it. Its pg_postmaster and pg_stat_user_tables make families the built-in
# postmaster and stat_user_tables collectors make too: each must be served
# once, or Prometheus rejects the whole scrape.
EXAMPLE=/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml
start_pgwarden example "$BIN" --dsn "$DSN dbname=postgres" --extend_query_path "$EXAMPLE"
example_visited() {
  curl -fsS "$PGWARDEN_URL/metrics" >"$WORK/example.txt" &&
    grep -qx 'pg_scrape_collector_success{collector="stat_user_tables"} 1' "$WORK/example.txt"
}
check "example file: the per-database collectors have visited" wait_until 30 example_visited
for c in pg_replication pg_postmaster pg_stat_user_tables pg_statio_user_tables pg_process_idle; do
  check "example file: $c succeeds" grep -qx "pg_scrape_collector_success{collector=\"$c\"} 1" "$WORK/example.txt"
done
# Written for pg_stat_statements before PostgreSQL 13 (total_time), as
# postgres_exporter also reports it.
check "example file: pg_stat_statements fails alone" \
  grep -qx 'pg_scrape_collector_success{collector="pg_stat_statements"} 0' "$WORK/example.txt"
check "example file: pg_stat_statements's failure names the column" \
  grep -q 'pg_stat_statements: ERROR: *column \\"total_time\\" does not exist' "$WORK/example.log"
check "example file: the answer passes promtool" bash -c "promtool check metrics <'$WORK/example.txt'"
check "example file: each family once" bash -c \
  "test -z \"\$(grep '^# HELP ' '$WORK/example.txt' | cut -d' ' -f3 | sort | uniq -d)\""
check "example file: the idle-time HISTOGRAM" grep -qx '# TYPE pg_process_idle_seconds histogram' "$WORK/example.txt"
check "example file: repeated families named once in the log" \
  grep -q 'collector pg_postmaster makes families that collector postmaster already makes (pg_postmaster_start_time_seconds)' "$WORK/example.log"
stop "$PGWARDEN_PID"
printf 'pg_x:\n  query: "SELECT 1 AS v"\n  metrics:\n    - v:\n        usage: "SUMMARY"\n' >"$WORK/broken.yaml"
expect_exit2 "broken queries.yaml" --dsn "$DSN" --extend_query_path "$WORK/broken.yaml"
check "broken queries.yaml: file and line" grep -q "broken.yaml:5: v: unsupported usage" "$WORK/bad.err"

# DATA_SOURCE_URI + DATA_SOURCE_USER + DATA_SOURCE_PASS_FILE, as
# postgres_exporter's deployments set them.
HOSTPORT=$(psql "$DSN" -Atc "select host(inet_server_addr()) || ':' || inet_server_port()")
echo "$SECRET" >"$WORK/pass"
unset DATA_SOURCE_NAME
DATA_SOURCE_URI="$HOSTPORT/postgres?sslmode=disable" DATA_SOURCE_USER=postgres \
  DATA_SOURCE_PASS_FILE="$WORK/pass" start_pgwarden env "$BIN"
curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics" >"$WORK/env.txt"
check "DATA_SOURCE_URI/USER/PASS_FILE: pg_up 1" grep -qx 'pg_up 1' "$WORK/env.txt"
check "DATA_SOURCE_*: password not logged" bash -c "! grep -q -- '$SECRET' '$WORK/env.log'"
stop "$PGWARDEN_PID"

# A role without pg_monitor: wal fails with a clear reason, logged once.
psql "$DSN" -qc "DROP ROLE IF EXISTS e2e_plain; CREATE ROLE e2e_plain LOGIN"
start_pgwarden plain "$BIN" --dsn "$DSN dbname=postgres user=e2e_plain"
for i in 1 2 3; do curl -fsS "http://127.0.0.1:$PGWARDEN_PORT/metrics" >"$WORK/plain.txt"; done
check "no pg_monitor: wal fails" grep -qx 'pg_scrape_collector_success{collector="wal"} 0' "$WORK/plain.txt"
check "no pg_monitor: activity still works" \
  grep -qx 'pg_scrape_collector_success{collector="activity"} 1' "$WORK/plain.txt"
check "no pg_monitor: reported once, with the fix" \
  test "$(grep -c 'needs pg_monitor' "$WORK/plain.log")" = 1
stop "$PGWARDEN_PID"
psql "$DSN" -qc "DROP ROLE e2e_plain"

check_summary
