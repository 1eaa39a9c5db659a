// stat_progress_vacuum: running VACUUMs and their phase.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_progress_vacuum: phase and progress of running VACUUMs";

// Read from pg_stat_get_progress_info('VACUUM') as postgres_exporter does,
// so the numeric phase and params are the same on every version (the view's
// columns changed in 17). relid resolves to a name only in the connected
// database; elsewhere its oid is the name.
constexpr char kProgressVacuumQuery[] = R"sql(
SELECT coalesce(d.datname::text, 'unknown') AS datname,
       coalesce(CASE WHEN d.datname = current_database()
                     THEN s.relid::regclass::text END, s.relid::text) AS relname,
       s.param1 AS phase, s.param2 AS heap_blks, s.param3 AS heap_blks_scanned,
       s.param4 AS heap_blks_vacuumed, s.param5 AS index_vacuums,
       s.param6 AS max_dead_tuples, s.param7 AS num_dead_tuples
FROM pg_stat_get_progress_info('VACUUM') s
LEFT JOIN pg_database d ON d.oid = s.datid)sql";

constexpr const char* kPhases[] = {"initializing",
                                   "scanning heap",
                                   "vacuuming indexes",
                                   "vacuuming heap",
                                   "cleaning up indexes",
                                   "truncating heap",
                                   "performing final cleanup"};

std::vector<ColumnMetric> Metrics() {
  return {
      {"heap_blks", "pg_stat_progress_vacuum_heap_blks",
       "Heap blocks in the table."},
      {"heap_blks_scanned", "pg_stat_progress_vacuum_heap_blks_scanned",
       "Heap blocks scanned so far."},
      {"heap_blks_vacuumed", "pg_stat_progress_vacuum_heap_blks_vacuumed",
       "Heap blocks vacuumed so far."},
      {"index_vacuums", "pg_stat_progress_vacuum_index_vacuums",
       "Completed index vacuum cycles."},
      {"max_dead_tuples", "pg_stat_progress_vacuum_max_dead_tuples",
       "Dead tuples (17+: bytes) that fit before an index vacuum cycle."},
      {"num_dead_tuples", "pg_stat_progress_vacuum_num_dead_tuples",
       "Dead tuples (17+: item ids) collected so far."},
  };
}

class StatProgressVacuumCollector final : public Collector {
 public:
  explicit StatProgressVacuumCollector(const CollectorOptions& o)
      : legacy_(o.legacy_names) {}
  std::string_view Name() const override { return "stat_progress_vacuum"; }
  std::string Query(const ServerInfo&) const override {
    return kProgressVacuumQuery;
  }

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    FamilyBuilder phase("pg_stat_progress_vacuum_phase",
                        "1 for the current phase of each running vacuum.",
                        prometheus::MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      const double current = row.NumberOr("phase", -1);
      for (size_t p = 0; p < std::size(kPhases); ++p) {
        phase.Add({{"datname", row.Text("datname")},
                   {"relname", row.Text("relname")},
                   {"phase", kPhases[p]}},
                  Bool(current == static_cast<double>(p)));
      }
    }
    phase.MoveTo(out);
    EmitColumns(rows, {{"datname", "datname"}, {"relname", "relname"}},
                Metrics(), legacy_, out);
  }

 private:
  bool legacy_;
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_progress_vacuum, OnByDefault(),
                            ::pgwarden::StatProgressVacuumCollector);
