#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "collectors/collector.h"
#include "exporter/metrics.h"
#include "exporter/rows.h"

namespace pgwarden {

// Table-driven parsing shared by the collectors that map a catalog view's
// columns one-to-one onto metric families (postgres_exporter's pattern).

enum class Kind {
  kGauge,
  // A cumulative value. Emitted as a counter when its name ends in _total;
  // postgres_exporter's names without _total are emitted untyped, because
  // promtool's lint rejects a counter without the suffix and PromQL's rate()
  // does not look at the type.
  kCounter,
};

// The exposition type for a family `name` of `kind`: untyped where
// promtool's lint would reject the compatible name (see Kind and
// HasReservedSuffix).
prometheus::MetricType TypeFor(std::string_view name, Kind kind);

struct ColumnMetric {
  const char* column;  // result column holding the value
  const char* name;    // full metric name
  const char* help;
  Kind kind = Kind::kGauge;
  double scale = 1;  // multiplies the value, e.g. 0.001 for ms -> s
  // Also emitted under this name (untyped) with --legacy_names: names older
  // dashboards and rules query.
  const char* legacy_name = nullptr;
};

struct LabelColumn {
  const char* label;   // label name
  const char* column;  // result column; NULL cells give ""
};

// One family per metric, one sample per row whose cell is a number, labelled
// from `labels`. Rows with a NULL cell are left out of that family; families
// without samples are not emitted.
void EmitColumns(const Rows& rows, const std::vector<LabelColumn>& labels,
                 const std::vector<ColumnMetric>& metrics, bool legacy_names,
                 Families& out);

// Every row's labels per `labels` (RowLabels: sanitized once, repeats
// marked), for a result whose rows go on many families.
RowLabels LabelRows(const Rows& rows, const std::vector<LabelColumn>& labels);

}  // namespace pgwarden

namespace pgwarden {

// A collector whose Parse is EmitColumns over fixed labels and metrics. Its
// name and SQL come with the table; a subclass whose SQL depends on the
// server passes "" and overrides Query.
class ColumnCollector : public Collector {
 public:
  enum class Scope { kServer, kPerDatabase };

  // `sql` with %LIMIT% replaced by --relation_limit.
  ColumnCollector(std::string_view name, const CollectorOptions& options,
                  std::string sql, std::vector<LabelColumn> labels,
                  std::vector<ColumnMetric> metrics,
                  Scope scope = Scope::kServer)
      : name_(name),
        sql_(Substitute(std::move(sql), "%LIMIT%",
                        std::to_string(options.relation_limit))),
        labels_(std::move(labels)),
        metrics_(std::move(metrics)),
        legacy_names_(options.legacy_names),
        scope_(scope) {}

  std::string_view Name() const override { return name_; }
  std::string Query(const ServerInfo&) const override { return sql_; }
  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    EmitColumns(rows, labels_, metrics_, legacy_names_, out);
  }
  bool PerDatabase() const override { return scope_ == Scope::kPerDatabase; }

  // The table, for tests that check every column of every such collector.
  const std::vector<LabelColumn>& labels() const { return labels_; }
  const std::vector<ColumnMetric>& metrics() const { return metrics_; }

 private:
  std::string_view name_;
  std::string sql_;
  std::vector<LabelColumn> labels_;
  std::vector<ColumnMetric> metrics_;
  bool legacy_names_;
  Scope scope_;
};

// SQL: `WITH top AS (...)`, the %LIMIT% largest user tables of the connected
// database (pg_stat_user_tables' set: ordinary, partitioned and materialized
// relations outside the system schemas), with oid, reltoastrelid,
// schemaname, relname, table_bytes (with TOAST) and index_bytes. Sizes come
// from pg_class as of the last VACUUM/ANALYZE: the size functions would take
// a lock on each table and queue behind any ALTER TABLE. Choosing the
// relations first means the statistics functions run for those only, not
// for every table as the pg_stat_user_tables view would.
inline constexpr char kLargestTablesCte[] = R"sql(
WITH top AS (
  SELECT c.oid, c.reltoastrelid, n.nspname::text AS schemaname, c.relname::text AS relname,
         (greatest(c.relpages, 0) + greatest(coalesce(t.relpages, 0), 0))::float8
           * current_setting('block_size')::int AS table_bytes,
         coalesce(ix.pages, 0)::float8 * current_setting('block_size')::int AS index_bytes
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  LEFT JOIN (SELECT x.indrelid, sum(greatest(i.relpages, 0)) AS pages
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid GROUP BY 1) ix
    ON ix.indrelid = c.oid
  WHERE c.relkind IN ('r', 'p', 'm')
    AND n.nspname <> ALL ('{pg_catalog,information_schema}')
  ORDER BY 5 + 6 DESC, 3, 4
  LIMIT %LIMIT%))sql";

// Labels of the per-relation families.
inline std::vector<LabelColumn> TableLabels() {
  return {{"datname", "datname"},
          {"schemaname", "schemaname"},
          {"relname", "relname"}};
}
inline std::vector<LabelColumn> IndexLabels() {
  return {{"datname", "datname"},
          {"schemaname", "schemaname"},
          {"relname", "relname"},
          {"indexrelname", "indexrelname"}};
}

}  // namespace pgwarden
