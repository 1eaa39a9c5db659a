# Throwaway PostgreSQL clusters for tests and the demo. Source this file.
#   pg_start DIR PORT [EXTRA_CONF...]  initdb (as user postgres) and start on
#                                      127.0.0.1:PORT with pg_stat_statements
#                                      preloaded; socket in DIR
#   pg_stop DIR                        fast shutdown by the postmaster's PID
#   pg_free_port                       prints a free TCP port on 127.0.0.1
#   wait_http URL                      waits up to 10 s for URL to answer 2xx
# PG_BIN selects the server binaries (default: Debian's PostgreSQL 15).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

wait_http() {
  local i
  for i in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "no answer from $1" >&2
  return 1
}

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
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
}

pg_stop() {
  local dir=$1 pid
  [[ -f $dir/data/postmaster.pid ]] || return 0
  pid=$(head -1 "$dir/data/postmaster.pid")
  kill -INT "$pid" 2>/dev/null || return 0
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -QUIT "$pid" 2>/dev/null || true
}
