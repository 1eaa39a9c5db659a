# The shipped alerting path on this machine, for the end-to-end test and the
# demo. Source scripts/lib/common.sh first.
#   start_alerting_stack TARGET INTERVAL RULE_ARG...
#       a webhook receiver writing $WORK/notifications.jsonl; Alertmanager
#       with the shipped routing and template, sending to it; Prometheus
#       scraping TARGET (host:port) every INTERVAL with the shipped recording
#       rules and the shipped alert rules lowered by
#       `lower_rules.py rules ... RULE_ARG...` (e.g. --for 1s). Ports from
#       PROMETHEUS_PORT, ALERTMANAGER_PORT and WEBHOOK_PORT (free ones when
#       unset; set on return), listening on STACK_HOST (127.0.0.1; "" for
#       every interface). STACK_RECORDING_WINDOW (e.g. 30s) shortens the
#       recording rules' [5m] ranges. Logs in $WORK/{prometheus,alertmanager,webhook}.log;
#       everything stops at exit.
#   notified STATUS ALERT [TEXT]
#       a STATUS (firing or resolved) notification for ALERT whose JSON
#       contains TEXT has reached the webhook

STACK_LIB=$HARNESS_ROOT/scripts/lib

start_alerting_stack() {
  local target=$1 interval=$2
  shift 2
  local host=${STACK_HOST-127.0.0.1} deploy=$HARNESS_ROOT/deploy
  PROMETHEUS_PORT=${PROMETHEUS_PORT:-$(free_port)}
  ALERTMANAGER_PORT=${ALERTMANAGER_PORT:-$(free_port)}
  WEBHOOK_PORT=${WEBHOOK_PORT:-$(free_port)}
  spawn "$WORK/webhook.log" python3 "$STACK_LIB/webhook_receiver.py" "$WEBHOOK_PORT" \
    "$WORK/notifications.jsonl" "${WEBHOOK_SECONDS:-1800}"
  cp "$deploy/alertmanager/pgwarden.tmpl" "$WORK/"
  python3 "$STACK_LIB/lower_rules.py" alertmanager "$deploy/alertmanager/alertmanager.yml" \
    "$WORK/alertmanager.yml" --webhook "http://127.0.0.1:$WEBHOOK_PORT" || return 1
  spawn "$WORK/alertmanager.log" prometheus-alertmanager \
    --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am" \
    --web.listen-address="$host:$ALERTMANAGER_PORT" --cluster.listen-address=""
  python3 "$STACK_LIB/lower_rules.py" rules "$deploy/prometheus/pgwarden-alerts.yml" \
    "$WORK/alerts.yml" "$@" || return 1
  python3 "$STACK_LIB/lower_rules.py" recording "$deploy/prometheus/pgwarden-recording.yml" \
    "$WORK/recording.yml" --window "${STACK_RECORDING_WINDOW:-5m}" || return 1
  python3 "$STACK_LIB/lower_rules.py" prometheus "$deploy/prometheus/prometheus.yml" \
    "$WORK/prometheus.yml" --target "$target" --alertmanager "127.0.0.1:$ALERTMANAGER_PORT" \
    --interval "$interval" --rules "$WORK/alerts.yml,$WORK/recording.yml" || return 1
  promtool check config "$WORK/prometheus.yml" >/dev/null ||
    { echo "the lowered prometheus.yml does not load" >&2; return 1; }
  spawn "$WORK/prometheus.log" prometheus --config.file="$WORK/prometheus.yml" \
    --storage.tsdb.path="$WORK/tsdb" --web.listen-address="$host:$PROMETHEUS_PORT"
  wait_http "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 30 ||
    { tail "$WORK/prometheus.log" >&2; return 1; }
  wait_http "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready" 30 ||
    { tail "$WORK/alertmanager.log" >&2; return 1; }
}

notified() {
  [[ -f $WORK/notifications.jsonl ]] || return 1
  python3 - "$WORK/notifications.jsonl" "$@" <<'PY'
import json, sys
path, status, name = sys.argv[1:4]
text = sys.argv[4] if len(sys.argv) > 4 else ""
for line in open(path):
    n = json.loads(line)["payload"]
    for a in n.get("alerts", []):
        if a["labels"].get("alertname") == name and a["status"] == status and text in json.dumps(a):
            sys.exit(0)
sys.exit(1)
PY
}
