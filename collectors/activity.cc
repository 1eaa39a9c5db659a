// activity: pg_stat_activity by state, with durations and long-running counts.

#include <cstdio>
#include <string>

#include "collectors/collector.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_activity: sessions by state, oldest query, long-running queries";

// One row per distinct label set of live sessions (kind 'session'), then one
// row per database (kind 'database') so that every database gets zero-filled
// series even with no sessions. The exporter's own backend is left out.
// %LONG% is replaced by one count column per long-running threshold.
constexpr char kActivityQuery[] = R"sql(
SELECT 'session' AS kind,
       coalesce(datname::text, '') AS datname,
       coalesce(state, '') AS state,
       coalesce(usename::text, '') AS usename,
       coalesce(application_name, '') AS application_name,
       coalesce(backend_type, '') AS backend_type,
       coalesce(wait_event_type, '') AS wait_event_type,
       coalesce(wait_event, '') AS wait_event,
       count(*) AS count,
       greatest(0, max(extract(epoch FROM now() - xact_start)))
         AS max_tx_duration,
       greatest(0, max(extract(epoch FROM now() - query_start))
         FILTER (WHERE state IS DISTINCT FROM 'idle')) AS max_query_duration,
       greatest(0, max(extract(epoch FROM now() - state_change)))
         AS max_state_duration%LONG%
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
GROUP BY 2, 3, 4, 5, 6, 7, 8
UNION ALL
SELECT 'database', datname::text, NULL, NULL, NULL, NULL, NULL, NULL, 0,
       NULL, NULL, NULL%LONGNULL%
FROM pg_database
WHERE datallowconn)sql";

// The states postgres_exporter zero-fills, so series do not flicker.
constexpr const char* kStates[] = {"active",
                                   "idle",
                                   "idle in transaction",
                                   "idle in transaction (aborted)",
                                   "fastpath function call",
                                   "disabled"};

std::string FormatThreshold(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", seconds);
  return buf;
}

class ActivityCollector final : public Collector {
 public:
  explicit ActivityCollector(const CollectorOptions& options)
      : thresholds_(options.long_running_thresholds_seconds) {}

  std::string_view Name() const override { return "activity"; }

  std::string Query(const ServerInfo&) const override {
    std::string long_columns, long_nulls;
    for (size_t i = 0; i < thresholds_.size(); ++i) {
      char column[200];
      std::snprintf(column, sizeof(column),
                    ",\n       count(*) FILTER (WHERE state = 'active' AND "
                    "now() - query_start > make_interval(secs => %.6f)) "
                    "AS long_%zu",
                    thresholds_[i], i);
      long_columns += column;
      long_nulls += ", NULL";
    }
    return Substitute(Substitute(kActivityQuery, "%LONGNULL%", long_nulls),
                      "%LONG%", long_columns);
  }

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    using Mode = Aggregate::Mode;
    Aggregate count(Mode::kSum), max_tx(Mode::kMax), max_query(Mode::kMax),
        max_state(Mode::kMax), long_running(Mode::kSum);
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      const std::string datname = row.Text("datname");
      if (row.Text("kind") == "database") {
        for (const char* state : kStates) {
          const std::vector<std::string> full = {datname, state, "", "",
                                                 "",      "",    ""};
          count.Touch(full);
          max_tx.Touch(full);
          max_query.Touch({datname, state});
          max_state.Touch({datname, state});
        }
        for (double t : thresholds_)
          long_running.Touch({datname, FormatThreshold(t)});
        continue;
      }
      const std::string state = row.Text("state");
      const std::vector<std::string> full = {datname,
                                             state,
                                             row.Text("usename"),
                                             row.Text("application_name"),
                                             row.Text("backend_type"),
                                             row.Text("wait_event_type"),
                                             row.Text("wait_event")};
      count.Put(full, row.NumberOr("count", 0));
      max_tx.Put(full, row.NumberOr("max_tx_duration", 0));
      // NULL durations (no query yet, idle sessions) still zero-fill.
      max_query.Put({datname, state}, row.NumberOr("max_query_duration", 0));
      max_state.Put({datname, state}, row.NumberOr("max_state_duration", 0));
      for (size_t t = 0; t < thresholds_.size(); ++t) {
        long_running.Put({datname, FormatThreshold(thresholds_[t])},
                         row.NumberOr("long_" + std::to_string(t), 0));
      }
    }

    const std::vector<std::string> full_labels = {
        "datname",      "state",           "usename",   "application_name",
        "backend_type", "wait_event_type", "wait_event"};
    using prometheus::MetricType;
    // Untyped, not gauge: promtool's lint rejects a gauge named *_count,
    // and the name must stay postgres_exporter's. PromQL ignores the type.
    FamilyBuilder f_count("pg_stat_activity_count",
                          "Number of connections in this state.",
                          MetricType::Untyped);
    count.EmitTo(f_count, full_labels);
    f_count.MoveTo(out);
    FamilyBuilder f_tx(
        "pg_stat_activity_max_tx_duration",
        "Age in seconds of the oldest transaction in this state.",
        MetricType::Gauge);
    max_tx.EmitTo(f_tx, full_labels);
    f_tx.MoveTo(out);
    FamilyBuilder f_query(
        "pg_stat_activity_max_query_duration_seconds",
        "Age of the oldest running query (now() - query_start) among "
        "non-idle sessions.",
        MetricType::Gauge);
    max_query.EmitTo(f_query, {"datname", "state"});
    f_query.MoveTo(out);
    FamilyBuilder f_state(
        "pg_stat_activity_max_state_duration_seconds",
        "Longest time a session has spent in its current state.",
        MetricType::Gauge);
    max_state.EmitTo(f_state, {"datname", "state"});
    f_state.MoveTo(out);
    FamilyBuilder f_long(
        "pg_long_running_queries",
        "Active queries running longer than threshold_seconds.",
        MetricType::Gauge);
    long_running.EmitTo(f_long, {"datname", "threshold_seconds"});
    f_long.MoveTo(out);
  }

 private:
  std::vector<double> thresholds_;
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(activity, OnByDefault(),
                            ::pgwarden::ActivityCollector);
