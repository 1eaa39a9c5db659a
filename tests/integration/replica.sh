#!/usr/bin/env bash
# Streaming replication for real: a primary and a standby made with
# pg_basebackup (Debian's PostgreSQL 15, 127.0.0.1), pgwarden on each.
# Asserts the replication, slot, stat_replication, WAL receiver and archiver
# families carry real values, and that lag grows while replay is paused.
# Usage: replica.sh PATH_TO_PGWARDEN
set -euo pipefail

BIN=${1:?usage: replica.sh PATH_TO_PGWARDEN}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init replica

# value FILE SERIES: the sample value of an exact series line, or "".
value() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
scrape() { curl -fsS "http://127.0.0.1:$1/metrics" >"$2"; }

P_PORT=$(free_port)
pg_start "$WORK/primary" "$P_PORT" "wal_level = replica" "max_wal_senders = 5" \
  "wal_keep_size = 64MB" "archive_mode = on" "archive_command = 'true'"
P_DSN="host=127.0.0.1 port=$P_PORT user=postgres dbname=postgres"
psql "$P_DSN" -qc "SELECT pg_create_physical_replication_slot('it_standby')" >/dev/null
psql "$P_DSN" -qc "CREATE TABLE ticks (id serial, at timestamptz default now())"

S_PORT=$(free_port)
mkdir -p "$WORK/standby" && chown postgres: "$WORK/standby"
pg_as_owner "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$P_PORT" -U postgres \
  -D "$WORK/standby/data" -R -S it_standby -X stream >"$WORK/basebackup.log" 2>&1 || {
  cat "$WORK/basebackup.log" >&2; exit 1; }
# postgresql.auto.conf (written by -R) is read last: override it there.
{
  echo "port = $S_PORT"
  echo "unix_socket_directories = '$WORK/standby'"
  echo "primary_conninfo = 'host=127.0.0.1 port=$P_PORT user=postgres application_name=it_standby'"
} >>"$WORK/standby/data/postgresql.auto.conf"
on_exit pg_stop "$WORK/standby"
pg_as_owner "$PG_BIN/pg_ctl" -D "$WORK/standby/data" -l "$WORK/standby/server.log" -w -t 60 \
  start >/dev/null || { cat "$WORK/standby/server.log" >&2; exit 1; }
S_DSN="host=127.0.0.1 port=$S_PORT user=postgres dbname=postgres"

COLLECTORS=replication,replication_slots,stat_replication,stat_wal_receiver,stat_archiver
start_pgwarden primary "$BIN" --dsn "$P_DSN" --collectors=$COLLECTORS
P_EXP=$PGWARDEN_PORT
start_pgwarden standby "$BIN" --dsn "$S_DSN" --collectors=$COLLECTORS
S_EXP=$PGWARDEN_PORT

# Wait (at most 20 s) for the standby to stream.
for i in $(seq 1 100); do
  [[ $(psql "$P_DSN" -Atc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == 1 ]] && break
  sleep 0.2
done
psql "$P_DSN" -qc "INSERT INTO ticks DEFAULT VALUES"
sleep 1

scrape "$P_EXP" "$WORK/p1.txt"
scrape "$S_EXP" "$WORK/s1.txt"
SLOT='{slot_name="it_standby",database=""}'
SLOT_T='{slot_name="it_standby",slot_type="physical"}'
REP='{application_name="it_standby",client_addr="127.0.0.1",state="streaming",slot_name="it_standby"}'
check "primary: is_replica 0" test "$(value "$WORK/p1.txt" pg_replication_is_replica)" = 0
check "primary: slot active" test "$(value "$WORK/p1.txt" "pg_replication_slots_active$SLOT")" = 1
check "primary: slot is_active" test "$(value "$WORK/p1.txt" "pg_replication_slots_slot_is_active$SLOT_T")" = 1
check "primary: slot wal_status reserved" \
  test "$(value "$WORK/p1.txt" 'pg_replication_slots_wal_status{slot_name="it_standby",slot_type="physical",wal_status="reserved"}')" = 1
current=$(value "$WORK/p1.txt" "pg_stat_replication_pg_current_wal_lsn_bytes$REP")
check "primary: stat_replication current LSN > 0" awk -v v="$current" 'BEGIN { exit !(v > 0) }'
check "primary: stat_replication lag bytes present" \
  test -n "$(value "$WORK/p1.txt" "pg_stat_replication_pg_wal_lsn_diff$REP")"
check "standby: is_replica 1" test "$(value "$WORK/s1.txt" pg_replication_is_replica)" = 1
check "standby: replay not paused" test "$(value "$WORK/s1.txt" pg_replication_replay_paused)" = 0
check "standby: receiver streaming (2)" \
  test "$(value "$WORK/s1.txt" 'pg_stat_wal_receiver_status{upstream_host="127.0.0.1",slot_name="it_standby"}')" = 2
flushed=$(value "$WORK/s1.txt" 'pg_stat_wal_receiver_flushed_lsn{upstream_host="127.0.0.1",slot_name="it_standby"}')
check "standby: receiver flushed LSN > 0" awk -v v="$flushed" 'BEGIN { exit !(v > 0) }'

# Pause replay, keep writing on the primary: the standby falls behind.
psql "$S_DSN" -Atqc "SELECT pg_wal_replay_pause()" >/dev/null
for i in $(seq 1 6); do
  psql "$P_DSN" -qc "INSERT INTO ticks SELECT FROM generate_series(1, 2000)"
  sleep 0.5
done
scrape "$S_EXP" "$WORK/s2.txt"
sleep 2
psql "$P_DSN" -qc "INSERT INTO ticks DEFAULT VALUES"
sleep 0.5
scrape "$S_EXP" "$WORK/s3.txt"
scrape "$P_EXP" "$WORK/p2.txt"
lag2=$(value "$WORK/s2.txt" pg_replication_lag_seconds)
lag3=$(value "$WORK/s3.txt" pg_replication_lag_seconds)
check "paused: replay_paused 1" test "$(value "$WORK/s3.txt" pg_replication_replay_paused)" = 1
check "paused: lag > 0 ($lag2)" awk -v v="$lag2" 'BEGIN { exit !(v > 0) }'
check "paused: lag grows ($lag2 -> $lag3)" awk -v a="$lag2" -v b="$lag3" 'BEGIN { exit !(b >= a + 1.5) }'
age=$(value "$WORK/s3.txt" pg_replication_last_replay_seconds)
check "paused: last replayed transaction ages ($age s)" awk -v v="$age" 'BEGIN { exit !(v >= 2) }'
bytes=$(value "$WORK/s3.txt" pg_replication_replay_lag_bytes)
check "paused: received-but-not-replayed bytes > 0 ($bytes)" awk -v v="$bytes" 'BEGIN { exit !(v > 0) }'
diff=$(value "$WORK/p2.txt" "pg_stat_replication_pg_wal_lsn_diff$REP")
check "paused: primary sees replay lag bytes > 0 ($diff)" awk -v v="$diff" 'BEGIN { exit !(v > 0) }'

# Archiving (archive_command = 'true'): a switched segment is archived and
# the archiver's families say so.
psql "$P_DSN" -Atqc "SELECT pg_switch_wal()" >/dev/null
for i in $(seq 1 100); do
  [[ $(psql "$P_DSN" -Atc "SELECT archived_count > 0 FROM pg_stat_archiver") == t ]] && break
  sleep 0.2
done
scrape "$P_EXP" "$WORK/p3.txt"
archived=$(value "$WORK/p3.txt" pg_stat_archiver_archived_count)
age=$(value "$WORK/p3.txt" pg_stat_archiver_last_archive_age)
check "archiver: archived_count >= 1 ($archived)" awk -v v="$archived" 'BEGIN { exit !(v >= 1) }'
check "archiver: last_archive_age in [0, 60) ($age)" awk -v v="$age" 'BEGIN { exit !(v != "" && v >= 0 && v < 60) }'
check "archiver: no failures" test "$(value "$WORK/p3.txt" pg_stat_archiver_failed_count)" = 0

# Resume: the lag returns to 0 within 20 s.
psql "$S_DSN" -Atqc "SELECT pg_wal_replay_resume()" >/dev/null
caught_up=1
for i in $(seq 1 100); do
  scrape "$S_EXP" "$WORK/s4.txt"
  if [[ $(value "$WORK/s4.txt" pg_replication_lag_seconds) == 0 ]]; then caught_up=0; break; fi
  sleep 0.2
done
check "resumed: lag back to 0" test "$caught_up" = 0
for f in "$WORK"/p*.txt "$WORK"/s*.txt; do
  check "promtool $(basename "$f")" promtool check metrics <"$f"
done

check_summary
