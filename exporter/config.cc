#include "exporter/config.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "collectors/queries_yaml.h"
#include "exporter/flags.h"
#include "exporter/remediation_policy.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

// The first line of `path`, trimmed; `what` names it in the error.
std::string FirstLine(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument("cannot read " + what + " \"" + path + "\"");
  std::string line;
  std::getline(in, line);
  return Trim(line);
}

// $NAME, or the first line of the file $NAME_FILE names (which wins), as
// postgres_exporter reads its DATA_SOURCE_* variables. "" when neither is set.
std::string EnvOrFile(const std::string& name) {
  if (const char* path = std::getenv((name + "_FILE").c_str()); path && *path) {
    return FirstLine(path, name + "_FILE");
  }
  const char* value = std::getenv(name.c_str());
  return value ? value : "";
}

void Require(bool condition, const char* reason) {
  if (!condition) throw std::invalid_argument(reason);
}

Dsn LoadDsn(std::string& text, SessionSettings& session) {
  if (!FLAGS_dsn_file.empty()) {
    text = FirstLine(FLAGS_dsn_file, "--dsn_file");
  } else if (!FLAGS_dsn.empty()) {
    text = FLAGS_dsn;
  } else {
    text = DsnFromEnvironment();
  }
  Require(FLAGS_statement_timeout_ms > 0 && FLAGS_lock_timeout_ms > 0,
          "--statement_timeout_ms and --lock_timeout_ms must be > 0");
  Require(FLAGS_connect_timeout > 0, "--connect_timeout must be > 0");
  session.statement_timeout_ms = FLAGS_statement_timeout_ms;
  session.lock_timeout_ms = FLAGS_lock_timeout_ms;
  session.connect_timeout_seconds = FLAGS_connect_timeout;
  return WithSessionSettings(Dsn::Parse(text), session);
}

// --sample_interval: "1s", "500ms", "2" (seconds); 0 is off, else in
// [0.1 s, 60 s].
SamplerOptions LoadSamplerOptions() {
  std::string text = Trim(FLAGS_sample_interval);
  double scale = 1;
  if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0) {
    scale = 0.001;
    text.resize(text.size() - 2);
  } else if (text.size() > 1 && text.back() == 's') {
    text.pop_back();
  }
  const auto seconds = ParseFiniteDouble(text);
  if (!seconds || *seconds < 0 ||
      (*seconds != 0 && (*seconds * scale < 0.1 || *seconds * scale > 60))) {
    throw std::invalid_argument("--sample_interval: \"" +
                                FLAGS_sample_interval +
                                "\" is not 0 or a duration in [100ms, 60s]");
  }
  Require(FLAGS_sample_blockers_limit >= 0 &&
              FLAGS_sample_blockers_limit <= 10000 &&
              FLAGS_sample_queries_limit >= 0 &&
              FLAGS_sample_queries_limit <= 10000,
          "--sample_blockers_limit and --sample_queries_limit must be in "
          "[0, 10000]");
  SamplerOptions o;
  o.interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(*seconds * scale));
  o.limits.blockers = static_cast<size_t>(FLAGS_sample_blockers_limit);
  o.limits.queries = static_cast<size_t>(FLAGS_sample_queries_limit);
  return o;
}

CollectorOptions LoadCollectorOptions() {
  CollectorOptions o;
  o.long_running_thresholds_seconds =
      ParseThresholds(FLAGS_long_running_thresholds);
  Require(FLAGS_blocking_top_roots >= 0 && FLAGS_stat_statements_limit >= 0 &&
              FLAGS_stat_statements_query_length > 0,
          "--blocking_top_roots and --stat_statements_limit must be >= 0, "
          "--stat_statements_query_length > 0");
  Require(
      FLAGS_blocking_query_length >= 0 && FLAGS_blocking_query_length <= 10000,
      "--blocking_query_length must be in [0, 10000]");
  Require(FLAGS_relation_limit >= 1 && FLAGS_relation_limit <= 100000,
          "--relation_limit must be in [1, 100000]");
  o.blocking_top_roots = FLAGS_blocking_top_roots;
  o.blocking_query_length = FLAGS_blocking_query_length;
  o.stat_statements_limit = FLAGS_stat_statements_limit;
  o.stat_statements_include_query = FLAGS_stat_statements_include_query;
  o.stat_statements_query_length = FLAGS_stat_statements_query_length;
  o.legacy_names = FLAGS_legacy_names;
  o.relation_limit = FLAGS_relation_limit;
  Require(FLAGS_custom_query_series_limit >= 0,
          "--custom_query_series_limit must be >= 0");
  o.custom_query_series_limit = FLAGS_custom_query_series_limit;
  return o;
}

// The registry's default intervals, then --collector_min_interval, then
// each custom query's cache_seconds.
std::map<std::string, double> LoadMinIntervals(
    const std::vector<CustomQuery>& custom) {
  std::map<std::string, double> out;
  for (const auto& r : RegisteredCollectors()) {
    if (r.defaults.min_interval_seconds > 0) {
      out[r.name] = r.defaults.min_interval_seconds;
    }
  }
  try {
    for (const auto& [name, seconds] :
         ParseMinIntervals(FLAGS_collector_min_interval)) {
      out[name] = seconds;
    }
  } catch (const std::invalid_argument& e) {
    const std::string why = e.what();
    throw std::invalid_argument(
        why.rfind("--", 0) == 0 ? why : "--collector_min_interval: " + why);
  }
  for (const auto& q : custom) {
    if (q.cache_seconds > 0) out[q.name] = q.cache_seconds;
  }
  return out;
}

HttpOptions LoadHttpOptions() {
  const std::string& path = FLAGS_web_telemetry_path;
  Require(!path.empty() && path[0] == '/' && path != "/" && path != "/healthz",
          "--web_telemetry_path must start with / and not be / or /healthz");
  Require(FLAGS_scrape_timeout > 0 && FLAGS_scrape_timeout_offset >= 0 &&
              FLAGS_scrape_timeout <= 3600,
          "--scrape_timeout must be in (0, 3600] and --scrape_timeout_offset "
          ">= 0");
  Require(FLAGS_web_max_requests >= 0,
          "--web_max_requests must be >= 0 (0: no limit)");
  Require(FLAGS_web_max_connections >= 8 && FLAGS_web_max_connections <= 8192,
          "--web_max_connections must be in [8, 8192]");
  HttpOptions http;
  http.listen_addresses = SplitList(FLAGS_web_listen_address);
  Require(!http.listen_addresses.empty(),
          "--web_listen_address must name at least one [host]:port");
  http.max_requests = FLAGS_web_max_requests;
  http.max_connections = FLAGS_web_max_connections;
  http.telemetry_path = path;
  http.scrape_timeout =
      std::chrono::milliseconds(static_cast<long>(FLAGS_scrape_timeout * 1000));
  http.scrape_timeout_offset = std::chrono::milliseconds(
      static_cast<long>(FLAGS_scrape_timeout_offset * 1000));
  return http;
}

}  // namespace

std::string DsnFromEnvironment() {
  if (std::string dsn = EnvOrFile("DATA_SOURCE_NAME"); !dsn.empty()) return dsn;
  const std::string uri = EnvOrFile("DATA_SOURCE_URI");
  if (uri.empty()) return "";
  const std::string user = EnvOrFile("DATA_SOURCE_USER");
  const std::string pass = EnvOrFile("DATA_SOURCE_PASS");
  std::string userinfo = PercentEncode(user);
  if (!pass.empty()) userinfo += ":" + PercentEncode(pass);
  return "postgresql://" + (userinfo.empty() ? "" : userinfo + "@") + uri;
}

std::map<std::string, double> ParseMinIntervals(const std::string& text) {
  std::map<std::string, double> out;
  for (const std::string& item : SplitList(text)) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throw std::invalid_argument("--collector_min_interval: \"" + item +
                                  "\" is not name=seconds");
    }
    const std::string name = Trim(item.substr(0, eq));
    ResolveCollectors(name);  // throws for an unknown collector
    const std::string value = Trim(item.substr(eq + 1));
    const auto seconds = ParseFiniteDouble(value);
    if (!seconds || *seconds < 0 || *seconds > 86400) {
      throw std::invalid_argument(
          "--collector_min_interval: invalid seconds \"" + value + "\" for " +
          name);
    }
    out[name] = *seconds;
  }
  return out;
}

std::vector<double> ParseThresholds(const std::string& text) {
  std::vector<double> out;
  for (const std::string& item : SplitList(text)) {
    const auto v = ParseFiniteDouble(item);
    if (!v || *v < 0) {
      throw std::invalid_argument("invalid threshold \"" + item +
                                  "\" in --long_running_thresholds");
    }
    out.push_back(*v);
  }
  if (out.size() > 16) {
    throw std::invalid_argument(
        "--long_running_thresholds takes at most 16 values");
  }
  return out;
}

void LoadRemediation(Config& c) {
  try {
    c.remediation = LoadRemediationPolicy(FLAGS_remediation_config);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--remediation.config: ") +
                                e.what());
  }
  Dsn dsn = Dsn::Parse(
      FirstLine(c.remediation->dsn_file, "the remediation policy's dsn_file"));
  // Told apart from the scrape's sessions, and protected like them.
  if (!dsn.Has("application_name")) {
    dsn.Set("application_name", c.dsn.Get("application_name") + "_remediation");
  }
  c.remediation_dsn = WithSessionSettings(dsn, c.session);
}

Config LoadConfig() {
  Config c;
  c.dsn = LoadDsn(c.dsn_text, c.session);
  c.has_target = !c.dsn_text.empty();
  for (const char* libpq : {"PGHOST", "PGHOSTADDR", "PGSERVICE"}) {
    const char* value = std::getenv(libpq);
    c.has_target = c.has_target || (value && *value);
  }
  Require(FLAGS_probe_max_targets >= 1,
          "--probe.max_targets must be at least 1");
  Require(std::isfinite(FLAGS_probe_idle_timeout) &&
              FLAGS_probe_idle_timeout >= 1 &&
              FLAGS_probe_idle_timeout <= 86400,
          "--probe.idle_timeout must be in [1, 86400] seconds");
  c.probe.allow_any_target = FLAGS_probe_allow_any_target;
  c.probe.max_targets = static_cast<size_t>(FLAGS_probe_max_targets);
  c.probe.idle_timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(FLAGS_probe_idle_timeout));
  try {
    c.collectors = ResolveCollectors(FLAGS_collectors);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--collectors: ") + e.what());
  }
  c.collector_options = LoadCollectorOptions();
  Require(FLAGS_max_database_connections >= 1 &&
              FLAGS_max_database_connections <= 100,
          "--max_database_connections must be in [1, 100]");
  c.target.sampler = LoadSamplerOptions();
  const bool sampling = c.target.sampler.interval > Clock::duration::zero();
  Require(!sampling || FLAGS_max_database_connections >= 2,
          "--max_database_connections=1 leaves no connection for the activity "
          "sampler: raise it to 2 or set --sample_interval=0");
  // The sampler's connection counts toward the limit.
  c.target.databases.max_connections =
      FLAGS_max_database_connections - (sampling ? 1 : 0);
  c.target.databases.keep_connections = FLAGS_keep_database_connections;
  c.target.databases.include = SplitList(FLAGS_include_databases);
  c.target.databases.exclude = SplitList(FLAGS_exclude_databases);
  if (!FLAGS_extend_query_path.empty()) {
    c.custom_queries = LoadCustomQueries(FLAGS_extend_query_path);
  }
  c.target.min_interval_seconds = LoadMinIntervals(c.custom_queries);
  c.http = LoadHttpOptions();
  // A visit gives up when a scrape would.
  c.target.databases.visit_timeout = c.http.scrape_timeout;
  c.web_config_file = FLAGS_web_config_file;
  if (!FLAGS_remediation_config.empty()) {
    Require(sampling,
            "--remediation.config evaluates on the activity sampler's "
            "schedule: it needs --sample_interval above 0");
    LoadRemediation(c);
  } else if (FLAGS_remediation_check) {
    throw std::invalid_argument(
        "--remediation.check needs --remediation.config");
  }
  return c;
}

}  // namespace pgwarden
