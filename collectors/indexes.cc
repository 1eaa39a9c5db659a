// indexes: unused and invalid indexes, index size by access method, in every
// database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "unused and invalid indexes with their size, size by type, every database";

// Indexes that enforce a constraint (unique, primary key, exclusion) are
// never "unused": they work without being scanned. Sizes from pg_class,
// lock-free. "Unused" means no scan since the statistics were last reset.
// Rows: 'type' per access method, 'unused' and 'invalid' per index (largest
// %LIMIT% each), and one 'summary' per database.
constexpr char kIndexesQuery[] = R"sql(
WITH idx AS (
  SELECT n.nspname::text AS schemaname, t.relname::text AS relname,
         i.relname::text AS indexrelname, am.amname::text AS type,
         x.indisvalid AS valid,
         (x.indisunique OR x.indisprimary OR x.indisexclusion) AS enforces,
         pg_stat_get_numscans(x.indexrelid) AS idx_scan,
         greatest(i.relpages, 0)::float8 * current_setting('block_size')::int AS size_bytes
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = i.relnamespace
  JOIN pg_am am ON am.oid = i.relam
  WHERE i.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_toast%'),
unused AS (SELECT * FROM idx WHERE idx_scan = 0 AND valid AND NOT enforces)
SELECT 'type' AS kind, current_database()::text AS datname, NULL AS schemaname,
       NULL AS relname, NULL AS indexrelname, type, count(*) AS n,
       sum(size_bytes) AS size_bytes
FROM idx GROUP BY type
UNION ALL
SELECT 'summary', current_database()::text, NULL, NULL, NULL, NULL,
       (SELECT count(*) FROM unused), (SELECT coalesce(sum(size_bytes), 0) FROM unused)
UNION ALL
SELECT 'invalid_summary', current_database()::text, NULL, NULL, NULL, NULL,
       (SELECT count(*) FROM idx WHERE NOT valid), 0
UNION ALL
(SELECT 'unused', current_database()::text, schemaname, relname, indexrelname, type,
        1, size_bytes
 FROM unused ORDER BY size_bytes DESC, 3, 4, 5 LIMIT %LIMIT%)
UNION ALL
(SELECT 'invalid', current_database()::text, schemaname, relname, indexrelname, type,
        1, size_bytes
 FROM idx WHERE NOT valid ORDER BY size_bytes DESC, 3, 4, 5 LIMIT %LIMIT%))sql";

class IndexesCollector final : public Collector {
 public:
  explicit IndexesCollector(const CollectorOptions& o)
      : limit_(o.relation_limit) {}
  std::string_view Name() const override { return "indexes"; }
  bool PerDatabase() const override { return true; }
  std::string Query(const ServerInfo&) const override {
    return Substitute(kIndexesQuery, "%LIMIT%", std::to_string(limit_));
  }

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    using prometheus::MetricType;
    FamilyBuilder by_type(
        "pg_indexes_size_bytes",
        "Size of all indexes by access method (btree, hash, gist, "
        "spgist, gin, brin, ...).",
        MetricType::Gauge);
    FamilyBuilder unused_n(
        "pg_indexes_unused_indexes",
        "Indexes never scanned since the statistics were reset "
        "(constraint indexes excluded).",
        MetricType::Gauge);
    FamilyBuilder unused_bytes("pg_indexes_unused_wasted_bytes",
                               "Total size of the unused indexes.",
                               MetricType::Gauge);
    FamilyBuilder unused(
        "pg_indexes_unused_size_bytes",
        "Size of each unused index (the largest --relation_limit).",
        MetricType::Gauge);
    FamilyBuilder invalid_n(
        "pg_indexes_invalid_indexes",
        "Invalid indexes, e.g. left by a failed CREATE INDEX "
        "CONCURRENTLY.",
        MetricType::Gauge);
    FamilyBuilder invalid(
        "pg_indexes_invalid",
        "1 for each invalid index: it is maintained on writes but "
        "never used; drop and rebuild it.",
        MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      const std::string kind = row.Text("kind");
      const Labels db = {{"datname", row.Text("datname")}};
      const Labels index = {{"datname", row.Text("datname")},
                            {"schemaname", row.Text("schemaname")},
                            {"relname", row.Text("relname")},
                            {"indexrelname", row.Text("indexrelname")}};
      if (kind == "type") {
        by_type.Add(
            {{"datname", row.Text("datname")}, {"type", row.Text("type")}},
            row.NumberOr("size_bytes", 0));
      } else if (kind == "summary") {
        unused_n.Add(db, row.NumberOr("n", 0));
        unused_bytes.Add(db, row.NumberOr("size_bytes", 0));
      } else if (kind == "invalid_summary") {
        invalid_n.Add(db, row.NumberOr("n", 0));
      } else if (kind == "unused") {
        unused.Add(index, row.NumberOr("size_bytes", 0));
      } else if (kind == "invalid") {
        invalid.Add(index, 1);
      }
    }
    by_type.MoveTo(out);
    unused_n.MoveTo(out);
    unused_bytes.MoveTo(out);
    unused.MoveTo(out);
    invalid_n.MoveTo(out);
    invalid.MoveTo(out);
  }

 private:
  int limit_;
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(indexes, OnByDefault(300),
                            ::pgwarden::IndexesCollector);
