#!/usr/bin/env bash
# Installs every Debian package pgwarden's build, tests, demo and benchmark need.
# Idempotent: a machine that already has them pays one dpkg query.
set -euo pipefail

PACKAGES=(
  g++ cmake make pkg-config
  prometheus-cpp-dev libcivetweb-dev libpqxx-dev libpq-dev
  libgflags-dev libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev
  libssl-dev libcrypt-dev zlib1g-dev libcurl4-openssl-dev
  postgresql-15 postgresql-client-15 prometheus prometheus-alertmanager
  prometheus-postgres-exporter
  openssl apache2-utils curl jq procps python3 python3-yaml clang libclang-rt-14-dev
)
# Node.js and npm fetch the PostgreSQL 12-18 server packages for the
# version matrix; most machines here have them already.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The Debian packages start system services we do not use; keep them from starting.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
