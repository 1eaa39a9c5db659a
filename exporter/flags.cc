#include "exporter/flags.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

DEFINE_string(web_listen_address, ":9187",
              "Address to listen on for HTTP, [host]:port (port 0 picks a "
              "free port).");
DEFINE_string(web_telemetry_path, "/metrics", "Path under which to expose metrics.");
DEFINE_string(dsn, "",
              "PostgreSQL connection string (URI or key=value). Overrides "
              "DATA_SOURCE_NAME. Prefer PGPASSFILE or --dsn_file for passwords: "
              "command lines are visible to other users.");
DEFINE_string(dsn_file, "",
              "Read the connection string from this file (first line). "
              "Overrides --dsn and DATA_SOURCE_NAME.");
DEFINE_string(collectors, "default",
              "Collectors to run: comma list of names, 'default', 'all', "
              "'+name' to add, '-name' to remove (e.g. 'default,-settings').");
DEFINE_double(scrape_timeout, 10,
              "Longest a scrape may take, in seconds, when Prometheus sends no "
              "X-Prometheus-Scrape-Timeout-Seconds header; the header (minus "
              "--scrape_timeout_offset) can only shorten it.");
DEFINE_double(scrape_timeout_offset, 0.5,
              "Seconds subtracted from Prometheus' scrape timeout header, so the "
              "answer arrives in time.");
DEFINE_int32(statement_timeout_ms, 5000,
             "statement_timeout of the exporter's session, in milliseconds.");
DEFINE_int32(lock_timeout_ms, 1000,
             "lock_timeout of the exporter's session, in milliseconds: a "
             "catalog lock held by someone else fails one collector quickly "
             "instead of queueing the scrape behind it.");
DEFINE_int32(connect_timeout, 5,
             "Longest wait for a new database connection, in seconds (libpq's "
             "minimum is 2).");
DEFINE_string(collector_min_interval, "",
              "Minimum seconds between a collector's queries, as name=seconds "
              "pairs (e.g. 'settings=60,stat_statements=30'); in between, its "
              "last result is served and pgwarden_collector_result_age_seconds "
              "shows its age. Defaults: database, stat_user_tables, "
              "statio_user_tables, stat_user_indexes, statio_user_indexes 60; "
              "indexes, partitions 300 (name=0 runs it every scrape).");
DEFINE_string(long_running_thresholds, "60,300,900,3600",
              "activity: thresholds in seconds for pg_long_running_queries.");
DEFINE_int32(blocking_top_roots, 5,
             "blocking: root blockers reported with their pid in "
             "pg_blocking_session_info.");
DEFINE_int32(blocking_query_length, 0,
             "blocking: characters of each root blocker's current or last "
             "statement in pg_blocking_session_info's query label (0: no "
             "query label; query text may contain data).");
DEFINE_int32(stat_statements_limit, 100,
             "stat_statements: statements reported by queryid (top by total "
             "execution time); the rest are summed into queryid=\"other\".");
DEFINE_bool(stat_statements_include_query, false,
            "stat_statements: also emit pg_stat_statements_query_id{queryid,"
            "query} with the (truncated) query text.");
DEFINE_int32(stat_statements_query_length, 120,
             "stat_statements: longest query text emitted, in characters.");
DEFINE_bool(legacy_names, false,
            "Also emit the metric names older dashboards and rules query: "
            "pg_stat_bgwriter_* without _total (Grafana dashboard 9628), "
            "pg_replication_lag (postgres_mixin).");
DEFINE_int32(relation_limit, 100,
             "Per-table and per-index collectors: at most this many relations "
             "per database, the largest first.");
DEFINE_string(include_databases, "",
              "Per-database collectors: comma list of the only databases to "
              "visit (default: every database that allows connections).");
DEFINE_string(exclude_databases, "",
              "Per-database collectors: comma list of databases to skip.");
DEFINE_int32(max_database_connections, 5,
             "Most connections pgwarden holds to the server, the main one "
             "included; per-database collectors rotate through more databases "
             "than that (1: the connected database only).");
DEFINE_string(extend_query_path, "",
              "postgres_exporter queries.yaml file of custom queries (see "
              "README); a broken file stops start-up.");
DEFINE_string(log_level, "info", "Log level: debug, info, warn or error.");
DEFINE_bool(print_queries, false,
            "Connect, print the SQL each enabled collector would run against "
            "this server (one statement per collector, ';'-terminated), and "
            "exit: for audits and for timing the queries by hand.");

namespace pgwarden {
namespace {

constexpr const char* kBuiltinFlags[] = {"help", "h", "version", "helpfull",
                                         "helpshort"};

bool IsOurFlag(const gflags::CommandLineFlagInfo& info) {
  return info.filename.find("exporter/flags.cc") != std::string::npos;
}

std::string Trim(std::string s) {
  const size_t start = s.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(start, end - start + 1);
}

// Percent-encodes `text` for the user-info part of a URI.
std::string PercentEncode(const std::string& text) {
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

// $NAME, or the first line of the file $NAME_FILE names (which wins), as
// postgres_exporter reads its DATA_SOURCE_* variables. "" when neither is set.
std::string EnvOrFile(const std::string& name) {
  if (const char* path = std::getenv((name + "_FILE").c_str()); path && *path) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument("cannot read " + name + "_FILE \"" + path + "\"");
    std::string line;
    std::getline(in, line);
    return Trim(line);
  }
  const char* value = std::getenv(name.c_str());
  return value ? value : "";
}

// Default minimum intervals: per-table and per-index collectors visit every
// database and read sizes, so they run once a minute (indexes and partitions
// change slowly: every 5 minutes) unless --collector_min_interval says
// otherwise.
const std::map<std::string, double>& DefaultMinIntervals() {
  static const auto* defaults = new std::map<std::string, double>{
      {"database", 60},          {"stat_user_tables", 60}, {"statio_user_tables", 60},
      {"stat_user_indexes", 60}, {"statio_user_indexes", 60}, {"indexes", 300},
      {"partitions", 300}};
  return *defaults;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = Trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
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

std::string CheckArgs(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") return "";
    if (arg.size() < 2 || arg[0] != '-') {
      return "unexpected argument \"" + arg + "\" (flags start with --)";
    }
    arg.erase(0, arg[1] == '-' ? 2 : 1);
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    bool builtin = false;
    for (const char* b : kBuiltinFlags) builtin = builtin || name == b;
    if (builtin) continue;
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(name.c_str(), &info) || !IsOurFlag(info)) {
      if (name.rfind("no", 0) == 0 &&
          gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) &&
          IsOurFlag(info) && info.type == "bool" && eq == std::string::npos) {
        continue;
      }
      return "unknown flag --" + name + " (see --help)";
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (info.type == "bool") {
      continue;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return "flag --" + name + " needs a value";
    }
    // Check the value on a scratch copy of the flag, then restore it.
    const std::string old = info.current_value;
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      return "invalid value \"" + value + "\" for --" + name + " (a " +
             info.type + ")";
    }
    gflags::SetCommandLineOption(name.c_str(), old.c_str());
  }
  return "";
}

std::map<std::string, double> ParseMinIntervals(const std::string& text) {
  std::map<std::string, double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string name = Trim(item.substr(0, eq));
    if (eq == std::string::npos) {
      throw std::invalid_argument("--collector_min_interval: \"" + item +
                                  "\" is not name=seconds");
    }
    ResolveCollectors(name);  // throws for an unknown collector
    char* end = nullptr;
    const std::string value = Trim(item.substr(eq + 1));
    const double seconds = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(seconds) || seconds < 0 ||
        seconds > 86400) {
      throw std::invalid_argument("--collector_min_interval: invalid seconds \"" + value +
                                  "\" for " + name);
    }
    out[name] = seconds;
  }
  return out;
}

std::vector<double> ParseThresholds(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (*end != '\0' || !std::isfinite(v) || v < 0) {
      throw std::invalid_argument("invalid threshold \"" + item +
                                  "\" in --long_running_thresholds");
    }
    out.push_back(v);
  }
  if (out.size() > 16) {
    throw std::invalid_argument("--long_running_thresholds takes at most 16 values");
  }
  return out;
}

Config LoadConfig() {
  Config c;
  if (!FLAGS_dsn_file.empty()) {
    std::ifstream in(FLAGS_dsn_file);
    if (!in) {
      throw std::invalid_argument("cannot read --dsn_file \"" + FLAGS_dsn_file + "\"");
    }
    std::getline(in, c.dsn_text);
    c.dsn_text = Trim(c.dsn_text);
  } else if (!FLAGS_dsn.empty()) {
    c.dsn_text = FLAGS_dsn;
  } else {
    c.dsn_text = DsnFromEnvironment();
  }
  SessionSettings session;
  if (FLAGS_statement_timeout_ms <= 0 || FLAGS_lock_timeout_ms <= 0) {
    throw std::invalid_argument("--statement_timeout_ms and --lock_timeout_ms must be > 0");
  }
  if (FLAGS_connect_timeout <= 0) {
    throw std::invalid_argument("--connect_timeout must be > 0");
  }
  session.statement_timeout_ms = FLAGS_statement_timeout_ms;
  session.lock_timeout_ms = FLAGS_lock_timeout_ms;
  session.connect_timeout_seconds = FLAGS_connect_timeout;
  c.dsn = WithSessionSettings(Dsn::Parse(c.dsn_text), session);

  try {
    c.collectors = ResolveCollectors(FLAGS_collectors);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--collectors: ") + e.what());
  }
  c.collector_options.long_running_thresholds_seconds =
      ParseThresholds(FLAGS_long_running_thresholds);
  try {
    c.engine.min_interval_seconds = DefaultMinIntervals();
    for (const auto& [name, seconds] : ParseMinIntervals(FLAGS_collector_min_interval)) {
      c.engine.min_interval_seconds[name] = seconds;
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()).rfind("--", 0) == 0
                                    ? e.what()
                                    : std::string("--collector_min_interval: ") + e.what());
  }
  if (FLAGS_blocking_top_roots < 0 || FLAGS_stat_statements_limit < 0 ||
      FLAGS_stat_statements_query_length <= 0) {
    throw std::invalid_argument(
        "--blocking_top_roots and --stat_statements_limit must be >= 0, "
        "--stat_statements_query_length > 0");
  }
  c.collector_options.blocking_top_roots = FLAGS_blocking_top_roots;
  if (FLAGS_blocking_query_length < 0 || FLAGS_blocking_query_length > 10000) {
    throw std::invalid_argument("--blocking_query_length must be in [0, 10000]");
  }
  c.collector_options.blocking_query_length = FLAGS_blocking_query_length;
  c.collector_options.stat_statements_limit = FLAGS_stat_statements_limit;
  c.collector_options.stat_statements_include_query = FLAGS_stat_statements_include_query;
  c.collector_options.stat_statements_query_length = FLAGS_stat_statements_query_length;
  c.collector_options.legacy_names = FLAGS_legacy_names;
  if (FLAGS_relation_limit < 1 || FLAGS_relation_limit > 100000) {
    throw std::invalid_argument("--relation_limit must be in [1, 100000]");
  }
  c.collector_options.relation_limit = FLAGS_relation_limit;
  if (FLAGS_max_database_connections < 1 || FLAGS_max_database_connections > 100) {
    throw std::invalid_argument("--max_database_connections must be in [1, 100]");
  }
  c.engine.max_database_connections = FLAGS_max_database_connections;
  c.engine.include_databases = SplitList(FLAGS_include_databases);
  c.engine.exclude_databases = SplitList(FLAGS_exclude_databases);
  if (!FLAGS_extend_query_path.empty()) {
    c.custom_queries = LoadCustomQueries(FLAGS_extend_query_path);
    for (const auto& q : c.custom_queries) {
      if (q.cache_seconds > 0) c.engine.min_interval_seconds[q.name] = q.cache_seconds;
    }
  }

  if (FLAGS_web_telemetry_path.empty() || FLAGS_web_telemetry_path[0] != '/' ||
      FLAGS_web_telemetry_path == "/" || FLAGS_web_telemetry_path == "/healthz") {
    throw std::invalid_argument(
        "--web_telemetry_path must start with / and not be / or /healthz");
  }
  if (!(FLAGS_scrape_timeout > 0) || !(FLAGS_scrape_timeout_offset >= 0) ||
      FLAGS_scrape_timeout > 3600) {
    throw std::invalid_argument(
        "--scrape_timeout must be in (0, 3600] and --scrape_timeout_offset >= 0");
  }
  c.http.listen_address = FLAGS_web_listen_address;
  c.http.telemetry_path = FLAGS_web_telemetry_path;
  c.http.scrape_timeout =
      std::chrono::milliseconds(static_cast<long>(FLAGS_scrape_timeout * 1000));
  c.http.scrape_timeout_offset =
      std::chrono::milliseconds(static_cast<long>(FLAGS_scrape_timeout_offset * 1000));
  return c;
}

std::string HelpText() {
  std::string out =
      "pgwarden " PGWARDEN_VERSION
      " - PostgreSQL exporter for Prometheus\n\n"
      "Usage: pgwarden [flags]\n\n"
      "The database comes from --dsn_file, --dsn or the environment as\n"
      "postgres_exporter reads it: DATA_SOURCE_NAME, else DATA_SOURCE_URI with\n"
      "DATA_SOURCE_USER and DATA_SOURCE_PASS (each also as *_FILE, which wins).\n"
      "libpq URI or key=value; libpq's environment (PGHOST, PGPASSFILE,\n"
      "PGSERVICE, ...) fills in the rest.\n\nFlags:\n";
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);
  for (const auto& f : flags) {
    if (!IsOurFlag(f)) continue;
    out += "  --" + f.name + " (" + f.type + ", default \"" + f.default_value +
           "\")\n      " + f.description + "\n";
  }
  out += "\nCollectors (for --collectors):\n";
  for (const auto& r : RegisteredCollectors()) {
    out += "  " + r.name + (r.enabled_by_default ? " [default]" : "") + "\n      " +
           r.description + "\n";
  }
  out += "\n  --version\n      Print the version and exit.\n";
  return out;
}

}  // namespace pgwarden
