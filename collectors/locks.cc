// locks: pg_locks by database and mode, waiting locks, longest wait.

#include <string>

#include "collectors/collector.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_locks: locks by mode, waiting locks (row locks too), longest wait";

// 'held' rows count every lock on a database object, granted or not, as
// postgres_exporter's pg_locks_count does. 'waiting' rows count ungranted
// locks of every type, including transactionid (row-lock) waits, which have
// no database and take it from the waiting session. 'database' rows drive
// zero-filling. The exporter's own locks are left out: observing must not
// change the reading. %WAITSTART% is the time a wait began.
constexpr char kLocksQuery[] = R"sql(
SELECT 'held' AS kind, d.datname::text AS datname, lower(l.mode) AS mode,
       ''::text AS locktype, count(*) AS count, NULL::float8 AS max_wait
FROM pg_locks l JOIN pg_database d ON d.oid = l.database
WHERE l.pid IS DISTINCT FROM pg_backend_pid()
GROUP BY 2, 3
UNION ALL
SELECT 'waiting', coalesce(d.datname::text, a.datname::text, ''), lower(l.mode),
       l.locktype, count(*),
       greatest(0, max(extract(epoch FROM now() - %WAITSTART%)))
FROM pg_locks l
LEFT JOIN pg_database d ON d.oid = l.database
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND l.pid IS DISTINCT FROM pg_backend_pid()
GROUP BY 2, 3, 4
UNION ALL
SELECT 'database', datname::text, NULL, NULL, 0, NULL FROM pg_database)sql";

// PostgreSQL 14 records when each wait began; before that the start of the
// waiting session's query is the closest bound (an overestimate).
constexpr char kWaitStart14[] = "coalesce(l.waitstart, a.query_start)";
constexpr char kWaitStartOld[] = "a.query_start";

constexpr const char* kModes[] = {
    "accesssharelock",  "rowsharelock",
    "rowexclusivelock", "shareupdateexclusivelock",
    "sharelock",        "sharerowexclusivelock",
    "exclusivelock",    "accessexclusivelock",
    "sireadlock"};

class LocksCollector final : public Collector {
 public:
  explicit LocksCollector(const CollectorOptions&) {}

  std::string_view Name() const override { return "locks"; }

  std::string Query(const ServerInfo& server) const override {
    return Substitute(
        kLocksQuery, "%WAITSTART%",
        server.version_num >= 140000 ? kWaitStart14 : kWaitStartOld);
  }

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    Aggregate held(Aggregate::Mode::kSum), waiting(Aggregate::Mode::kSum),
        max_wait(Aggregate::Mode::kMax);
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      const std::string kind = row.Text("kind");
      const std::string datname = row.Text("datname");
      if (kind == "database") {
        for (const char* mode : kModes) held.Touch({datname, mode});
        max_wait.Touch({datname});
      } else if (kind == "held") {
        held.Put({datname, row.Text("mode")}, row.NumberOr("count", 0));
      } else if (kind == "waiting") {
        waiting.Put({datname, row.Text("mode"), row.Text("locktype")},
                    row.NumberOr("count", 0));
        max_wait.Put({datname}, row.NumberOr("max_wait", 0));
      }
    }
    using prometheus::MetricType;
    // Untyped for promtool's *_count lint; see pg_stat_activity_count.
    FamilyBuilder f_count("pg_locks_count",
                          "Number of locks on database objects, by mode.",
                          MetricType::Untyped);
    held.EmitTo(f_count, {"datname", "mode"});
    f_count.MoveTo(out);
    // Always printed, so "no waits" is a visible empty family, not absence.
    FamilyBuilder f_waiting(
        "pg_locks_waiting",
        "Locks requested but not granted, by mode and lock type "
        "(transactionid = row-lock waits).",
        MetricType::Gauge);
    waiting.EmitTo(f_waiting, {"datname", "mode", "locktype"});
    f_waiting.MoveToAlways(out);
    FamilyBuilder f_wait("pg_locks_max_wait_seconds",
                         "Longest current lock wait in seconds.",
                         MetricType::Gauge);
    max_wait.EmitTo(f_wait, {"datname"});
    f_wait.MoveTo(out);
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(locks, OnByDefault(), ::pgwarden::LocksCollector);
