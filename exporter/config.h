#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "collectors/custom.h"
#include "exporter/dsn.h"
#include "exporter/http_server.h"
#include "exporter/probe.h"
#include "exporter/remediation_policy.h"
#include "exporter/target.h"

namespace pgwarden {

// Everything main() needs, validated.
struct Config {
  std::string dsn_text;  // contains the password: never log it
  Dsn dsn;               // with session settings
  // Whether a /metrics target is configured: a DSN from the flags or
  // DATA_SOURCE_*, or libpq's PGHOST, PGHOSTADDR or PGSERVICE. Without
  // one pgwarden is a pure /probe exporter.
  bool has_target = true;
  SessionSettings session;  // for probed targets too
  ProbeOptions probe;
  std::vector<std::string> collectors;
  CollectorOptions collector_options;
  HttpOptions http;
  std::string web_config_file;  // --web_config_file, "" for none
  // databases.open is left to the caller, which knows how to connect.
  TargetOptions target;
  std::vector<CustomQuery> custom_queries;  // from --extend_query_path
  // --remediation.config, with its role's connection (dsn_file, with the
  // session settings and application_name "<the scrape's>_remediation").
  std::optional<RemediationPolicy> remediation;
  Dsn remediation_dsn;
};

// Builds the Config from the flags (exporter/flags.h), the environment
// (DsnFromEnvironment) and --extend_query_path. Throws
// std::invalid_argument with a one-line reason.
Config LoadConfig();

// Reads --remediation.config and its dsn_file into c.remediation and
// c.remediation_dsn (c.dsn and c.session set); throws
// std::invalid_argument with a one-line reason. LoadConfig calls it; SIGHUP
// again.
void LoadRemediation(Config& c);

// The DSN from postgres_exporter's environment variables: DATA_SOURCE_NAME,
// else postgresql://USER:PASS@URI from DATA_SOURCE_URI, DATA_SOURCE_USER and
// DATA_SOURCE_PASS; each variable may instead name a file in its *_FILE
// variant. "" when none is set. Throws std::invalid_argument for an
// unreadable file.
std::string DsnFromEnvironment();

// "settings=60,stat_statements=30" -> {{"settings", 60}, ...}; throws
// std::invalid_argument for unknown collectors and bad numbers.
std::map<std::string, double> ParseMinIntervals(const std::string& text);

// "60,300" -> {60, 300}; throws std::invalid_argument.
std::vector<double> ParseThresholds(const std::string& text);

}  // namespace pgwarden
