#!/usr/bin/env bash
# /probe for real: pgwarden as a pure probe exporter (no DSN) in front of
# PostgreSQL 15 (Debian's, password authentication), PostgreSQL 17 (the npm
# package) and a port where nothing listens. postgres_exporter's 400s, the
# allow-list's 403, a password read from a file and rotated, one persistent
# connection per target across probes (checked in pg_stat_activity), a
# frozen server (SIGSTOP) that delays only its own probe, SIGHUP with a
# broken --config.file, --probe.max_targets and --probe.idle_timeout; then a
# real Prometheus with the shipped fleet configuration (hashmod over two
# replicas) and the shipped alert rules (lowered): every target probed by
# exactly one replica, and the blocked-session alert firing for a probed
# server under its own `instance`.
# Usage: probe_e2e.sh PATH_TO_PGWARDEN
set -euo pipefail

BIN=${1:?usage: probe_e2e.sh PATH_TO_PGWARDEN}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init probe
# A pure probe exporter: nothing in the environment names a server.
unset DATA_SOURCE_NAME DATA_SOURCE_URI DATA_SOURCE_USER DATA_SOURCE_PASS PGHOST PGHOSTADDR \
  PGSERVICE PGPORT PGUSER PGPASSWORD PGDATABASE

# --- three servers ------------------------------------------------------------
A=$(free_port)
pg_start "$WORK/a" "$A"
B=$(free_port)
PG_BIN=$(pg_bin_for 17) pg_start "$WORK/b" "$B"
DOWN=$(free_port)
PASSWORD=pw-A-$RANDOM-s3cret
for port in "$A" "$B"; do
  psql -X -q "host=127.0.0.1 port=$port user=postgres dbname=postgres" <<SQL
CREATE ROLE prober LOGIN PASSWORD '$PASSWORD' IN ROLE pg_monitor;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE accounts (id int PRIMARY KEY);
INSERT INTO accounts VALUES (1);
SQL
done
for db in db1 db2 db3; do
  psql -X -q "host=127.0.0.1 port=$A user=postgres dbname=postgres" -c "CREATE DATABASE $db"
done
# A asks prober for its password (scram); B trusts everyone.
sed -i "1i host all prober 127.0.0.1/32 scram-sha-256" "$WORK/a/data/pg_hba.conf"
psql -X -q "host=127.0.0.1 port=$A user=postgres dbname=postgres" -c "SELECT pg_reload_conf()"
# sessions PORT [DATNAME]: prober's scrape sessions on that server (each
# target also has its activity sampler's, counted by sampler_sessions).
sessions() {
  psql -X -At "host=127.0.0.1 port=$1 user=postgres dbname=postgres" -c \
    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'prober'
       AND application_name NOT LIKE '%\_sampler'${2:+ AND datname = '$2'}"
}
sampler_sessions() {
  psql -X -At "host=127.0.0.1 port=$1 user=postgres dbname=postgres" -c \
    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'prober'
       AND application_name LIKE '%\_sampler'${2:+ AND datname = '$2'}"
}

# --- the configuration ------------------------------------------------------------
echo wrong-password >"$WORK/secret"
write_config() {
  cat >"$WORK/probe.yml" <<YAML
auth_modules:
  monitor:
    type: userpass
    userpass:
      username: prober
      password_file: secret
    options:
      sslmode: disable
allowed_targets:
  - "127.0.0.1:$A"
  - "127.0.0.1:$B"
  - "127.0.0.1:$DOWN"
YAML
}
write_config
start_pgwarden probe "$BIN" --config.file="$WORK/probe.yml"
URL=$PGWARDEN_URL
PID=$PGWARDEN_PID
probe() {  # probe TARGET [CURL_ARG...]: the body; status in $WORK/status; MODULE= to change
  local target=$1 module=${MODULE-monitor}
  shift
  curl -sS -o "$WORK/body" -w '%{http_code}' "$@" -G "$URL/probe" \
    --data-urlencode "target=$target" ${module:+--data-urlencode "auth_module=$module"} \
    >"$WORK/status"
  cat "$WORK/body"
}
status() { cat "$WORK/status"; }
metric() {  # metric TEXT_FILE NAME_AND_LABELS: its value
  grep -F "$2 " "$1" | grep -v '^#' | head -1 | awk '{print $NF}'
}

curl -fsS "$URL/metrics" >"$WORK/own.txt"
check "no DSN: /metrics is pgwarden's own, without pg_up" \
  bash -c "! grep -q '^pg_up' '$WORK/own.txt' && grep -q '^process_resident_memory_bytes' '$WORK/own.txt' &&
    grep -q '^pgwarden_probe_targets' '$WORK/own.txt'"
check "its log says it is a probe exporter" grep -q 'target none (/probe only)' "$WORK/probe.log"

# --- postgres_exporter's 400s and the allow-list's 403 -------------------------------
probe "" >/dev/null
check "no target: 400 'target is required'" \
  bash -c "[[ \$(cat '$WORK/status') == 400 && \$(cat '$WORK/body') == 'target is required' ]]"
MODULE=nope probe "127.0.0.1:$A" >/dev/null
check "unknown module: 400 'auth_module nope not found'" \
  bash -c "[[ \$(cat '$WORK/status') == 400 && \$(cat '$WORK/body') == 'auth_module nope not found' ]]"
probe "169.254.169.254:80" >"$WORK/forbidden.txt"
check "a target outside allowed_targets: 403 with the reason" \
  bash -c "[[ \$(cat '$WORK/status') == 403 ]] && grep -q 'not in --config.file' '$WORK/forbidden.txt'"
probe "127.0.0.1:1" >/dev/null
check "another port of an allowed host: 403" [ "$(status)" == 403 ]
probe "host=127.0.0.1 port=$A sslkey=/etc/shadow" >"$WORK/sslkey.txt"
check "a target naming a local file: 400" \
  bash -c "[[ \$(cat '$WORK/status') == 400 ]] && grep -q 'target may not set sslkey' '$WORK/sslkey.txt'"

# --- three servers, one password file ------------------------------------------------
probe "127.0.0.1:$A" >"$WORK/a-wrong.txt"
check "A with the wrong password: 200 and pg_up 0" \
  bash -c "[[ \$(cat '$WORK/status') == 200 ]] && grep -qx 'pg_up 0' '$WORK/a-wrong.txt'"
echo "$PASSWORD" >"$WORK/secret"
probe "127.0.0.1:$A" >"$WORK/a.txt"
check "A after the secret is rotated: pg_up 1, PostgreSQL 15" \
  bash -c "grep -qx 'pg_up 1' '$WORK/a.txt' && grep -q '^pg_static{version=\"15' '$WORK/a.txt'"
probe "postgresql://127.0.0.1:$B/postgres" >"$WORK/b.txt"
check "B: pg_up 1, PostgreSQL 17" \
  bash -c "grep -qx 'pg_up 1' '$WORK/b.txt' && grep -q '^pg_static{version=\"17' '$WORK/b.txt'"
probe "127.0.0.1:$DOWN" -H 'X-Prometheus-Scrape-Timeout-Seconds: 3' >"$WORK/down.txt"
check "the down server: 200 and pg_up 0" \
  bash -c "[[ \$(cat '$WORK/status') == 200 ]] && grep -qx 'pg_up 0' '$WORK/down.txt'"
check "a probe's answer passes promtool" promtool check metrics <"$WORK/a.txt"
check "a probe's answer describes the target alone (no process_*)" \
  bash -c "! grep -q '^process_' '$WORK/a.txt'"

# --- one connection per target -----------------------------------------------------
for i in $(seq 1 20); do
  probe "127.0.0.1:$A" >/dev/null
  probe "postgresql://127.0.0.1:$B/postgres" >/dev/null
done
probe "postgresql://127.0.0.1:$B/postgres" >"$WORK/b20.txt"
one_session() { [[ $(sessions "$1") == 1 ]]; }
check "20 probes of A: one session of prober on A" wait_until 5 one_session "$A"
check "20 probes of B: one session of prober on B" wait_until 5 one_session "$B"
one_sampler() { [[ $(sampler_sessions "$1") == 1 ]]; }
check "and one activity sampler session each" wait_until 5 one_sampler "$A"
# Its main connection once; the rest are the database visitor's: one
# listing, then one per visit (each closed after it).
opened=$(metric "$WORK/b20.txt" pgwarden_connections_opened_total)
visits=$(metric "$WORK/b20.txt" pgwarden_database_visits_total)
check "and B's runtime opened its main connection once (and one per database visit)" \
  bash -c "(( $visits >= 1 && $opened - $visits >= 1 && $opened - $visits <= 2 ))"
curl -fsS "$URL/metrics" >"$WORK/own.txt"
check "targets held, probes and refusals counted" \
  bash -c "grep -qx 'pgwarden_probe_targets{state=\"up\"} 2' '$WORK/own.txt' &&
    grep -qx 'pgwarden_probe_targets{state=\"down\"} 1' '$WORK/own.txt' &&
    grep -qx 'pgwarden_probes_refused_total{reason=\"not_allowed\"} 2' '$WORK/own.txt' &&
    grep -qx 'pgwarden_probes_refused_total{reason=\"bad_request\"} 3' '$WORK/own.txt' &&
    grep -qx 'pgwarden_probe_targets_closed_total{reason=\"replaced\"} 1' '$WORK/own.txt'"
curl -fsS "$URL/" >"$WORK/landing.html"
check "the landing page lists the held targets" \
  bash -c "grep -q 'port=$B' '$WORK/landing.html' && grep -q 'port=$DOWN' '$WORK/landing.html'"
check "no password in the log, the metrics, the page or an answer" \
  bash -c "! grep -rqF -e '$PASSWORD' -e wrong-password '$WORK/probe.log' '$WORK/own.txt' \
    '$WORK/landing.html' '$WORK/a.txt' '$WORK/a-wrong.txt' '$WORK/forbidden.txt'"

# --- a frozen server delays only its own probe -------------------------------------
postmaster_of() { head -1 "$WORK/$1/data/postmaster.pid"; }
FROZEN="$(postmaster_of b) $(ps -o pid= --ppid "$(postmaster_of b)")"
kill -STOP $FROZEN
start=$(date +%s.%N)
(probe "postgresql://127.0.0.1:$B/postgres" -H 'X-Prometheus-Scrape-Timeout-Seconds: 2' >"$WORK/frozen.txt";
  date +%s.%N >"$WORK/frozen.end") &
FROZEN_PROBE=$!
slowest=0
for i in $(seq 1 10); do
  t=$(curl -sS -o /dev/null -w '%{time_total}' -G "$URL/probe" --data-urlencode "target=127.0.0.1:$A" \
    --data-urlencode auth_module=monitor)
  slowest=$(awk -v a="$slowest" -v b="$t" 'BEGIN {print (b > a) ? b : a}')
done
wait "$FROZEN_PROBE"
kill -CONT $FROZEN
frozen=$(awk -v a="$start" -v b="$(cat "$WORK/frozen.end")" 'BEGIN {printf "%.2f", b - a}')
echo "probe: frozen B answered in ${frozen}s (deadline 1.5 s); A's slowest of 10 meanwhile ${slowest}s"
check "the frozen server's probe answers by its deadline" \
  awk -v s="$frozen" 'BEGIN {exit !(s < 3.5)}'
check "with failed collectors reported" grep -q 'pg_scrape_collector_success{.*} 0' "$WORK/frozen.txt"
check "A's probes meanwhile answer at their usual speed" awk -v s="$slowest" 'BEGIN {exit !(s < 1)}'

# --- SIGHUP: a broken file keeps the modules --------------------------------------
echo "auth_modules: [" >"$WORK/probe.yml"
kill -HUP "$PID"
reload_failed() {
  curl -fsS "$URL/metrics" | grep -qx 'pgwarden_config_last_reload_successful 0'
}
check "a broken --config.file on SIGHUP is reported" wait_until 5 reload_failed
probe "127.0.0.1:$A" >"$WORK/a-after.txt"
check "and the last good modules still serve" \
  bash -c "[[ \$(cat '$WORK/status') == 200 ]] && grep -qx 'pg_up 1' '$WORK/a-after.txt'"
write_config
kill -HUP "$PID"
reload_ok() { curl -fsS "$URL/metrics" | grep -qx 'pgwarden_config_last_reload_successful 1'; }
check "the mended file is taken on the next SIGHUP" wait_until 5 reload_ok
stop "$PID"

# --- --probe.max_targets and --probe.idle_timeout ------------------------------------
start_pgwarden lru "$BIN" --config.file="$WORK/probe.yml" --probe.max_targets=2 \
  --probe.idle_timeout=3
URL=$PGWARDEN_URL
probe "127.0.0.1:$A/db1" >/dev/null
probe "127.0.0.1:$A/db2" >/dev/null
probe "127.0.0.1:$A/db1" >/dev/null
probe "127.0.0.1:$A/db3" >/dev/null
db2_closed() { [[ $(sessions "$A" db2) == 0 ]]; }
check "a third target closes the least recently probed (db2)" wait_until 5 db2_closed
kept() {
  [[ $(psql -X -At "host=127.0.0.1 port=$A user=postgres dbname=postgres" -c "SELECT
    string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity WHERE usename = 'prober'
      AND application_name NOT LIKE '%\_sampler'") == db1,db3 ]]
}
check "and keeps db1 and db3" wait_until 5 kept
idle_closed() {
  [[ $(sessions "$A" db1) == 0 && $(sessions "$A" db3) == 0 &&
     $(sampler_sessions "$A" db1) == 0 && $(sampler_sessions "$A" db3) == 0 ]]
}
check "idle targets are closed after --probe.idle_timeout" wait_until 10 idle_closed
curl -fsS "$URL/metrics" >"$WORK/lru.txt"
check "closes counted by reason" \
  bash -c "grep -qx 'pgwarden_probe_targets_closed_total{reason=\"evicted\"} 1' '$WORK/lru.txt' &&
    grep -qx 'pgwarden_probe_targets_closed_total{reason=\"idle\"} 2' '$WORK/lru.txt'"
stop "$PGWARDEN_PID"

# --- Prometheus: two replicas share the fleet by hashmod ---------------------------
start_pgwarden replica0 "$BIN" --config.file="$WORK/probe.yml" --blocking_query_length=40
R0=$PGWARDEN_PORT
start_pgwarden replica1 "$BIN" --config.file="$WORK/probe.yml" --blocking_query_length=40
R1=$PGWARDEN_PORT
# Targets until each replica has at least two: Prometheus' hashmod is the
# md5 of the target modulo 2 (non-existent databases are fine: pg_up 0).
TARGETS=$(python3 - "$A" "$B" "$DOWN" <<'PY'
import hashlib, sys
a, b, down = sys.argv[1:]
cands = [f"127.0.0.1:{b}/postgres", f"127.0.0.1:{a}/postgres", f"127.0.0.1:{down}/postgres",
         f"127.0.0.1:{a}/db1", f"127.0.0.1:{a}/db2", f"127.0.0.1:{a}/db3"]
cands += [f"127.0.0.1:{a}/nodb{i}" for i in range(20)]
shard = lambda t: int.from_bytes(hashlib.md5(t.encode()).digest()[8:], "big") % 2
out = cands[:6]
for t in cands[6:]:
    if min(sum(shard(x) == s for x in out) for s in (0, 1)) >= 2:
        break
    out.append(t)
print(",".join(out))
PY
)
N=$(tr ',' '\n' <<<"$TARGETS" | wc -l)
DEPLOY=$HERE/../deploy
python3 "$HERE/../scripts/lib/lower_rules.py" rules "$DEPLOY/prometheus/pgwarden-alerts.yml" \
  "$WORK/alerts.yml" --for 1s --long-running 2 --blocked-wait 1 --idle 2 --lock-wait 2
python3 "$HERE/../scripts/lib/lower_rules.py" probe "$DEPLOY/prometheus/prometheus-probe.yml" \
  "$WORK/prometheus.yml" --targets "$TARGETS" --replicas "127.0.0.1:$R0,127.0.0.1:$R1" \
  --module monitor --alertmanager 127.0.0.1:9 --interval 1s --rules "$WORK/alerts.yml"
check "the lowered fleet configuration loads" promtool check config "$WORK/prometheus.yml"
PROM=$(free_port)
spawn "$WORK/prometheus.log" prometheus --config.file="$WORK/prometheus.yml" \
  --storage.tsdb.path="$WORK/tsdb" --web.listen-address="127.0.0.1:$PROM"
wait_http "http://127.0.0.1:$PROM/-/ready" 30
promql() {  # promql EXPR: the result vector as JSON
  curl -fsS -G "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1"
}
all_scraped() {
  [[ $(promql 'count(count by (instance) (pg_up{job="pgwarden-probe"}))' |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)') == "$N" ]]
}
check "Prometheus probes all $N targets through the replicas" wait_until 30 all_scraped
check "each target has one series of pg_up, with its own instance" bash -c "
  [[ \$(curl -fsS -G 'http://127.0.0.1:$PROM/api/v1/query' --data-urlencode 'query=count by (instance) (pg_up{job=\"pgwarden-probe\"}) > 1' |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"data\"][\"result\"]))') == 0 ]]"
held() { curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^pgwarden_probe_targets\{/ {n += $2} END {print n + 0}'; }
h0=$(held "$R0")
h1=$(held "$R1")
echo "probe: replica 0 holds $h0 targets, replica 1 holds $h1 (of $N)"
check "each target is held by exactly one replica, both replicas work" \
  bash -c "(( $h0 + $h1 == $N && $h0 >= 2 && $h1 >= 2 ))"

# A blocked session on B: the shipped alert fires with B's instance.
PGAPPNAME=holder spawn /dev/null psql -X -q "host=127.0.0.1 port=$B user=postgres dbname=postgres" \
  -c "BEGIN; LOCK TABLE accounts; SELECT pg_sleep(60)"
sleep 0.5
PGAPPNAME=waiter spawn /dev/null psql -X -q "host=127.0.0.1 port=$B user=postgres dbname=postgres" \
  -c "SELECT count(*) FROM accounts"
INSTANCE="127.0.0.1:$B/postgres"
alert_fires() {
  curl -fsS "http://127.0.0.1:$PROM/api/v1/alerts" | python3 -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
sys.exit(0 if any(a["labels"]["alertname"] == "PostgresBlockedSessions" and a["state"] == "firing"
                  and a["labels"].get("instance") == sys.argv[1] for a in alerts) else 1)' "$INSTANCE"
}
check "PostgresBlockedSessions fires for the probed server's instance" wait_until 30 alert_fires

check_summary
