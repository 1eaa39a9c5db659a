#!/usr/bin/env bash
# Fleet benchmark: one pgwarden probing FLEET_CLUSTERS x FLEET_DATABASES
# targets (default 2 x 50 = 100: PostgreSQL 15 clusters with many small
# databases, each database a target) through /probe, scraped by a real
# Prometheus every FLEET_INTERVAL (15s) for FLEET_SECONDS (180); side by
# side in the same Prometheus, a pgwarden with one target on /metrics and
# what a Debian user runs today, Debian's postgres_exporter 0.11.1 (no
# /probe: one process per target, FLEET_PE_PROCESSES of them, default 10).
# Prints CPU per probe or scrape, resident memory, connections held and
# p50/p99 scrape time (Prometheus' scrape_duration_seconds) per side.
# Every pgwarden runs with --max_database_connections=1 and without the
# activity sampler (postgres_exporter has none): each target is a
# database, so its per-database collectors read that database only.
# Usage: fleet_bench.sh [PATH_TO_PGWARDEN]   (default: a Release build)
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/../scripts/lib/harness.sh"
CLUSTERS=${FLEET_CLUSTERS:-2}
DATABASES=${FLEET_DATABASES:-50}
INTERVAL=${FLEET_INTERVAL:-15s}
RUN=${FLEET_SECONDS:-180}
PE_PROCESSES=${FLEET_PE_PROCESSES:-10}
if [[ -n ${1:-} ]]; then PGWARDEN_BIN=$1; else build_release; fi
harness_init fleet
command -v prometheus-postgres-exporter >/dev/null ||
  { echo "fleet_bench: prometheus-postgres-exporter is not installed" >&2; exit 1; }

# --- servers: roles per exporter, so connections can be told apart --------
PORTS=()
TARGETS=()
for c in $(seq 0 $((CLUSTERS - 1))); do
  port=$(free_port)
  pg_start "$WORK/pg$c" "$port" "max_connections = $((DATABASES + PE_PROCESSES * 2 + 50))"
  PORTS+=("$port")
  psql -X -q "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
    -c "CREATE ROLE fleet_pgwarden LOGIN IN ROLE pg_monitor" \
    -c "CREATE ROLE fleet_single LOGIN IN ROLE pg_monitor" \
    -c "CREATE ROLE fleet_pe LOGIN IN ROLE pg_monitor"
  for d in $(seq 1 "$DATABASES"); do
    echo "CREATE DATABASE d$d;"
  done | psql -X -q "host=127.0.0.1 port=$port user=postgres dbname=postgres"
  for d in $(seq 1 "$DATABASES"); do
    psql -X -q "host=127.0.0.1 port=$port user=postgres dbname=d$d" \
      -c "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'x' FROM generate_series(1, 100) g"
    TARGETS+=("127.0.0.1:$port/d$d")
  done
done
N=${#TARGETS[@]}

# --- the exporters ------------------------------------------------------------
{
  echo "auth_modules:"
  echo "  fleet: {type: userpass, userpass: {username: fleet_pgwarden}}"
  echo "allowed_targets:"
  for port in "${PORTS[@]}"; do echo "  - \"127.0.0.1:$port\""; done
} >"$WORK/probe.yml"
start_pgwarden fleet "$PGWARDEN_BIN" --config.file="$WORK/probe.yml" --max_database_connections=1 --sample_interval=0
FLEET_PORT=$PGWARDEN_PORT
FLEET_PID=$PGWARDEN_PID
start_pgwarden single "$PGWARDEN_BIN" --max_database_connections=1 --sample_interval=0 \
  --dsn "host=127.0.0.1 port=${PORTS[0]} dbname=d1 user=fleet_single"
SINGLE_PORT=$PGWARDEN_PORT
SINGLE_PID=$PGWARDEN_PID
PE_PIDS=()
PE_ADDRS=()
for i in $(seq 1 "$PE_PROCESSES"); do
  port=$(free_port)
  target=${TARGETS[$(((i - 1) * N / PE_PROCESSES))]}
  DATA_SOURCE_NAME="postgresql://fleet_pe@${target%%/*}/${target#*/}?sslmode=disable" \
    spawn "$WORK/pe-$i.log" prometheus-postgres-exporter --web.listen-address="127.0.0.1:$port"
  PE_PIDS+=("$SPAWNED")
  PE_ADDRS+=("127.0.0.1:$port")
  wait_http "http://127.0.0.1:$port/metrics" 20
done

# --- Prometheus ------------------------------------------------------------------
list() { local IFS=,; echo "[$*]"; }
cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: $INTERVAL, scrape_timeout: $( ((${INTERVAL%s} < 10)) && echo "$INTERVAL" || echo 10s)}
scrape_configs:
  - job_name: fleet
    metrics_path: /probe
    params: {auth_module: [fleet]}
    static_configs: [{targets: $(list "${TARGETS[@]}")}]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: "127.0.0.1:$FLEET_PORT"}
  - job_name: single
    static_configs: [{targets: ["127.0.0.1:$SINGLE_PORT"]}]
  - job_name: postgres_exporter
    static_configs: [{targets: $(list "${PE_ADDRS[@]}")}]
YAML
PROM=$(free_port)
spawn "$WORK/prometheus.log" prometheus --config.file="$WORK/prometheus.yml" \
  --storage.tsdb.path="$WORK/tsdb" --web.listen-address="127.0.0.1:$PROM"
wait_http "http://127.0.0.1:$PROM/-/ready" 30
promql() {
  curl -fsS -G "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" \
    --data-urlencode "time=$2"
}

cpu() {  # cpu PID...: their user+system CPU seconds
  local total=0 p
  for p in "$@"; do
    total=$(awk -v t="$total" '{print t + ($14 + $15) / 100}' "/proc/$p/stat")
  done
  echo "$total"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
connections() {  # connections ROLE: that role's sessions on every cluster
  local total=0 port
  for port in "${PORTS[@]}"; do
    total=$((total + $(psql -X -At "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
      -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$1'")))
  done
  echo "$total"
}

# One interval of warm-up (connections opened, first reads), then measure.
interval_s=${INTERVAL%s}
echo "fleet: $N targets on $CLUSTERS clusters, scraped every $INTERVAL; warming up"
sleep "$((interval_s * 2))"
start=$(date +%s)
cpu_fleet0=$(cpu "$FLEET_PID")
cpu_single0=$(cpu "$SINGLE_PID")
cpu_pe0=$(cpu "${PE_PIDS[@]}")
min_conn=999999
max_conn=0
end=$((start + RUN))
while (($(date +%s) < end)); do
  c=$(connections fleet_pgwarden)
  ((c < min_conn)) && min_conn=$c
  ((c > max_conn)) && max_conn=$c
  sleep 5
done
stop_at=$(date +%s)
window=$((stop_at - start))
cpu_fleet=$(awk -v a="$cpu_fleet0" -v b="$(cpu "$FLEET_PID")" 'BEGIN {print b - a}')
cpu_single=$(awk -v a="$cpu_single0" -v b="$(cpu "$SINGLE_PID")" 'BEGIN {print b - a}')
cpu_pe=$(awk -v a="$cpu_pe0" -v b="$(cpu "${PE_PIDS[@]}")" 'BEGIN {print b - a}')
pe_rss=0
pe_conn=$(connections fleet_pe)
for p in "${PE_PIDS[@]}"; do pe_rss=$((pe_rss + $(rss_kib "$p"))); done

# Scrape counts and durations over the window, from Prometheus.
promql "scrape_duration_seconds[${window}s]" "$stop_at" >"$WORK/durations.json"
python3 - "$WORK/durations.json" "$cpu_fleet" "$cpu_single" "$cpu_pe" \
  "$(rss_kib "$FLEET_PID")" "$(hwm_kib "$FLEET_PID")" "$min_conn" "$max_conn" \
  "$(rss_kib "$SINGLE_PID")" "$(connections fleet_single)" "$pe_rss" "$pe_conn" "$PE_PROCESSES" \
  "$N" "$window" <<'PY'
import json, sys
(path, cpu_fleet, cpu_single, cpu_pe, rss, hwm, cmin, cmax, single_rss, single_conn,
 pe_rss, pe_conn, pe_n, n, window) = sys.argv[1:]
samples = {"fleet": [], "single": [], "postgres_exporter": []}
for series in json.load(open(path))["data"]["result"]:
    samples[series["metric"]["job"]] += [float(v) for _, v in series["values"]]
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")
f, s, p = samples["fleet"], samples["single"], samples["postgres_exporter"]
cpu_probe = float(cpu_fleet) / len(f) * 1000
cpu_scrape = float(cpu_single) / len(s) * 1000
cpu_pe = float(cpu_pe) / len(p) * 1000
pe_n = int(pe_n)
print(f"fleet: {len(f)} probes, {len(s)} single-target scrapes, {len(p)} postgres_exporter scrapes in {window} s")
print()
print("| | pgwarden /probe, %s targets, 1 process | pgwarden /metrics, 1 target | postgres_exporter 0.11.1, 1 process per target (%d measured) |" % (n, pe_n))
print("|---|---|---|---|")
print(f"| CPU per probe / scrape | {cpu_probe:.2f} ms | {cpu_scrape:.2f} ms | {cpu_pe:.2f} ms |")
print(f"| p50 / p99 scrape time | {pct(f, .5):.1f} / {pct(f, .99):.1f} ms | {pct(s, .5):.1f} / {pct(s, .99):.1f} ms | {pct(p, .5):.1f} / {pct(p, .99):.1f} ms |")
print(f"| resident memory | {int(rss) / 1024:.1f} MiB (peak {int(hwm) / 1024:.1f}) for {n} targets | {int(single_rss) / 1024:.1f} MiB | {int(pe_rss) / 1024 / pe_n:.1f} MiB per target; {int(pe_rss) / 1024 / pe_n * int(n):.0f} MiB for {n} |")
print(f"| connections held | {cmin}-{cmax} for {n} targets (sampled every 5 s) | {single_conn} | {int(pe_conn) / pe_n:.1f} per target (between scrapes) |")
print()
print(f"ratios: CPU per probe / single-target scrape {cpu_probe / cpu_scrape:.2f}; "
      f"p99 probe / single-target p99 {pct(f, .99) / pct(s, .99):.2f}; "
      f"postgres_exporter CPU per scrape / pgwarden per probe {cpu_pe / cpu_probe:.1f}")
PY
