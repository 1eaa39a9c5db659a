// custom: collectors built from postgres_exporter queries.yaml entries.

#include "collectors/custom.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>
#include <stdexcept>

#include "collectors/columns.h"
#include "exporter/metrics.h"

namespace pgwarden {
namespace {

// PostgreSQL's text form of a timestamptz ("2026-11-22 04:47:49.24+00",
// ISO DateStyle) as Unix seconds, as postgres_exporter turns time columns
// into numbers. std::nullopt for anything else.
std::optional<double> ParseTimestamp(const std::string& text) {
  int y, mo, d, h, mi, consumed = 0;
  double sec;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d %2d:%2d:%lf%n", &y, &mo, &d, &h,
                  &mi, &sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  double epoch = static_cast<double>(timegm(&tm)) + sec;
  const char* zone = text.c_str() + consumed;
  if (*zone == '+' || *zone == '-') {
    int zh = 0, zm = 0;
    if (std::sscanf(zone + 1, "%2d:%2d", &zh, &zm) < 1) return std::nullopt;
    const double offset = zh * 3600.0 + zm * 60.0;
    epoch += *zone == '+' ? -offset : offset;
  } else if (*zone != '\0') {
    return std::nullopt;
  }
  return epoch;
}

// PostgreSQL's text form of a one-dimensional numeric array ("{1,2.5,5}")
// as numbers. Throws std::runtime_error naming `column` for NULL, a NULL
// element or anything else.
std::vector<double> ParseArray(const Rows::Cell& cell,
                               const std::string& column) {
  if (!cell) throw std::runtime_error(column + " is NULL or missing");
  const std::string& text = *cell;
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    throw std::runtime_error(column + " is not an array");
  }
  std::vector<double> out;
  const std::string_view body(text.data() + 1, text.size() - 2);
  size_t start = 0;
  while (!body.empty() && start <= body.size()) {
    size_t comma = body.find(',', start);
    if (comma == std::string_view::npos) comma = body.size();
    const std::string_view item = body.substr(start, comma - start);
    const auto v = ParseNumber(item);
    if (!v) {
      throw std::runtime_error(column + " has a non-numeric element \"" +
                               std::string(item.substr(0, 20)) + "\"");
    }
    out.push_back(*v);
    start = comma + 1;
  }
  return out;
}

class CustomCollector final : public Collector {
 public:
  CustomCollector(CustomQuery q, bool legacy_names, int series_limit)
      : q_(std::move(q)),
        legacy_names_(legacy_names),
        series_limit_(series_limit) {
    // Each LABEL column is its own label; the names point into q_, which
    // never changes.
    for (const auto& m : q_.metrics) {
      if (m.usage == CustomMetric::Usage::kLabel) {
        labels_.push_back({m.column.c_str(), m.column.c_str()});
      }
    }
  }
  // labels_ points into q_: neither copied nor moved.
  CustomCollector(const CustomCollector&) = delete;
  CustomCollector& operator=(const CustomCollector&) = delete;

  std::string_view Name() const override { return q_.name; }
  bool PerDatabase() const override { return q_.per_database; }
  int TimeoutMs() const override {
    return static_cast<int>(std::lround(q_.timeout_seconds * 1000));
  }

  std::string Query(const ServerInfo& server) const override {
    if (server.version_num < q_.min_server_version) return "";
    if (q_.max_server_version > 0 && server.version_num > q_.max_server_version)
      return "";
    return q_.sql;
  }

  void Parse(const ServerInfo& server, const Rows& rows,
             Families& out) const override {
    Families mine;
    ParseRows(server, rows, mine);
    if (series_limit_ > 0) {
      size_t series = 0;
      for (const auto& f : mine) series += f.metric.size();
      if (series > static_cast<size_t>(series_limit_)) {
        throw std::runtime_error(
            std::to_string(series) +
            " series, more than --custom_query_series_limit=" +
            std::to_string(series_limit_));
      }
    }
    for (auto& f : mine) out.push_back(std::move(f));
  }

 private:
  void ParseRows(const ServerInfo&, const Rows& rows, Families& out) const {
    const RowLabels row_labels = LabelRows(rows, labels_);
    for (const auto& m : q_.metrics) {
      using U = CustomMetric::Usage;
      if (m.usage == U::kLabel || m.usage == U::kDiscard) continue;
      std::string name = q_.name + "_" + m.column;
      // DURATION columns hold milliseconds. postgres_exporter names them
      // *_milliseconds; promtool rejects that unit, so they are emitted in
      // seconds, and under the old name with --legacy_names.
      // A column already named for its unit ("lag_ms") loses that suffix.
      const bool duration = m.usage == U::kDuration;
      if (duration) {
        for (const char* unit : {"_milliseconds", "_ms"}) {
          const std::string u = unit;
          if (name.size() > u.size() &&
              name.compare(name.size() - u.size(), u.size(), u) == 0) {
            name.resize(name.size() - u.size());
            break;
          }
        }
        name += "_seconds";
      }
      if (m.usage == U::kHistogram) {
        AddHistogram(rows, row_labels, name, m, out);
        continue;
      }
      FamilyBuilder family(
          name, m.description,
          TypeFor(name,
                  m.usage == U::kCounter ? Kind::kCounter : Kind::kGauge));
      family.Reserve(rows.size());
      std::optional<FamilyBuilder> legacy;
      if (duration && legacy_names_) {
        legacy.emplace(q_.name + "_" + m.column + "_milliseconds",
                       m.description, prometheus::MetricType::Untyped);
      }
      // A missing column reads as NULL, as RowView does; the mapping sees
      // NULL as "".
      const int column = rows.Column(m.column);
      static const Rows::Cell kNull;
      for (size_t i = 0; i < rows.size(); ++i) {
        const Rows::Cell& cell =
            column < 0 ? kNull : rows.row(i)[static_cast<size_t>(column)];
        std::optional<double> v;
        if (m.usage == U::kMappedMetric) {
          auto it = m.mapping.find(cell ? *cell : std::string());
          if (it != m.mapping.end()) v = it->second;
        } else if (cell) {
          v = ParseNumber(*cell);
          if (!v) v = ParseTimestamp(*cell);
        }
        if (!v) continue;
        family.Add(row_labels, i, duration ? *v / 1000 : *v);
        if (legacy) legacy->Add(row_labels, i, *v);
      }
      family.MoveTo(out);
      if (legacy) legacy->MoveTo(out);
    }
  }

  // The HISTOGRAM column `m` of every row as one family; throws for a row
  // that is not a histogram, failing the query with the reason.
  static void AddHistogram(const Rows& rows, const RowLabels& row_labels,
                           const std::string& name, const CustomMetric& m,
                           Families& out) {
    FamilyBuilder family(name, m.description,
                         prometheus::MetricType::Histogram);
    for (size_t i = 0; i < rows.size(); ++i) {
      if (row_labels.repeated(i)) continue;
      RowView row(rows, i);
      const std::vector<double> bounds =
          ParseArray(row.Get(m.column), m.column);
      const std::vector<double> counts =
          ParseArray(row.Get(m.column + "_bucket"), m.column + "_bucket");
      const auto sum = row.Number(m.column + "_sum");
      const auto count = row.Number(m.column + "_count");
      if (!sum || !count) {
        throw std::runtime_error(m.column + (sum ? "_count" : "_sum") +
                                 " is missing, NULL or not a number");
      }
      const std::string error = HistogramShapeError(bounds, counts, *count);
      if (!error.empty()) throw std::runtime_error(m.column + ": " + error);
      family.AddHistogram(row_labels[i], bounds, counts, *count, *sum);
    }
    family.MoveTo(out);
  }

  CustomQuery q_;
  bool legacy_names_;
  int series_limit_;
  std::vector<LabelColumn> labels_;
};

}  // namespace

std::unique_ptr<Collector> NewCustomCollector(CustomQuery query,
                                              bool legacy_names,
                                              int series_limit) {
  return std::make_unique<CustomCollector>(std::move(query), legacy_names,
                                           series_limit);
}

}  // namespace pgwarden
