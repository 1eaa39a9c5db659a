#!/usr/bin/env bash
# The front door, measured: hostile HTTP clients against pgwarden, an older
# pgwarden (BENCH_COMPARE=path) and Debian's postgres_exporter side by side,
# then scrape latency and pgwarden's CPU per scrape over plain HTTP and over
# TLS with basic auth, with and without keep-alive. Prints two tables.
# Usage: tests/bench/front_door_bench.sh [PATH_TO_PGWARDEN]
#   BENCH_SCRAPES (default 300) scrapes per mode.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/../.." && pwd)
source "$HERE/scripts/lib/harness.sh"
harness_init front-door-bench
BIN=${1:-}
if [[ -z $BIN ]]; then
  build_release
  BIN=$PGWARDEN_BIN
fi
SCRAPES=${BENCH_SCRAPES:-300}
ulimit -n 4096

PG_PORT=$(free_port)
pg_start "$WORK/pg" "$PG_PORT"
DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"

echo "## Hostile clients (normal requests while they are held open; 10 s timeout)"
echo
echo "| exporter | held open | /metrics | / | /healthz |"
echo "|---|---|---|---|---|"
hostile() {  # hostile LABEL PORT
  python3 "$HERE/tests/e2e/hostile_clients.py" "$2" --label "$1" --timeout 10 2>/dev/null |
    sed 's/ | \/metrics / | /; s/ | \/ / | /; s/ | \/healthz / | /' || true
}
start_pgwarden now "$BIN" --dsn "$DSN"
hostile "pgwarden $(git -C "$HERE" rev-parse --short HEAD)" "$PGWARDEN_PORT"
stop "$PGWARDEN_PID"
if [[ -n ${BENCH_COMPARE:-} ]]; then
  start_pgwarden before "$BENCH_COMPARE" --dsn "$DSN"
  hostile "pgwarden before" "$PGWARDEN_PORT"
  stop "$PGWARDEN_PID"
fi
PE_PORT=$(free_port)
spawn "$WORK/pe.log" env DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address="127.0.0.1:$PE_PORT"
PE_PID=$SPAWNED
wait_http "http://127.0.0.1:$PE_PORT/metrics"
hostile "postgres_exporter $(prometheus-postgres-exporter --version 2>&1 | awk 'NR==1{print $3}')" "$PE_PORT"
stop "$PE_PID"

# --- TLS versus plain ---------------------------------------------------------
PKI=$WORK/pki
mkdir -p "$PKI"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 2 \
  -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$PKI/server.key" -out "$PKI/server.csr" \
  -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$PKI/ext"
openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
  -out "$PKI/server.crt" -days 2 -extfile "$PKI/ext" 2>/dev/null
HASH=$(htpasswd -nbBC 10 "" bench-password | tr -d ':\n')
cat >"$WORK/web.yml" <<EOF
tls_server_config: {cert_file: pki/server.crt, key_file: pki/server.key}
basic_auth_users: {prometheus: '$HASH'}
EOF
# A small collector set, so that the HTTP and TLS share of a scrape shows.
COLLECTORS=activity,locks,settings

measure() {  # measure LABEL PID URL KEEPALIVE [AUTH]
  python3 - "$@" "$SCRAPES" "$PKI/ca.crt" <<'PY'
import base64, http.client, os, ssl, statistics, sys, time, urllib.parse
label, pid, url, keep, auth, n, ca = sys.argv[1:8]
n = int(n)
u = urllib.parse.urlsplit(url)
ctx = ssl.create_default_context(cafile=ca) if u.scheme == "https" else None
headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def connect():
    if ctx:
        return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)
conn = connect()
for _ in range(5):  # warm up: connection, memo, auth cache
    conn.request("GET", u.path, headers=headers); conn.getresponse().read()
    if keep != "yes":
        conn.close(); conn = connect()
lat, c0 = [], cpu()
for _ in range(n):
    t = time.perf_counter()
    if keep != "yes":
        conn = connect()
    conn.request("GET", u.path, headers=headers)
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
    if keep != "yes":
        conn.close()
    lat.append((time.perf_counter() - t) * 1000)
c1 = cpu()
lat.sort()
print(f"| {label} | {'yes' if keep == 'yes' else 'no'} | {statistics.median(lat):.2f} | "
      f"{lat[int(len(lat) * 0.99) - 1]:.2f} | {(c1 - c0) * 1000 / n:.2f} |")
PY
}
echo
echo "## Scrapes over plain HTTP and TLS + basic auth ($SCRAPES each, collectors $COLLECTORS)"
echo
echo "| endpoint | keep-alive | p50 ms | p99 ms | pgwarden CPU ms/scrape |"
echo "|---|---|---|---|---|"
start_pgwarden plain "$BIN" --dsn "$DSN" --collectors="$COLLECTORS"
measure "http" "$PGWARDEN_PID" "$PGWARDEN_URL/metrics" yes ""
measure "http" "$PGWARDEN_PID" "$PGWARDEN_URL/metrics" no ""
stop "$PGWARDEN_PID"
TLS_PORT=$(free_port)
spawn "$WORK/tls.log" "$BIN" --dsn "$DSN" --collectors="$COLLECTORS" \
  --web.listen-address="127.0.0.1:$TLS_PORT" --web.config.file="$WORK/web.yml"
TLS_PID=$SPAWNED
sleep 1
measure "https + basic auth" "$TLS_PID" "https://localhost:$TLS_PORT/metrics" yes "prometheus:bench-password"
measure "https + basic auth" "$TLS_PID" "https://localhost:$TLS_PORT/metrics" no "prometheus:bench-password"
stop "$TLS_PID"
