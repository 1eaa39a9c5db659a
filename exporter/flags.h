#pragma once

#include <gflags/gflags.h>

#include <string>
#include <vector>

// pgwarden's command-line flags. Every flag is defined in flags.cc with
// PGWARDEN_FLAG, which also lists it in FlagNames(): the only flags the
// command line accepts (gflags' own, such as --flagfile, are refused).
DECLARE_string(web_listen_address);
DECLARE_string(web_telemetry_path);
DECLARE_string(web_config_file);
DECLARE_int32(web_max_requests);
DECLARE_int32(web_max_connections);
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
DECLARE_bool(keep_database_connections);
DECLARE_string(sample_interval);
DECLARE_int32(sample_blockers_limit);
DECLARE_int32(sample_queries_limit);
DECLARE_string(remediation_config);
DECLARE_bool(remediation_check);
DECLARE_string(extend_query_path);
DECLARE_int32(custom_query_series_limit);
DECLARE_string(log_level);
DECLARE_string(log_format);
DECLARE_string(config_file);
DECLARE_bool(probe_allow_any_target);
DECLARE_int32(probe_max_targets);
DECLARE_double(probe_idle_timeout);
DECLARE_bool(print_queries);

namespace pgwarden {

// The names of pgwarden's flags, in the order flags.cc defines them.
const std::vector<std::string>& FlagNames();

// --help: every flag with its meaning and default, then every collector.
std::string HelpText();

}  // namespace pgwarden
