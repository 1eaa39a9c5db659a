// Custom queries from a postgres_exporter queries.yaml file.

#include "collectors/custom.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "collectors/columns.h"
#include "exporter/log.h"

namespace pgwarden {
namespace {

[[noreturn]] void Fail(const std::string& file, const YAML::Mark& mark,
                       const std::string& reason) {
  throw std::invalid_argument(file + ":" + std::to_string(mark.line + 1) +
                              ": " + reason);
}

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  for (char ch : name) {
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' ||
          (allow_colon && ch == ':'))) {
      return false;
    }
  }
  return true;
}

// One "op version" term of runonserver, e.g. ">=10.0.0" -> op ">=", 100000.
// Semver as postgres_exporter writes PostgreSQL versions: 9.6.3 is 90603,
// 15.4.0 is 150004.
bool ParseVersionTerm(const std::string& term, std::string& op,
                      int& version_num) {
  size_t i = 0;
  while (i < term.size() &&
         (term[i] == '<' || term[i] == '>' || term[i] == '='))
    ++i;
  op = term.substr(0, i);
  if (op.empty()) op = "=";
  if (op != ">=" && op != ">" && op != "<=" && op != "<" && op != "=")
    return false;
  int major = 0, minor = 0, patch = 0;
  char extra = 0;
  const int n = std::sscanf(term.c_str() + i, "%d.%d.%d%c", &major, &minor,
                            &patch, &extra);
  if (n < 1 || n > 3) return false;
  version_num =
      major >= 10 ? major * 10000 + minor : major * 10000 + minor * 100 + patch;
  return true;
}

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

CustomMetric::Usage ParseUsage(const std::string& text, bool& ok) {
  ok = true;
  std::string u;
  for (char ch : text)
    u += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (u == "LABEL") return CustomMetric::Usage::kLabel;
  if (u == "GAUGE") return CustomMetric::Usage::kGauge;
  if (u == "COUNTER") return CustomMetric::Usage::kCounter;
  if (u == "MAPPEDMETRIC") return CustomMetric::Usage::kMappedMetric;
  if (u == "DURATION") return CustomMetric::Usage::kDuration;
  if (u == "DISCARD") return CustomMetric::Usage::kDiscard;
  ok = false;
  return CustomMetric::Usage::kDiscard;
}

class CustomCollector final : public Collector {
 public:
  CustomCollector(CustomQuery q, bool legacy_names)
      : q_(std::move(q)), legacy_names_(legacy_names) {
    for (const auto& m : q_.metrics) {
      if (m.usage == CustomMetric::Usage::kLabel) labels_.push_back(m.column);
    }
  }

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

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    std::vector<Labels> row_labels(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      for (const auto& l : labels_) row_labels[i].emplace_back(l, row.Text(l));
    }
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
      FamilyBuilder family(
          name, m.description,
          TypeFor(name,
                  m.usage == U::kCounter ? Kind::kCounter : Kind::kGauge));
      std::optional<FamilyBuilder> legacy;
      if (duration && legacy_names_) {
        legacy.emplace(q_.name + "_" + m.column + "_milliseconds",
                       m.description, prometheus::MetricType::Untyped);
      }
      for (size_t i = 0; i < rows.size(); ++i) {
        RowView row(rows, i);
        std::optional<double> v;
        if (m.usage == U::kMappedMetric) {
          auto it = m.mapping.find(row.Text(m.column));
          if (it != m.mapping.end()) v = it->second;
        } else {
          v = row.Number(m.column);
          if (!v && row.Get(m.column)) v = ParseTimestamp(*row.Get(m.column));
        }
        if (!v) continue;
        family.Add(row_labels[i], duration ? *v / 1000 : *v);
        if (legacy) legacy->Add(row_labels[i], *v);
      }
      family.MoveTo(out);
      if (legacy) legacy->MoveTo(out);
    }
  }

 private:
  CustomQuery q_;
  bool legacy_names_;
  std::vector<std::string> labels_;
};

}  // namespace

std::vector<CustomQuery> ParseCustomQueries(const std::string& text,
                                            const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    Fail(file, e.mark, e.msg);
  }
  std::vector<CustomQuery> out;
  if (root.IsNull()) return out;
  if (!root.IsMap())
    Fail(file, root.Mark(), "expected a map of metric namespaces");
  std::set<std::string> builtin;
  for (const auto& r : RegisteredCollectors()) builtin.insert(r.name);
  try {
    for (const auto& entry : root) {
      CustomQuery q;
      q.name = entry.first.as<std::string>();
      const YAML::Node body = entry.second;
      const YAML::Mark at = entry.first.Mark();
      if (!ValidName(q.name, true))
        Fail(file, at, "\"" + q.name + "\" is not a valid metric name");
      if (builtin.count(q.name)) {
        Fail(file, at,
             "\"" + q.name + "\" is the name of a built-in collector");
      }
      if (!body.IsMap()) Fail(file, body.Mark(), q.name + ": expected a map");
      for (const auto& kv : body) {
        const std::string key = kv.first.as<std::string>();
        const YAML::Node v = kv.second;
        if (key == "query") {
          q.sql = v.as<std::string>();
        } else if (key == "master") {
          v.as<bool>();  // validated; pgwarden runs each query once anyway
        } else if (key == "cache_seconds") {
          q.cache_seconds = v.as<double>();
          if (!(q.cache_seconds >= 0 && q.cache_seconds <= 86400)) {
            Fail(file, v.Mark(), "cache_seconds must be in [0, 86400]");
          }
        } else if (key == "timeout_seconds") {
          q.timeout_seconds = v.as<double>();
          if (!(q.timeout_seconds > 0 && q.timeout_seconds <= 3600)) {
            Fail(file, v.Mark(), "timeout_seconds must be in (0, 3600]");
          }
        } else if (key == "min_server_version") {
          q.min_server_version = v.as<int>();
        } else if (key == "max_server_version") {
          q.max_server_version = v.as<int>();
        } else if (key == "per_database") {
          q.per_database = v.as<bool>();
        } else if (key == "runonserver") {
          std::stringstream terms(v.as<std::string>());
          std::string term, op;
          int version = 0;
          while (terms >> term) {
            if (!ParseVersionTerm(term, op, version)) {
              Fail(file, v.Mark(), "runonserver: cannot read \"" + term + "\"");
            }
            if (op == ">=" || op == "=")
              q.min_server_version = std::max(q.min_server_version, version);
            if (op == ">")
              q.min_server_version =
                  std::max(q.min_server_version, version + 1);
            if (op == "<=" || op == "=") q.max_server_version = version;
            if (op == "<") q.max_server_version = version - 1;
          }
        } else if (key == "metrics") {
          if (!v.IsSequence())
            Fail(file, v.Mark(), q.name + ": metrics must be a list");
          for (const auto& item : v) {
            if (!item.IsMap() || item.size() != 1) {
              Fail(file, item.Mark(),
                   q.name + ": each metric is a map of one column");
            }
            // Copies: yaml-cpp's iterator hands out proxies that die with
            // the expression.
            const YAML::Node column = item.begin()->first;
            const YAML::Node spec = item.begin()->second;
            CustomMetric m;
            m.column = column.as<std::string>();
            if (!spec.IsMap())
              Fail(file, spec.Mark(),
                   m.column + ": expected usage and description");
            bool ok = false;
            if (!spec["usage"])
              Fail(file, spec.Mark(), m.column + ": no usage");
            m.usage = ParseUsage(spec["usage"].as<std::string>(), ok);
            if (!ok) {
              Fail(file, spec["usage"].Mark(),
                   m.column + ": unsupported usage \"" +
                       spec["usage"].as<std::string>() +
                       "\" (LABEL, GAUGE, COUNTER, MAPPEDMETRIC, DURATION, "
                       "DISCARD)");
            }
            if (spec["description"])
              m.description = spec["description"].as<std::string>();
            if (m.usage == CustomMetric::Usage::kMappedMetric) {
              if (!spec["mapping"] || !spec["mapping"].IsMap()) {
                Fail(file, spec.Mark(),
                     m.column + ": MAPPEDMETRIC needs a mapping");
              }
              for (const auto& mv : spec["mapping"]) {
                m.mapping[mv.first.as<std::string>()] = mv.second.as<double>();
              }
            }
            const bool label = m.usage == CustomMetric::Usage::kLabel;
            if (!ValidName(m.column, false) ||
                (label && m.column.rfind("__", 0) == 0)) {
              Fail(file, column.Mark(),
                   "\"" + m.column + "\" is not a valid " +
                       (label ? "label" : "metric") + " name");
            }
            q.metrics.push_back(std::move(m));
          }
        } else {
          Log(LogLevel::kWarn,
              file + ":" + std::to_string(kv.first.Mark().line + 1) +
                  ": ignoring unknown key \"" + key + "\" of " + q.name);
        }
      }
      if (q.sql.empty()) Fail(file, at, q.name + ": no query");
      if (q.metrics.empty()) Fail(file, at, q.name + ": no metrics");
      if (q.per_database) {
        bool has_datname = false;
        for (const auto& m : q.metrics) {
          has_datname = has_datname || (m.column == "datname" &&
                                        m.usage == CustomMetric::Usage::kLabel);
        }
        if (!has_datname) {
          Fail(file, at,
               q.name + ": per_database needs a LABEL column named datname");
        }
      }
      for (const auto& other : out) {
        if (other.name == q.name)
          Fail(file, at, "\"" + q.name + "\" appears twice");
      }
      out.push_back(std::move(q));
    }
  } catch (const YAML::Exception& e) {
    Fail(file, e.mark, e.msg);
  }
  return out;
}

std::vector<CustomQuery> LoadCustomQueries(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument("cannot read --extend_query_path \"" + path +
                                "\"");
  std::stringstream text;
  text << in.rdbuf();
  return ParseCustomQueries(text.str(), path);
}

std::unique_ptr<Collector> NewCustomCollector(CustomQuery query,
                                              bool legacy_names) {
  return std::make_unique<CustomCollector>(std::move(query), legacy_names);
}

}  // namespace pgwarden
