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
  double scale = 1;    // multiplies the value, e.g. 0.001 for ms -> s
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

// The labels of row `i` per `labels`.
Labels RowLabels(const Rows& rows, size_t i, const std::vector<LabelColumn>& labels);

}  // namespace pgwarden

namespace pgwarden {

// A collector whose Parse is EmitColumns over fixed labels and metrics;
// subclasses provide Name() and Query().
class ColumnCollector : public Collector {
 public:
  enum class Scope { kServer, kPerDatabase };

  ColumnCollector(const CollectorOptions& options, std::vector<LabelColumn> labels,
                  std::vector<ColumnMetric> metrics, Scope scope = Scope::kServer)
      : labels_(std::move(labels)),
        metrics_(std::move(metrics)),
        legacy_names_(options.legacy_names),
        relation_limit_(options.relation_limit),
        scope_(scope) {}

  void Parse(const ServerInfo&, const Rows& rows, Families& out) const override {
    EmitColumns(rows, labels_, metrics_, legacy_names_, out);
  }
  bool PerDatabase() const override { return scope_ == Scope::kPerDatabase; }

 protected:
  // `sql` with %LIMIT% replaced by --relation_limit.
  std::string WithRelationLimit(const char* sql) const {
    return Substitute(sql, "%LIMIT%", std::to_string(relation_limit_));
  }

 private:
  std::vector<LabelColumn> labels_;
  std::vector<ColumnMetric> metrics_;
  bool legacy_names_;
  int relation_limit_;
  Scope scope_;
};

// Labels of the per-relation families.
inline std::vector<LabelColumn> TableLabels() {
  return {{"datname", "datname"}, {"schemaname", "schemaname"}, {"relname", "relname"}};
}
inline std::vector<LabelColumn> IndexLabels() {
  return {{"datname", "datname"},
          {"schemaname", "schemaname"},
          {"relname", "relname"},
          {"indexrelname", "indexrelname"}};
}

}  // namespace pgwarden
