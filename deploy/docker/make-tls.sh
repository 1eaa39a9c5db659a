#!/bin/sh
# Makes what compose.tls.yml needs in $TLS_DIR (default /tls): a throwaway
# CA, pgwarden's certificate (names: pgwarden, localhost, 127.0.0.1), a
# random scrape password, and pgwarden's web-config.yml with its bcrypt hash.
# For trying TLS out; in production use your own CA and keep keys private.
# Runs once; an existing web-config.yml is kept.
set -eu
DIR=${TLS_DIR:-/tls}
[ -f "$DIR/web-config.yml" ] && exit 0
if ! command -v openssl >/dev/null || ! command -v htpasswd >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends openssl apache2-utils >/dev/null
fi
mkdir -p "$DIR"
cd "$DIR"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 \
  -subj "/CN=pgwarden compose CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout tls.key -out tls.csr -subj "/CN=pgwarden" 2>/dev/null
printf 'subjectAltName=DNS:pgwarden,DNS:localhost,IP:127.0.0.1\n' >tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt \
  -days 365 -extfile tls.ext 2>/dev/null
rm -f tls.csr tls.ext ca.srl ca.key
openssl rand -hex 16 | tr -d '\n' >scrape-password
HASH=$(htpasswd -nbBC 10 "" "$(cat scrape-password)" | tr -d ':\n')
cat >web-config.yml <<CONF
tls_server_config:
  cert_file: tls.crt
  key_file: tls.key
basic_auth_users:
  prometheus: '$HASH'
CONF
# pgwarden runs as uid 10001 and Prometheus as nobody: both read this volume.
chmod 644 ./*
