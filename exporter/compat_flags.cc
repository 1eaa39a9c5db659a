#include "exporter/compat_flags.h"

#include <cstdlib>

#include "collectors/collector.h"

namespace pgwarden {
namespace {

struct Rename {
  const char* spelled;
  const char* flag;
};

constexpr Rename kRenames[] = {
    {"web.listen-address", "web_listen_address"},
    {"web.telemetry-path", "web_telemetry_path"},
    {"web.config.file", "web_config_file"},
    {"web.max-requests", "web_max_requests"},
    {"config.file", "config_file"},
    {"probe.allow_any_target", "probe_allow_any_target"},
    {"probe.max_targets", "probe_max_targets"},
    {"probe.idle_timeout", "probe_idle_timeout"},
    {"remediation.config", "remediation_config"},
    {"remediation.check", "remediation_check"},
    {"extend.query-path", "extend_query_path"},
    {"include-databases", "include_databases"},
    {"exclude-databases", "exclude_databases"},
    {"log.level", "log_level"},
    {"log.format", "log_format"},
    {"collector.stat_statements.include_query",
     "stat_statements_include_query"},
    {"collector.stat_statements.query_length", "stat_statements_query_length"},
    {"collector.stat_statements.limit", "stat_statements_limit"},
};

struct Refusal {
  const char* spelled;
  const char* reason;
};

constexpr Refusal kRefused[] = {
    {"constantLabels",
     "--constantLabels is not supported (postgres_exporter 0.20 applies it "
     "only to its deprecated metrics): add the labels in Prometheus' "
     "scrape_config (labels: or relabel_configs)"},
    {"dumpmaps",
     "--dumpmaps is not supported: --print_queries prints the SQL each "
     "collector runs"},
    {"web.systemd-socket",
     "--web.systemd-socket is not supported: listen with "
     "--web.listen-address"},
    {"web.disable-exporter-metrics",
     "--web.disable-exporter-metrics is not supported: pgwarden's own "
     "metrics are always served (drop them with metric_relabel_configs)"},
    {"wrap-large-counters",
     "--wrap-large-counters is not supported: pgwarden never wraps "
     "counters; rate() handles large values"},
    {"collector.stat_statements.exclude_databases",
     "--collector.stat_statements.exclude_databases is not supported: "
     "drop the series with metric_relabel_configs"},
    {"collector.stat_statements.exclude_users",
     "--collector.stat_statements.exclude_users is not supported: drop the "
     "series with metric_relabel_configs"},
    {"collector.long_running_transactions.threshold",
     "--collector.long_running_transactions.threshold is not supported: use "
     "--long_running_thresholds (seconds, a list)"},
};

// postgres_exporter collector names that differ from pgwarden's.
struct CollectorName {
  const char* theirs;
  const char* ours;
};
constexpr CollectorName kCollectorNames[] = {
    {"stat_activity", "activity"},
    {"replication_slot", "replication_slots"},
    {"bgwriter", "stat_bgwriter"},
};

}  // namespace

std::string RenamedFlag(std::string_view spelled) {
  for (const auto& r : kRenames) {
    if (spelled == r.spelled) return r.flag;
  }
  return "";
}

std::string PostgresExporterSpelling(std::string_view flag) {
  for (const auto& r : kRenames) {
    if (flag == r.flag) return r.spelled;
  }
  return "";
}

std::string RefusedFlag(std::string_view spelled, std::string_view value) {
  for (const auto& r : kRefused) {
    if (spelled == r.spelled) return r.reason;
  }
  if (spelled == "metric-prefix" && value != "pg") {
    return "--metric-prefix is not supported: pgwarden's metrics start with "
           "pg_ as postgres_exporter 0.20's collectors do (rename with "
           "metric_relabel_configs)";
  }
  return "";
}

std::string CollectorFor(std::string_view theirs) {
  for (const auto& c : kCollectorNames) {
    if (theirs == c.theirs) return c.ours;
  }
  for (const auto& r : RegisteredCollectors()) {
    if (r.name == theirs) return r.name;
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> PostgresExporterEnvironment() {
  static constexpr Rename kVariables[] = {
      {"PG_EXPORTER_WEB_TELEMETRY_PATH", "web.telemetry-path"},
      {"PG_EXPORTER_DISABLE_DEFAULT_METRICS", "disable-default-metrics"},
      {"PG_EXPORTER_DISABLE_SETTINGS_METRICS", "disable-settings-metrics"},
      {"PG_EXPORTER_AUTO_DISCOVER_DATABASES", "auto-discover-databases"},
      {"PG_EXPORTER_EXTEND_QUERY_PATH", "extend.query-path"},
      {"PG_EXPORTER_CONSTANT_LABELS", "constantLabels"},
      {"PG_EXPORTER_EXCLUDE_DATABASES", "exclude-databases"},
      {"PG_EXPORTER_INCLUDE_DATABASES", "include-databases"},
      {"PG_EXPORTER_METRIC_PREFIX", "metric-prefix"},
      {"PG_EXPORTER_COLLECTION_TIMEOUT", "collection-timeout"},
  };
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& v : kVariables) {
    if (const char* value = std::getenv(v.spelled); value && *value) {
      out.emplace_back(v.flag, value);
    }
  }
  return out;
}

}  // namespace pgwarden
