#!/usr/bin/env bash
# The front door, end to end: hostile HTTP clients, --web.config.file (TLS
# with a throwaway CA, client certificates and allowed SANs, basic auth, rate
# limit, headers, certificate rotation and broken edits without a restart),
# a real Prometheus scraping through tls_config + basic_auth, and
# postgres_exporter's command lines (Helm chart, Debian defaults), against
# the PostgreSQL named by PGWARDEN_TEST_DSN.
# Usage: web_e2e.sh PATH_TO_PGWARDEN
set -euo pipefail

BIN=${1:?usage: web_e2e.sh PATH_TO_PGWARDEN}
DSN=${PGWARDEN_TEST_DSN:?PGWARDEN_TEST_DSN must name the test server}
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
harness_init web
ulimit -n 4096

# --- hostile clients on plain HTTP ---------------------------------------
start_pgwarden plain "$BIN" --dsn "$DSN"
check "hostile clients: every normal request answered in time, refusals right" \
  python3 "$HERE/e2e/hostile_clients.py" "$PGWARDEN_PORT" --label pgwarden --check
curl -fsS "$PGWARDEN_URL/metrics" >"$WORK/plain.txt"
check "rejections counted" grep -q '^pgwarden_http_requests_rejected_total{reason="method"} [1-9]' \
  "$WORK/plain.txt"
check "exposition still valid" promtool check metrics <"$WORK/plain.txt"
stop "$PGWARDEN_PID"

# --- a throwaway CA and certificates ----------------------------------------
PKI=$WORK/pki
mkdir -p "$PKI"
cert() {  # cert NAME CA_NAME SUBJECT SAN: a key and a certificate signed by CA
  openssl req -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.csr" \
    -subj "/CN=$3" 2>/dev/null
  printf 'subjectAltName=%s\n' "$4" >"$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" \
    -CAcreateserial -out "$PKI/$1.crt" -days 2 -extfile "$PKI/$1.ext" 2>/dev/null
}
for ca in ca other-ca; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$ca.key" -out "$PKI/$ca.crt" \
    -days 2 -subj "/CN=pgwarden test $ca" 2>/dev/null
done
cert server ca localhost "DNS:localhost,IP:127.0.0.1"
cert server2 ca localhost-rotated "DNS:localhost,IP:127.0.0.1"
cert client ca prometheus "DNS:prometheus.example"
cert client-badsan ca intruder "DNS:intruder.example"
cert client-other other-ca prometheus "DNS:prometheus.example"
PASSWORD='Scrape-Pw-5521'
HASH=$(python3 -W ignore -c "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))" "$PASSWORD")

# --- TLS + basic auth ---------------------------------------------------------
CONF=$WORK/web.yml
write_conf() {
  cat >"$CONF" <<EOF
tls_server_config:
  cert_file: pki/server.crt
  key_file: pki/server.key
basic_auth_users:
  prometheus: '$HASH'
http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
EOF
}
write_conf
TLS_PORT=$(free_port)
spawn "$WORK/tls.log" "$BIN" --dsn "$DSN" --web.listen-address="127.0.0.1:$TLS_PORT" \
  --web.config.file="$CONF"
TLS_PID=$SPAWNED
URL=https://127.0.0.1:$TLS_PORT
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" "$@" || true; }
tls_up() { test "$(code -u "prometheus:$PASSWORD" "$URL/healthz")" = 200; }
wait_until 10 tls_up
check "TLS + right password: 200" test "$(code -u "prometheus:$PASSWORD" "$URL/metrics")" = 200
check "wrong password: 401" test "$(code -u "prometheus:nope" "$URL/metrics")" = 401
check "unknown user: 401" test "$(code -u "mallory:$PASSWORD" "$URL/metrics")" = 401
check "no credentials: 401" test "$(code "$URL/metrics")" = 401
curl -s -D "$WORK/401.headers" -o /dev/null --cacert "$PKI/ca.crt" "$URL/" || true
check "401 asks for Basic" grep -qi '^WWW-Authenticate: Basic' "$WORK/401.headers"
check "configured headers sent" grep -qi '^X-Frame-Options: deny' "$WORK/401.headers"
tls11() {  # a client that offers TLS 1.1 only (security level 0 allows it)
  echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1
}
check "TLS 1.1 refused by the server" bash -c "$(declare -f tls11); TLS_PORT=$TLS_PORT; out=\$(tls11); [[ \$out == *'alert protocol version'* && \$out == *'Cipher is (NONE)'* ]]"
check "TLS 1.2 accepted" test "$(code --tls-max 1.2 -u "prometheus:$PASSWORD" "$URL/healthz")" = 200
check "TLS 1.3 accepted" test "$(code --tlsv1.3 -u "prometheus:$PASSWORD" "$URL/healthz")" = 200
check "plain HTTP on the TLS port gets no page" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TLS_PORT/healthz" || true)" != 200
curl -fsS --cacert "$PKI/ca.crt" -u "prometheus:$PASSWORD" "$URL/metrics" >"$WORK/tls.txt"
check "metrics over TLS valid" promtool check metrics <"$WORK/tls.txt"
check "pg_up 1 over TLS" grep -qx 'pg_up 1' "$WORK/tls.txt"
check "reload gauge 1" grep -qx 'pgwarden_web_config_last_reload_successful 1' "$WORK/tls.txt"
check "password never logged" bash -c "! grep -q '$PASSWORD' '$WORK/tls.log'"

# A real Prometheus scraping through tls_config + basic_auth.
PROM_PORT=$(free_port)
mkdir -p "$WORK/prom"
cp "$PKI/ca.crt" "$WORK/prom/ca.crt"
printf '%s' "$PASSWORD" >"$WORK/prom/password"
cat >"$WORK/prom/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: pgwarden-tls
    scheme: https
    tls_config: {ca_file: ca.crt, server_name: localhost}
    basic_auth: {username: prometheus, password_file: password}
    static_configs: [{targets: ['127.0.0.1:$TLS_PORT']}]
EOF
check "promtool accepts the TLS scrape config" promtool check config "$WORK/prom/prometheus.yml"
spawn "$WORK/prometheus.log" prometheus --config.file="$WORK/prom/prometheus.yml" \
  --storage.tsdb.path="$WORK/prom/data" --web.listen-address="127.0.0.1:$PROM_PORT"
PROM_PID=$SPAWNED
prom_up() {
  curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode \
    'query=up{job="pgwarden-tls"} == 1 and on() pg_up{job="pgwarden-tls"} == 1' 2>/dev/null |
    grep -q '"value"'
}
check "Prometheus scrapes pgwarden over TLS with basic auth" wait_until 30 prom_up
stop "$PROM_PID"

# Certificate rotation: replace the files, no restart.
serial() {
  echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$PKI/ca.crt" 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null
}
first_cert() { serial | grep -q 'CN = localhost$'; }
check "serves the first certificate" first_cert
cp "$PKI/server2.key" "$PKI/server.key.new" && cp "$PKI/server2.crt" "$PKI/server.crt.new"
mv "$PKI/server.key.new" "$PKI/server.key" && mv "$PKI/server.crt.new" "$PKI/server.crt"
rotated() { serial | grep -q 'CN = localhost-rotated'; }
check "rotated certificate served without restart" wait_until 10 rotated

# A broken edit keeps the last good configuration.
echo "tls_server_config: {cert_file: [" >"$CONF"
sleep 2.5
check "broken edit: still 200 with the password" \
  test "$(code -u "prometheus:$PASSWORD" "$URL/metrics")" = 200
check "broken edit: still 401 without it" test "$(code "$URL/metrics")" = 401
curl -fsS --cacert "$PKI/ca.crt" -u "prometheus:$PASSWORD" "$URL/metrics" >"$WORK/broken.txt"
check "broken edit: reload gauge 0" grep -qx 'pgwarden_web_config_last_reload_successful 0' "$WORK/broken.txt"
check "broken edit logged once" test "$(grep -c 'web config reload failed' "$WORK/tls.log")" = 1

# Rate limit: the edit that fixes the file adds one.
write_conf
printf 'rate_limit:\n  interval: 10s\n  burst: 2\n' >>"$CONF"
reloaded() {
  curl -fsS --cacert "$PKI/ca.crt" -u "prometheus:$PASSWORD" -o "$WORK/reloaded.txt" \
    "$URL/metrics" 2>/dev/null &&
    grep -qx 'pgwarden_web_config_last_reload_successful 1' "$WORK/reloaded.txt"
}
check "fixed file reloads" wait_until 10 reloaded
codes=""
for i in 1 2 3 4; do codes+="$(code -u "prometheus:$PASSWORD" "$URL/healthz") "; done
check "rate limit answers 429 past the burst ($codes)" bash -c "[[ '$codes' == *429* ]]"
stop "$TLS_PID"

# --- client certificates -------------------------------------------------------
cat >"$CONF" <<EOF
tls_server_config:
  cert_file: pki/server2.crt
  key_file: pki/server2.key
  client_ca_file: pki/ca.crt
  client_auth_type: RequireAndVerifyClientCert
  client_allowed_sans: [prometheus.example]
EOF
spawn "$WORK/mtls.log" "$BIN" --dsn "$DSN" --web.listen-address="127.0.0.1:$TLS_PORT" \
  --web.config.file="$CONF"
MTLS_PID=$SPAWNED
with_cert() { code --cert "$PKI/$1.crt" --key "$PKI/$1.key" "$URL/healthz"; }
mtls_up() { test "$(with_cert client)" = 200; }
wait_until 10 mtls_up
check "client certificate from the CA with an allowed SAN: 200" test "$(with_cert client)" = 200
check "client certificate from another CA refused" test "$(with_cert client-other)" = 000
check "client certificate whose SAN is not allowed refused" test "$(with_cert client-badsan)" = 000
check "no client certificate refused" test "$(code "$URL/healthz")" = 000
stop "$MTLS_PID"

# --- the shipped TLS variants -------------------------------------------------------
# deploy/web-config.yml, with certificates where it expects them and the
# scrape password's hash in place of the one nobody knows.
SHIPPED=$WORK/shipped
mkdir -p "$SHIPPED/tls"
cp "$PKI/server.crt" "$SHIPPED/tls/tls.crt" && cp "$PKI/server.key" "$SHIPPED/tls/tls.key"
sed "s|prometheus: '.*'|prometheus: '$HASH'|" "$HERE/../deploy/web-config.yml" >"$SHIPPED/web-config.yml"
spawn "$WORK/shipped.log" "$BIN" --dsn "$DSN" --web.listen-address="127.0.0.1:$TLS_PORT" \
  --web.config.file="$SHIPPED/web-config.yml"
SHIPPED_PID=$SPAWNED
check "deploy/web-config.yml serves TLS with basic auth" wait_until 10 tls_up
check "deploy/web-config.yml: no password, 401" test "$(code "$URL/metrics")" = 401
stop "$SHIPPED_PID"
# compose.tls.yml's make-tls.sh, run here: its CA, password and web config work.
TLS_DIR=$WORK/compose-tls sh "$HERE/../deploy/docker/make-tls.sh"
spawn "$WORK/compose-tls.log" "$BIN" --dsn "$DSN" --web.listen-address="127.0.0.1:$TLS_PORT" \
  --web.config.file="$WORK/compose-tls/web-config.yml"
COMPOSE_PID=$SPAWNED
compose_up() {
  test "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/compose-tls/ca.crt" \
    -u "prometheus:$(cat "$WORK/compose-tls/scrape-password")" "https://localhost:$TLS_PORT/metrics")" = 200
}
check "make-tls.sh: certificate, password and web config work together" wait_until 10 compose_up
stop "$COMPOSE_PID"

# --- configuration errors exit 2 with file:line ---------------------------------
bad() {  # bad NAME YAML PATTERN
  printf '%s\n' "$2" >"$WORK/bad.yml"
  local out status=0
  out=$("$BIN" --dsn "$DSN" --web.listen-address=127.0.0.1:0 --web.config.file="$WORK/bad.yml" 2>&1) ||
    status=$?
  check "bad web config ($1): exit 2" test "$status" = 2
  check "bad web config ($1): one line naming it" \
    bash -c "[[ \$(printf '%s\n' \"\$1\" | wc -l) == 1 && \"\$1\" == *bad.yml:*'$3'* ]]" _ "$out"
}
bad "unknown key" "tls_server_config: {cert_filee: x}" 'unknown key "cert_filee"'
bad "client CA without policy" \
  "tls_server_config: {cert_file: $PKI/server.crt, key_file: $PKI/server.key, client_ca_file: $PKI/ca.crt}" \
  "without a Client Auth Policy"
bad "missing key" "tls_server_config: {cert_file: $PKI/server.crt}" "missing one of key or key_file"
bad "key of another certificate" \
  "tls_server_config: {cert_file: $PKI/server.crt, key_file: $PKI/client.key}" "does not match"
bad "not bcrypt" "basic_auth_users: {u: plaintext}" "not a bcrypt hash"
bad "header not allowed" "http_server_config: {headers: {X-Powered-By: me}}" "can not be configured"

# --- postgres_exporter's command lines -------------------------------------------
QUERIES=$WORK/queries.yaml
cp "$HERE/e2e/queries.yaml" "$QUERIES"
starts() {  # starts NAME ARG...: starts with these arguments and serves pg_up 1
  local name=$1 port status
  shift
  port=$(free_port)
  spawn "$WORK/$name.log" env DATA_SOURCE_NAME="$DSN" "$BIN" "$@" \
    --web.listen-address="127.0.0.1:$port"
  local pid=$SPAWNED
  status=0
  wait_http "http://127.0.0.1:$port/metrics" 10 &&
    curl -fsS -o "$WORK/$name.txt" "http://127.0.0.1:$port/metrics" &&
    grep -qx 'pg_up 1' "$WORK/$name.txt" || status=1
  stop "$pid"
  return $status
}
# The prometheus-community Helm chart's deployment with its default values,
# and with its switches on.
check "Helm chart default arguments" starts helm --extend.query-path="$QUERIES"
check "Helm chart switches" starts helm2 --extend.query-path="$QUERIES" --disable-default-metrics \
  --disable-settings-metrics --auto-discover-databases --exclude-databases template1,postgres \
  --log.level=warn --log.format=json --config.file=/etc/postgres_exporter.yml
check "--disable-default-metrics: only custom queries" \
  bash -c "! grep -q '^pg_scrape_collector_success{collector=\"locks\"}' '$WORK/helm2.txt'"
# Debian's prometheus-postgres-exporter: ARGS="" plus what its README suggests.
check "Debian defaults" starts debian
check "Debian defaults: the default collectors run" \
  grep -qx 'pg_scrape_collector_success{collector="locks"} 1' "$WORK/debian.txt"
check "Debian README flags" starts debian2 --web.telemetry-path=/metrics --collector.stat_statements \
  --no-collector.wal --collection-timeout=30s --log.level=info --log.format=json
check "--log.format=json writes JSON lines" grep -q '^{"ts":"[0-9T:.-]*Z","level":"info","msg":"pgwarden' \
  "$WORK/debian2.log"
env_starts() {
  PG_EXPORTER_DISABLE_SETTINGS_METRICS=true PG_EXPORTER_WEB_TELEMETRY_PATH=/metrics starts envs
}
check "PG_EXPORTER_* environment" env_starts
refused() {  # refused FLAG PATTERN
  local out status=0
  out=$("$BIN" --dsn "$DSN" "$1" 2>&1) || status=$?
  check "$1 refused with exit 2" test "$status" = 2
  check "$1 names what to use" bash -c "[[ \$(printf '%s\n' \"\$1\" | wc -l) == 1 && \"\$1\" == *'$2'* ]]" _ "$out"
}
refused --constantLabels=env=prod relabel
refused --web.systemd-socket --web.listen-address
refused --dumpmaps --print_queries
refused --collector.process_idle "no such collector"
refused --metric-prefix=pgx "metric_relabel_configs"
# --config.file: checked at start, re-read on SIGHUP keeping the last good one.
PE_CONF=$WORK/postgres_exporter.yml
printf 'auth_modules:\n  prod:\n    type: userpass\n    userpass: {username: u, password_file: pw}\n' >"$PE_CONF"
start_pgwarden config "$BIN" --dsn "$DSN" --config.file="$PE_CONF"
reload_gauge() {
  curl -fsS -o "$WORK/config-metrics.txt" "$PGWARDEN_URL/metrics" &&
    grep -qx "pgwarden_config_last_reload_successful $1" "$WORK/config-metrics.txt"
}
check "--config.file read: reload gauge 1" reload_gauge 1
echo "auth_modules: [" >"$PE_CONF"
kill -HUP "$PGWARDEN_PID"
check "SIGHUP with a broken file: gauge 0, still serving" wait_until 10 reload_gauge 0
check "SIGHUP with a broken file: logged" grep -q 'config.file reload failed' "$WORK/config.log"
printf 'allowed_targets: ["10.0.0.0/8"]\n' >"$PE_CONF"
kill -HUP "$PGWARDEN_PID"
check "SIGHUP with a fixed file: gauge 1" wait_until 10 reload_gauge 1
stop "$PGWARDEN_PID"
echo "auth_modules: [" >"$PE_CONF"
status=0
out=$("$BIN" --dsn "$DSN" --web.listen-address=127.0.0.1:0 --config.file="$PE_CONF" 2>&1) || status=$?
check "broken --config.file at start: exit 2 with file:line" \
  bash -c "[[ $status == 2 && \"\$1\" == *postgres_exporter.yml:[0-9]*: yaml* ]]" _ "$out"

"$BIN" --help >"$WORK/help.txt"
check "--help lists both spellings" grep -q -- '--web_listen_address, --web.listen-address' "$WORK/help.txt"
check "--help explains --collector.NAME" grep -q -- '--collector.NAME' "$WORK/help.txt"
check "--web.listen-address=[::1]:0 explains IPv6" bash -c \
  "'$BIN' --dsn '$DSN' --web.listen-address='[::1]:0' 2>&1 | grep -q 'IPv6 is not available'"

check_summary
