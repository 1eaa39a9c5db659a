#!/usr/bin/env bash
# Fault injection against a real PostgreSQL 15 while pgwarden scrapes it
# with a 2 s deadline. For each fault: seconds until pg_up 0 (or until the
# affected collectors report 0), seconds until everything is 1 again after
# the fix, and the slowest /metrics answer meanwhile. Prints a table; fails
# if any fault is not detected, not recovered from, or any answer took
# longer than the deadline plus 1 s. Every wait is bounded.
# Usage: faults.sh PATH_TO_PGWARDEN
set -euo pipefail

BIN=${1:?usage: faults.sh PATH_TO_PGWARDEN}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init faults
DEADLINE=2
LIMIT_MS=$(( (DEADLINE + 1) * 1000 ))
failures=0
ROWS=()

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

PGDIR=$WORK/pg
PORT=$(free_port)
# A certificate so that one role can be made to require TLS.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -keyout "$WORK/server.key" -out "$WORK/server.crt" >/dev/null 2>&1
chown postgres: "$WORK/server.key" "$WORK/server.crt"
chmod 600 "$WORK/server.key"
pg_start "$PGDIR" "$PORT" "max_connections = 20" "superuser_reserved_connections = 3" \
  "ssl = on" "ssl_cert_file = '$WORK/server.crt'" "ssl_key_file = '$WORK/server.key'"
{
  echo "host all pw 127.0.0.1/32 scram-sha-256"
  echo "hostnossl all tls 127.0.0.1/32 reject"
  cat "$PGDIR/data/pg_hba.conf"
} >"$WORK/hba" && cp "$WORK/hba" "$PGDIR/data/pg_hba.conf"
ADMIN=(psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
"${ADMIN[@]}" -c "SELECT pg_reload_conf()" >/dev/null
"${ADMIN[@]}" <<'SQL'
CREATE ROLE mon LOGIN IN ROLE pg_monitor;
CREATE ROLE filler LOGIN;
CREATE ROLE pw LOGIN PASSWORD 'right-Pass-91' IN ROLE pg_monitor;
CREATE ROLE tls LOGIN IN ROLE pg_monitor;
CREATE EXTENSION pg_stat_statements;
SQL
postmaster_pid() { head -1 "$PGDIR/data/postmaster.pid"; }
pg_restart_after_stop() {
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start >/dev/null
}

# watch_target NAME DSN: a pgwarden on DSN with the fault deadline and a
# short connect timeout; its counters start from zero.
watch_target() {
  CONNS=0
  SAMPLES=0
  TICKS=0
  start_pgwarden "$1" "$BIN" --scrape_timeout=$DEADLINE --connect_timeout=2 --dsn "$2"
}

# scrape: one GET; sets UP (1/0/"x"), OK (all collectors 1: 1/0), LAT_MS.
MAX_LAT=0
CONNS=0
SAMPLES=0
TICKS=0
scrape() {
  local t0 out
  t0=$(now)
  out=$(curl -sS --max-time 15 "http://127.0.0.1:$PGWARDEN_PORT/metrics" 2>/dev/null) || out=
  LAT_MS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%d", (b - a) * 1000}')
  if (( LAT_MS > MAX_LAT )); then MAX_LAT=$LAT_MS; fi
  UP=$(grep -oP '^pg_up \K[01]' <<<"$out" || echo x)
  CONNS=$(grep -oP '^pgwarden_connections_opened_total \K[0-9]+' <<<"$out" || echo "$CONNS")
  # The activity sampler: samples taken, and ticks (taken, failed or skipped).
  if [[ -n $out ]]; then
    SAMPLES=$(grep -oP '^pgwarden_sampler_samples_total \K[0-9]+' <<<"$out" || echo "$SAMPLES")
    TICKS=$(awk '/^pgwarden_sampler_(samples|errors|missed)_total /{s += $2} END {print s + 0}' <<<"$out")
  fi
  if [[ $UP == 1 ]] && ! grep -q '^pg_scrape_collector_success{.*} 0$' <<<"$out"; then OK=1; else OK=0; fi
}

# wait_for CONDITION SECONDS [START]: scrape every 0.2 s until CONDITION
# (a bash expression over UP/OK) holds; sets WAITED to the seconds since
# START (default: now) or "never". Runs in this shell, so MAX_LAT counts.
wait_for() {
  local cond=$1 limit=$2 t0=${3:-$(now)}
  while true; do
    scrape
    if eval "$cond"; then WAITED=$(since "$t0"); return 0; fi
    if awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN {exit !(b - a > l)}'; then
      WAITED=never; return 1
    fi
    sleep 0.2
  done
}

# fault NAME DETECT INJECT FIX: DETECT is the condition that shows the
# fault; times run from the start of INJECT and from the end of FIX. An
# INJECT of ':' means the exporter starts in the faulty state.
fault() {
  local name=$1 detect=$2 inject=$3 fix=$4 down up t0
  if [[ $inject != : ]]; then
    wait_for '[[ $OK == 1 ]]' 30 || echo "$name: not healthy before the fault" >&2
  fi
  MAX_LAT=0
  local conns_before=$CONNS ticks_before=$TICKS
  t0=$(now)
  eval "$inject"
  wait_for "$detect" 20 "$t0" || true
  down=$WAITED
  eval "$fix"
  wait_for '[[ $OK == 1 ]]' 60 || true
  up=$WAITED
  # The sampler kept its one-second schedule through the fault (a tick per
  # second, taken, failed or skipped) and samples again by itself.
  local ticks elapsed samples=$SAMPLES sampler=ok
  wait_for "(( SAMPLES > $samples ))" 5 || sampler="FAILED (did not resume)"
  ticks=$((TICKS - ticks_before))
  elapsed=$(since "$t0")
  awk -v n=$ticks -v s="$elapsed" 'BEGIN {exit !(n < 0.7 * s - 1.5 || n > 1.3 * s + 1.5)}' &&
    sampler="FAILED (off schedule)"
  local verdict=ok
  [[ $down == never || $up == never ]] && verdict=FAILED
  (( MAX_LAT > LIMIT_MS )) && verdict="FAILED (slow answer)"
  [[ $sampler != ok ]] && verdict="FAILED (sampler)"
  [[ $verdict != ok ]] && failures=$((failures + 1))
  ROWS+=("| $name | $down | $up | $MAX_LAT | $((CONNS - conns_before)) | $ticks in ${elapsed} s, $sampler | $verdict |")
}

watch_target main "host=127.0.0.1 port=$PORT dbname=postgres user=mon"
DOWN='[[ $UP != 1 ]]'

fault "server stopped (fast shutdown), started again" "$DOWN" \
  'kill -INT $(postmaster_pid); for i in $(seq 50); do [[ -f $PGDIR/data/postmaster.pid ]] || break; sleep 0.1; done' \
  'pg_restart_after_stop'
fault "server stopped (immediate shutdown), started again" "$DOWN" \
  'kill -QUIT $(postmaster_pid); for i in $(seq 50); do [[ -f $PGDIR/data/postmaster.pid ]] || break; sleep 0.1; done' \
  'pg_restart_after_stop'
fault "pgwarden's backend ended by pg_terminate_backend()" "$DOWN" \
  '"${ADMIN[@]}" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '"'"'pgwarden'"'"'" >/dev/null' \
  ':'
fault "another backend SIGKILLed: crash recovery" "$DOWN" \
  'PGAPPNAME=victim spawn /dev/null "${ADMIN[@]}" -c "SELECT pg_sleep(60)"; sleep 0.5;
   kill -KILL $("${ADMIN[@]}" -c "SELECT pid FROM pg_stat_activity WHERE application_name = '"'"'victim'"'"'")' \
  ':'
fault "postmaster and backends frozen (SIGSTOP) for 6 s" "$DOWN" \
  'FROZEN="$(postmaster_pid) $(ps -o pid= --ppid $(postmaster_pid))"; kill -STOP $FROZEN' \
  'sleep 6; kill -CONT $FROZEN'
printf 'BEGIN;\nLOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE;\n\\sleep 8 s\nCOMMIT;\n' >"$WORK/lock.sql"
fault "ACCESS EXCLUSIVE lock on pg_database held 8 s" '[[ $OK == 0 ]]' \
  'spawn /dev/null "$PG_BIN/pgbench" -n -c 1 -t 1 -f "$WORK/lock.sql" -h 127.0.0.1 -p $PORT -U postgres postgres; LOCKER=$SPAWNED' \
  'wait $LOCKER || true'
# pgwarden's query waits on that lock while it is cancelled from outside.
# The lock also stops new connections, so the canceller connects first and
# reads pg_stat_get_activity() (the view joins pg_database).
printf '\\sleep 700 ms\nSELECT pg_cancel_backend(pid) FROM pg_stat_get_activity(NULL) WHERE application_name = '"'"'pgwarden'"'"' AND state = '"'"'active'"'"';\n' \
  >"$WORK/cancel.sql"
fault "pgwarden's query cancelled by pg_cancel_backend()" '[[ $OK == 0 ]]' \
  'spawn "$WORK/cancel.out" "$PG_BIN/pgbench" -n -c 1 -t 1 -f "$WORK/cancel.sql" -h 127.0.0.1 -p $PORT -U postgres postgres;
   sleep 0.2;
   spawn /dev/null "$PG_BIN/pgbench" -n -c 1 -t 1 -f "$WORK/lock.sql" -h 127.0.0.1 -p $PORT -U postgres postgres; LOCKER=$SPAWNED;
   sleep 0.2; spawn /dev/null curl -s -o /dev/null "http://127.0.0.1:$PGWARDEN_PORT/metrics"' \
  'wait $LOCKER || true'
grep -q "canceling statement due to user request" "$WORK/main.log" ||
  { echo "the cancelled query was not reported" >&2; failures=$((failures + 1)); }
printf '\\sleep 60 s\n' >"$WORK/idle.sql"
fault "server at max_connections, pgwarden must reconnect" "$DOWN" \
  '"${ADMIN[@]}" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '"'"'pgwarden%'"'"'" >/dev/null;
   spawn /dev/null "$PG_BIN/pgbench" -n -c 17 -t 1 -f "$WORK/idle.sql" -h 127.0.0.1 -p $PORT -U filler postgres; FILLER=$SPAWNED' \
  'stop $FILLER'
pile=$("${ADMIN[@]}" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgwarden'")
[[ $pile -le 1 ]] || { echo "pgwarden holds $pile connections" >&2; failures=$((failures + 1)); }
stop "$PGWARDEN_PID"

# Wrong settings, each fixed on the server side so that the same running
# pgwarden recovers without a restart.
watch_target pw "host=127.0.0.1 port=$PORT dbname=postgres user=pw password=wrong-Pass-17"
fault "wrong password" "$DOWN" ':' \
  '"${ADMIN[@]}" -c "ALTER ROLE pw PASSWORD '"'"'wrong-Pass-17'"'"'" >/dev/null'
stop "$PGWARDEN_PID"
watch_target db "host=127.0.0.1 port=$PORT dbname=nodb user=mon"
fault "database does not exist" "$DOWN" ':' '"${ADMIN[@]}" -c "CREATE DATABASE nodb" >/dev/null'
stop "$PGWARDEN_PID"
watch_target tls "host=127.0.0.1 port=$PORT dbname=postgres user=tls sslmode=disable"
fault "TLS required by the server, not offered" "$DOWN" ':' \
  'sed -i "/^hostnossl all tls/d" "$PGDIR/data/pg_hba.conf"; "${ADMIN[@]}" -c "SELECT pg_reload_conf()" >/dev/null'
stop "$PGWARDEN_PID"
# config_fault NAME DSN: a target only a configuration change can fix; the
# row says how long until pg_up 0.
config_fault() {
  watch_target "config-${#ROWS[@]}" "$2"
  MAX_LAT=0
  wait_for "$DOWN" 10 || true
  local verdict=ok
  [[ $WAITED != never ]] || { verdict=FAILED; failures=$((failures + 1)); }
  ROWS+=("| $1 | $WAITED | n/a (a config change) | $MAX_LAT | 0 | n/a | $verdict |")
  stop "$PGWARDEN_PID"
}
config_fault "wrong port (nothing listening)" \
  "host=127.0.0.1 port=$(free_port) dbname=postgres user=mon"
config_fault "wrong host (127.0.0.2, refused)" "host=127.0.0.2 port=$PORT dbname=postgres user=mon"

# Every exporter log: errors said once per state, never the passwords.
if grep -l -e 'right-Pass-91' -e 'wrong-Pass-17' "$WORK"/*.log; then
  echo "a password appeared in a log" >&2
  failures=$((failures + 1))
fi

echo
echo "Faults (pgwarden deadline ${DEADLINE}s, one scrape every 0.2 s; times in seconds):"
echo
echo "| fault | until pg_up 0 / collectors 0 | recovery after the fix | slowest answer ms | reconnects | sampler ticks (1/s), resumed | verdict |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
grep -h 'level=error' "$WORK"/*.log | sed 's/^ts=[^ ]* //' | sort | uniq -c | sort -rn | head -12 || true
echo
echo "faults: $((${#ROWS[@]} - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
