// settings: every numeric and boolean pg_settings entry, in base units.

#include <optional>
#include <set>
#include <string>
#include <unordered_set>

#include "collectors/collector.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_settings: numeric and boolean settings in base units, pending restart";

constexpr char kSettingsQuery[] = R"sql(
SELECT name, setting, coalesce(unit, '') AS unit, vartype, short_desc,
       pending_restart
FROM pg_settings
WHERE vartype IN ('bool', 'integer', 'real'))sql";

// Settings postgres_exporter leaves out (their values are not settings).
const std::set<std::string, std::less<>> kExcluded = {
    "sync_commit_cancel_wait", "google_dataplex.max_messages"};

struct Conversion {
  const char* suffix;  // appended to the metric name
  double factor;       // multiplies the value into the base unit
};

// Units of pg_settings.unit, as postgres_exporter converts them.
std::optional<Conversion> ConvertUnit(std::string_view unit) {
  struct Entry {
    std::string_view unit;
    Conversion conversion;
  };
  static constexpr double kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  static constexpr Entry kUnits[] = {
      {"", {"", 1}},
      {"ms", {"_seconds", 1e-3}},
      {"s", {"_seconds", 1}},
      {"min", {"_seconds", 60}},
      {"h", {"_seconds", 3600}},
      {"d", {"_seconds", 86400}},
      {"B", {"_bytes", 1}},
      {"kB", {"_bytes", kKiB}},
      {"MB", {"_bytes", kMiB}},
      {"GB", {"_bytes", kGiB}},
      {"TB", {"_bytes", kGiB * 1024}},
      {"1kB", {"_bytes", kKiB}},
      {"2kB", {"_bytes", 2 * kKiB}},
      {"4kB", {"_bytes", 4 * kKiB}},
      {"8kB", {"_bytes", 8 * kKiB}},
      {"16kB", {"_bytes", 16 * kKiB}},
      {"32kB", {"_bytes", 32 * kKiB}},
      {"64kB", {"_bytes", 64 * kKiB}},
      {"16MB", {"_bytes", 16 * kMiB}},
      {"32MB", {"_bytes", 32 * kMiB}},
      {"64MB", {"_bytes", 64 * kMiB}},
  };
  for (const auto& e : kUnits) {
    if (e.unit == unit) return e.conversion;
  }
  return std::nullopt;
}

// promtool rejects any metric name with a type name in it, whatever the
// family's type, so such a word in a setting name (PostgreSQL 17's
// wal_summary_keep_time) is pluralized: wal_summaries_keep_time.
std::string AvoidTypeWords(std::string fragment) {
  static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram",
                                                "summary"};
  static constexpr std::string_view kPlurals[] = {"counters", "gauges",
                                                  "histograms", "summaries"};
  std::string out;
  size_t start = 0;
  while (start <= fragment.size()) {
    size_t end = fragment.find('_', start);
    if (end == std::string::npos) end = fragment.size();
    std::string_view token(fragment.data() + start, end - start);
    for (size_t i = 0; i < 4; ++i) {
      if (token == kTypes[i]) token = kPlurals[i];
    }
    out.append(token);
    if (end < fragment.size()) out += '_';
    start = end + 1;
  }
  return out;
}

class SettingsCollector final : public Collector {
 public:
  explicit SettingsCollector(const CollectorOptions&) {}

  std::string_view Name() const override { return "settings"; }

  std::string Query(const ServerInfo&) const override { return kSettingsQuery; }

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    std::unordered_set<std::string> emitted;
    emitted.reserve(rows.size());
    double pending_restart = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      const std::string name = row.Text("name");
      if (row.NumberOr("pending_restart", 0) != 0) ++pending_restart;
      if (name.empty() || kExcluded.count(name)) continue;
      auto value = row.Number("setting");
      if (!value) continue;  // e.g. an extension's placeholder without value
      const std::string unit = row.Text("unit");
      const auto conversion = ConvertUnit(unit);
      if (!conversion) continue;  // a unit we do not know: no guessing
      // -1 conventionally means "disabled"; it stays -1 in any unit.
      if (*value != -1) *value *= conversion->factor;
      std::string metric = "pg_settings_" +
                           AvoidTypeWords(SanitizeNameFragment(name)) +
                           conversion->suffix;
      // Two settings that sanitize to one name would be duplicate series.
      if (!emitted.insert(metric).second) continue;
      const Rows::Cell& desc = row.Get("short_desc");
      std::string help;
      help.reserve(64 + (desc ? desc->size() : 0));
      help += "Server Parameter: ";
      if (desc) help += *desc;
      if (*conversion->suffix) {
        help += " [Units converted to ";
        help += conversion->suffix + 1;
        help += ".]";
      }
      // tcp_keepalives_count: postgres_exporter's name, which promtool's lint
      // rejects for a gauge.
      const bool reserved = HasReservedSuffix(metric);
      FamilyBuilder(std::move(metric), std::move(help),
                    reserved ? prometheus::MetricType::Untyped
                             : prometheus::MetricType::Gauge)
          .Add(*value)
          .MoveTo(out);
    }
    FamilyBuilder("pg_settings_pending_restart",
                  "Number of settings changed in the configuration files that "
                  "wait for a server restart.",
                  prometheus::MetricType::Gauge)
        .Add(pending_restart)
        .MoveTo(out);
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(settings, OnByDefault(),
                            ::pgwarden::SettingsCollector);
