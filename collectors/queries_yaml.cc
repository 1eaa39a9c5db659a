// Reads postgres_exporter's queries.yaml format into CustomQuery entries.

#include "collectors/queries_yaml.h"

#include <prometheus/check_names.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "exporter/log.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

[[noreturn]] void Fail(const std::string& file, const YAML::Mark& mark,
                       const std::string& reason) {
  throw std::invalid_argument(file + ":" + std::to_string(mark.line + 1) +
                              ": " + reason);
}

std::optional<CustomMetric::Usage> ParseUsage(const std::string& text) {
  std::string u;
  for (char ch : text) {
    u += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  using U = CustomMetric::Usage;
  if (u == "LABEL") return U::kLabel;
  if (u == "GAUGE") return U::kGauge;
  if (u == "COUNTER") return U::kCounter;
  if (u == "MAPPEDMETRIC") return U::kMappedMetric;
  if (u == "DURATION") return U::kDuration;
  if (u == "HISTOGRAM") return U::kHistogram;
  if (u == "DISCARD") return U::kDiscard;
  return std::nullopt;
}

// One "op version" term of runonserver, e.g. ">=10.0.0" -> op ">=", 100000.
// Semver as postgres_exporter writes PostgreSQL versions: 9.6.3 is 90603,
// 15.4.0 is 150004.
bool ParseVersionTerm(const std::string& term, std::string& op,
                      int& version_num) {
  const size_t digits = term.find_first_not_of("<>=");
  op = term.substr(0, std::min(digits, term.size()));
  if (op.empty()) op = "=";
  if (op != ">=" && op != ">" && op != "<=" && op != "<" && op != "=") {
    return false;
  }
  int major = 0, minor = 0, patch = 0;
  char extra = 0;
  if (digits == std::string::npos) return false;
  const int n = std::sscanf(term.c_str() + digits, "%d.%d.%d%c", &major, &minor,
                            &patch, &extra);
  if (n < 1 || n > 3) return false;
  version_num =
      major >= 10 ? major * 10000 + minor : major * 10000 + minor * 100 + patch;
  return true;
}

// runonserver: ">=10.0.0 <17.0.0" -> the query's server_version_num bounds.
void ParseRunOnServer(const YAML::Node& v, const std::string& file,
                      CustomQuery& q) {
  for (const std::string& term : SplitList(v.as<std::string>(), ' ')) {
    std::string op;
    int version = 0;
    if (!ParseVersionTerm(term, op, version)) {
      Fail(file, v.Mark(), "runonserver: cannot read \"" + term + "\"");
    }
    if (op == ">=" || op == "=") {
      q.min_server_version = std::max(q.min_server_version, version);
    }
    if (op == ">")
      q.min_server_version = std::max(q.min_server_version, version + 1);
    if (op == "<=" || op == "=") q.max_server_version = version;
    if (op == "<") q.max_server_version = version - 1;
  }
}

// One item of `metrics:`, a map of one column to its usage and description.
CustomMetric ParseMetric(const YAML::Node& item, const std::string& file,
                         const std::string& query) {
  if (!item.IsMap() || item.size() != 1) {
    Fail(file, item.Mark(), query + ": each metric is a map of one column");
  }
  // Copies: yaml-cpp's iterator hands out proxies that die with the
  // expression.
  const YAML::Node column = item.begin()->first;
  const YAML::Node spec = item.begin()->second;
  CustomMetric m;
  m.column = column.as<std::string>();
  if (!spec.IsMap()) {
    Fail(file, spec.Mark(), m.column + ": expected usage and description");
  }
  if (!spec["usage"]) Fail(file, spec.Mark(), m.column + ": no usage");
  const std::string usage = spec["usage"].as<std::string>();
  const auto parsed = ParseUsage(usage);
  if (!parsed) {
    Fail(file, spec["usage"].Mark(),
         m.column + ": unsupported usage \"" + usage +
             "\" (LABEL, GAUGE, COUNTER, MAPPEDMETRIC, DURATION, DISCARD)");
  }
  m.usage = *parsed;
  if (spec["description"])
    m.description = spec["description"].as<std::string>();
  if (m.usage == CustomMetric::Usage::kMappedMetric) {
    if (!spec["mapping"] || !spec["mapping"].IsMap()) {
      Fail(file, spec.Mark(), m.column + ": MAPPEDMETRIC needs a mapping");
    }
    for (const auto& mv : spec["mapping"]) {
      m.mapping[mv.first.as<std::string>()] = mv.second.as<double>();
    }
  }
  // A column names a label, or the end of a metric name: either way it has
  // a label name's characters.
  if (!prometheus::CheckLabelName(m.column)) {
    const bool label = m.usage == CustomMetric::Usage::kLabel;
    Fail(file, column.Mark(),
         "\"" + m.column + "\" is not a valid " + (label ? "label" : "metric") +
             " name");
  }
  return m;
}

// One key of a query's body.
void ParseKey(const std::string& key, const YAML::Node& v,
              const YAML::Mark& key_mark, const std::string& file,
              CustomQuery& q) {
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
    ParseRunOnServer(v, file, q);
  } else if (key == "metrics") {
    if (!v.IsSequence())
      Fail(file, v.Mark(), q.name + ": metrics must be a list");
    for (const auto& item : v)
      q.metrics.push_back(ParseMetric(item, file, q.name));
  } else {
    Log(LogLevel::kWarn, file + ":" + std::to_string(key_mark.line + 1) +
                             ": ignoring unknown key \"" + key + "\" of " +
                             q.name);
  }
}

// One top-level entry: a namespace and its body.
CustomQuery ParseQuery(const YAML::Node& name, const YAML::Node& body,
                       const std::string& file) {
  CustomQuery q;
  q.name = name.as<std::string>();
  const YAML::Mark at = name.Mark();
  if (!prometheus::CheckMetricName(q.name)) {
    Fail(file, at, "\"" + q.name + "\" is not a valid metric name");
  }
  const auto& builtin = RegisteredCollectors();
  if (std::any_of(builtin.begin(), builtin.end(),
                  [&](const auto& r) { return r.name == q.name; })) {
    Fail(file, at, "\"" + q.name + "\" is the name of a built-in collector");
  }
  if (!body.IsMap()) Fail(file, body.Mark(), q.name + ": expected a map");
  for (const auto& kv : body) {
    ParseKey(kv.first.as<std::string>(), kv.second, kv.first.Mark(), file, q);
  }
  if (q.sql.empty()) Fail(file, at, q.name + ": no query");
  if (q.metrics.empty()) Fail(file, at, q.name + ": no metrics");
  const bool has_datname =
      std::any_of(q.metrics.begin(), q.metrics.end(), [](const auto& m) {
        return m.column == "datname" && m.usage == CustomMetric::Usage::kLabel;
      });
  if (q.per_database && !has_datname) {
    Fail(file, at,
         q.name + ": per_database needs a LABEL column named datname");
  }
  return q;
}

}  // namespace

std::vector<CustomQuery> ParseCustomQueries(const std::string& text,
                                            const std::string& file) {
  std::vector<CustomQuery> out;
  try {
    const YAML::Node root = YAML::Load(text);
    if (root.IsNull()) return out;
    if (!root.IsMap()) {
      Fail(file, root.Mark(), "expected a map of metric namespaces");
    }
    std::set<std::string> seen;
    for (const auto& entry : root) {
      CustomQuery q = ParseQuery(entry.first, entry.second, file);
      if (!seen.insert(q.name).second) {
        Fail(file, entry.first.Mark(), "\"" + q.name + "\" appears twice");
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
  if (!in) {
    throw std::invalid_argument("cannot read --extend_query_path \"" + path +
                                "\"");
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseCustomQueries(text.str(), path);
}

}  // namespace pgwarden
