#pragma once

#include <map>
#include <string>
#include <vector>

#include <gflags/gflags.h>

#include "collectors/collector.h"
#include "collectors/custom.h"
#include "exporter/dsn.h"
#include "exporter/engine.h"
#include "exporter/http_server.h"

DECLARE_string(web_listen_address);
DECLARE_string(web_telemetry_path);
DECLARE_string(dsn);
DECLARE_string(dsn_file);
DECLARE_string(collectors);
DECLARE_string(collector_min_interval);
DECLARE_double(scrape_timeout);
DECLARE_double(scrape_timeout_offset);
DECLARE_int32(statement_timeout_ms);
DECLARE_int32(lock_timeout_ms);
DECLARE_int32(connect_timeout);
DECLARE_string(long_running_thresholds);
DECLARE_int32(blocking_top_roots);
DECLARE_int32(blocking_query_length);
DECLARE_int32(stat_statements_limit);
DECLARE_bool(stat_statements_include_query);
DECLARE_int32(stat_statements_query_length);
DECLARE_bool(legacy_names);
DECLARE_int32(relation_limit);
DECLARE_string(include_databases);
DECLARE_string(exclude_databases);
DECLARE_int32(max_database_connections);
DECLARE_string(extend_query_path);
DECLARE_string(log_level);
DECLARE_bool(print_queries);

namespace pgwarden {

// Everything main() needs, validated.
struct Config {
  std::string dsn_text;  // contains the password: never log it
  Dsn dsn;               // with session settings
  std::vector<std::string> collectors;
  CollectorOptions collector_options;
  HttpOptions http;
  EngineOptions engine;
  std::vector<CustomQuery> custom_queries;  // from --extend_query_path
};

// Checks argv before gflags sees it, so unknown flags and bad values end
// with our one-line reason and exit code 2 instead of gflags' exit 1.
// Returns "" when fine.
std::string CheckArgs(int argc, char** argv);

// Builds the Config from parsed flags, the environment (DsnFromEnvironment)
// and --extend_query_path. Throws std::invalid_argument with a one-line
// reason.
Config LoadConfig();

// The DSN from postgres_exporter's environment variables: DATA_SOURCE_NAME,
// else postgresql://USER:PASS@URI from DATA_SOURCE_URI, DATA_SOURCE_USER and
// DATA_SOURCE_PASS; each variable may instead name a file in its *_FILE
// variant. "" when none is set. Throws std::invalid_argument for an
// unreadable file.
std::string DsnFromEnvironment();

// --help text: every pgwarden flag with its meaning and default.
std::string HelpText();

// "settings=60,stat_statements=30" -> {{"settings", 60}, ...}; throws
// std::invalid_argument for unknown collectors and bad numbers.
std::map<std::string, double> ParseMinIntervals(const std::string& text);

// "60,300" -> {60, 300}; throws std::invalid_argument.
std::vector<double> ParseThresholds(const std::string& text);

}  // namespace pgwarden
