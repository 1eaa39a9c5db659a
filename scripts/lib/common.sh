# The harness's core (source scripts/lib/harness.sh, not this file). The
# caller sets `set -euo pipefail`.
#   harness_init NAME     names the suite (HARNESS_NAME), makes $WORK
#                         (/tmp/pgwarden-NAME.XXXXXX, mode 755)
#                         and an EXIT trap that runs the on_exit commands,
#                         stops every spawned process by its PID and removes
#                         $WORK (kept when KEEP=1)
#   on_exit CMD...        runs CMD at exit, before processes are stopped
#   spawn LOG CMD...      starts CMD in the background, output to LOG, and
#                         stops it at exit; sets SPAWNED to its PID
#   stop PID              SIGTERM, then SIGKILL after 5 s; waits for it
#   free_port             prints a free TCP port on 127.0.0.1
#   wait_http URL [S]     waits up to S seconds (10) for URL to answer 2xx
#   wait_until S CMD...   runs CMD every 0.5 s for up to S seconds until it
#                         succeeds; returns its last status
# Processes are only ever stopped by the PIDs recorded here, never by name.

HARNESS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS_PIDS=()
HARNESS_EXIT=()

harness_init() {
  HARNESS_NAME=$1
  WORK=$(mktemp -d "/tmp/pgwarden-$1.XXXXXX")
  chmod 755 "$WORK"
  trap harness_cleanup EXIT
}

harness_cleanup() {
  local status=$? i p
  for ((i = ${#HARNESS_EXIT[@]} - 1; i >= 0; i--)); do
    eval "${HARNESS_EXIT[i]}" || true
  done
  for p in "${HARNESS_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
  for p in "${HARNESS_PIDS[@]}"; do stop "$p"; done
  if [[ -n ${WORK:-} && ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
  return "$status"
}

on_exit() {
  HARNESS_EXIT+=("$(printf '%q ' "$@")")
}

spawn() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  SPAWNED=$!
  HARNESS_PIDS+=("$SPAWNED")
}

stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

wait_http() {
  local url=$1 seconds=${2:-10} i
  for i in $(seq 1 $((seconds * 20))); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "no answer from $url" >&2
  return 1
}

wait_until() {
  local end=$((SECONDS + $1))
  shift
  while ((SECONDS < end)); do
    "$@" && return 0
    sleep 0.5
  done
  "$@"
}
