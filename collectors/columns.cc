#include "collectors/columns.h"

namespace pgwarden {

prometheus::MetricType TypeFor(std::string_view name, Kind kind) {
  if (HasReservedSuffix(name)) return prometheus::MetricType::Untyped;
  const bool total =
      name.size() >= 6 && name.substr(name.size() - 6) == "_total";
  if (kind == Kind::kCounter) {
    return total ? prometheus::MetricType::Counter
                 : prometheus::MetricType::Untyped;
  }
  // A gauge may not end in _total either (postgres_exporter's
  // stats_reset_total is a timestamp typed counter; keep that).
  return total ? prometheus::MetricType::Counter
               : prometheus::MetricType::Gauge;
}

RowLabels LabelRows(const Rows& rows, const std::vector<LabelColumn>& labels) {
  std::vector<Labels> texts(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    RowView row(rows, i);
    texts[i].reserve(labels.size());
    for (const auto& l : labels)
      texts[i].emplace_back(l.label, row.Text(l.column));
  }
  return RowLabels(std::move(texts));
}

void EmitColumns(const Rows& rows, const std::vector<LabelColumn>& labels,
                 const std::vector<ColumnMetric>& metrics, bool legacy_names,
                 Families& out) {
  const RowLabels row_labels = LabelRows(rows, labels);
  for (const ColumnMetric& m : metrics) {
    const int column = rows.Column(m.column);
    FamilyBuilder family(m.name, m.help, TypeFor(m.name, m.kind));
    if (column >= 0) family.Reserve(rows.size());
    std::optional<FamilyBuilder> legacy;
    if (legacy_names && m.legacy_name) {
      legacy.emplace(m.legacy_name, m.help, prometheus::MetricType::Untyped);
    }
    if (column >= 0) {
      for (size_t i = 0; i < rows.size(); ++i) {
        const auto& cell = rows.row(i)[static_cast<size_t>(column)];
        if (!cell) continue;
        const std::optional<double> v = ParseNumber(*cell);
        if (!v) continue;
        family.Add(row_labels, i, *v * m.scale);
        if (legacy) legacy->Add(row_labels, i, *v * m.scale);
      }
    }
    family.MoveTo(out);
    if (legacy) legacy->MoveTo(out);
  }
}

}  // namespace pgwarden
