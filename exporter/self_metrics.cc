#include "exporter/self_metrics.h"

#include "exporter/process_metrics.h"

namespace pgwarden {
namespace {

using prometheus::MetricType;

// pg_scrape_collector_success, _duration_seconds and
// pgwarden_collector_result_age_seconds. Returns whether any collector
// failed.
bool AddCollectorFamilies(const Collection::Snapshot& c,
                          const std::vector<std::string>& collectors,
                          Families& out) {
  FamilyBuilder success(
      "pg_scrape_collector_success",
      "1 if the collector's query and parse succeeded in this scrape.",
      MetricType::Gauge);
  FamilyBuilder duration("pg_scrape_collector_duration_seconds",
                         "Time the collector's query and parse took.",
                         MetricType::Gauge);
  FamilyBuilder age("pgwarden_collector_result_age_seconds",
                    "Age of the data a collector served: 0 when read in this "
                    "scrape, more when its minimum interval served the last "
                    "result.",
                    MetricType::Gauge);
  const auto now = Clock::now();
  bool any_failed = false;
  for (size_t i = 0; i < c.outcomes.size(); ++i) {
    const Outcome& o = c.outcomes[i];
    if (o.state == Outcome::State::kNotYet) continue;
    const Labels labels = {{"collector", collectors[i]}};
    const bool ok = o.state == Outcome::State::kOk;
    any_failed = any_failed || !ok;
    success.Add(labels, Bool(ok));
    duration.Add(labels, o.seconds);
    if (ok) {
      // Rows read during this collection count as fresh.
      age.Add(labels,
              o.fetched >= c.started
                  ? 0
                  : std::chrono::duration<double>(now - o.fetched).count());
    }
  }
  success.MoveTo(out);
  duration.MoveTo(out);
  age.MoveTo(out);
  return any_failed;
}

void AddGauge(const char* name, const char* help, double value, Families& out) {
  FamilyBuilder(name, help, MetricType::Gauge).Add(value).MoveTo(out);
}

void AddCounter(const char* name, const char* help, uint64_t value,
                Families& out) {
  FamilyBuilder(name, help, MetricType::Counter)
      .Add(static_cast<double>(value))
      .MoveTo(out);
}

}  // namespace

Families ProcessFamilies() {
  Families out;
  FamilyBuilder("pgwarden_build_info",
                "pgwarden version and revision (always 1).", MetricType::Gauge)
      .Add({{"version", PGWARDEN_VERSION}, {"revision", PGWARDEN_REVISION}}, 1)
      .MoveTo(out);
  AppendProcessMetrics(out);
  return out;
}

Families SelfMetrics(const Collection::Snapshot& c,
                     const std::vector<std::string>& collectors,
                     const TargetCounters& counters, bool process) {
  Families out;
  AddGauge("pg_up",
           "1 if the database answered the last connection attempt and "
           "version query.",
           Bool(c.up), out);
  const std::optional<ServerInfo>& server =
      c.server ? c.server : counters.last_server;
  if (server) {
    FamilyBuilder("pg_static", "Version of the PostgreSQL server (always 1).",
                  MetricType::Gauge)
        .Add({{"version", server->version},
              {"short_version", ShortVersion(server->version)}},
             1)
        .MoveTo(out);
  }
  const bool any_failed = AddCollectorFamilies(c, collectors, out) || !c.up;
  AddGauge("pg_exporter_last_scrape_error",
           "1 if the database was down or any collector failed in the last "
           "scrape.",
           Bool(any_failed), out);
  AddCounter("pg_exporter_scrapes_total", "Scrapes served.", counters.scrapes,
             out);
  AddGauge("pg_exporter_last_scrape_duration_seconds",
           "Duration of the last collection from the database.", c.seconds,
           out);
  AddCounter("pgwarden_connections_opened_total",
             "Database connections opened (1 plus reconnects).",
             counters.connections_opened, out);
  AddGauge("pgwarden_database_connections",
           "Connections to the target's databases held after the last "
           "collection (the main one and per-database ones).",
           static_cast<double>(counters.open_connections), out);
  AddCounter("pgwarden_connection_errors_total",
             "Failed attempts to connect to the database or read its version.",
             counters.connection_errors, out);
  if (process) {
    for (auto& f : ProcessFamilies()) out.push_back(std::move(f));
  }
  return out;
}

}  // namespace pgwarden
