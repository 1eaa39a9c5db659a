// pgwarden's flags: their definitions and the --help text. Reading argv is
// exporter/args.cc's job, turning flags into a Config exporter/config.cc's.

#include "exporter/flags.h"

#include "collectors/collector.h"
#include "exporter/compat_flags.h"

namespace pgwarden {
namespace {

std::vector<std::string>& MutableFlagNames() {
  static auto* names = new std::vector<std::string>();
  return *names;
}

bool RegisterFlagName(const char* name) {
  MutableFlagNames().emplace_back(name);
  return true;
}

}  // namespace
}  // namespace pgwarden

// DEFINE_<type>(name, default, help) that also lists the flag in
// FlagNames().
#define PGWARDEN_FLAG(type, name, value, help) \
  DEFINE_##type(name, value, help);            \
  static const bool pgwarden_flag_##name = ::pgwarden::RegisterFlagName(#name)

PGWARDEN_FLAG(string, web_listen_address, ":9187",
              "Address to listen on, [host]:port (port 0 picks a free port; "
              "\":port\" is every IPv4 address). Repeat the flag, or give a "
              "comma list, for several.");
PGWARDEN_FLAG(string, web_config_file, "",
              "exporter-toolkit web configuration file (YAML): TLS, basic "
              "authentication, headers, rate limit. Re-read when it or its "
              "certificates change; see README.");
PGWARDEN_FLAG(int32, web_max_requests, 40,
              "Most scrapes served at once; more get 503 (0: no limit). "
              "Concurrent scrapes share one collection.");
PGWARDEN_FLAG(int32, web_max_connections, 512,
              "Most HTTP connections served at once, idle ones included (one "
              "thread and about 24 KiB each); a connection must send its "
              "request within 5 s.");
PGWARDEN_FLAG(string, web_telemetry_path, "/metrics",
              "Path under which to expose metrics.");
PGWARDEN_FLAG(
    string, dsn, "",
    "PostgreSQL connection string (URI or key=value). Overrides "
    "DATA_SOURCE_NAME. Prefer PGPASSFILE or --dsn_file for passwords: "
    "command lines are visible to other users.");
PGWARDEN_FLAG(string, dsn_file, "",
              "Read the connection string from this file (first line). "
              "Overrides --dsn and DATA_SOURCE_NAME.");
PGWARDEN_FLAG(string, collectors, "default",
              "Collectors to run: comma list of names, 'default', 'all', "
              "'+name' to add, '-name' to remove (e.g. 'default,-settings').");
PGWARDEN_FLAG(double, scrape_timeout, 10,
              "Longest a scrape may take, in seconds, when Prometheus sends no "
              "X-Prometheus-Scrape-Timeout-Seconds header; the header (minus "
              "--scrape_timeout_offset) can only shorten it.");
PGWARDEN_FLAG(
    double, scrape_timeout_offset, 0.5,
    "Seconds subtracted from Prometheus' scrape timeout header, so the "
    "answer arrives in time.");
PGWARDEN_FLAG(int32, statement_timeout_ms, 5000,
              "statement_timeout of the exporter's session, in milliseconds.");
PGWARDEN_FLAG(int32, lock_timeout_ms, 1000,
              "lock_timeout of the exporter's session, in milliseconds: a "
              "catalog lock held by someone else fails one collector quickly "
              "instead of queueing the scrape behind it.");
PGWARDEN_FLAG(int32, connect_timeout, 5,
              "Longest wait for a new database connection, in seconds (at "
              "least 2); never past the scrape's deadline.");
PGWARDEN_FLAG(string, collector_min_interval, "",
              "Minimum seconds between a collector's queries, as name=seconds "
              "pairs (e.g. 'settings=60,stat_statements=30'); in between, its "
              "last result is served and pgwarden_collector_result_age_seconds "
              "shows its age. Each collector's default is listed below "
              "(name=0 runs it every scrape).");
PGWARDEN_FLAG(string, long_running_thresholds, "60,300,900,3600",
              "activity: thresholds in seconds for pg_long_running_queries.");
PGWARDEN_FLAG(int32, blocking_top_roots, 5,
              "blocking: root blockers reported with their pid in "
              "pg_blocking_session_info.");
PGWARDEN_FLAG(int32, blocking_query_length, 0,
              "blocking: characters of each root blocker's current or last "
              "statement in pg_blocking_session_info's query label (0: no "
              "query label; query text may contain data).");
PGWARDEN_FLAG(int32, stat_statements_limit, 100,
              "stat_statements: statements reported by queryid (top by total "
              "execution time); the rest are summed into queryid=\"other\".");
PGWARDEN_FLAG(bool, stat_statements_include_query, false,
              "stat_statements: also emit pg_stat_statements_query_id{queryid,"
              "query} with the (truncated) query text.");
PGWARDEN_FLAG(int32, stat_statements_query_length, 120,
              "stat_statements: longest query text emitted, in characters.");
PGWARDEN_FLAG(bool, legacy_names, false,
              "Also emit the metric names older dashboards and rules query: "
              "pg_stat_bgwriter_* without _total (Grafana dashboard 9628), "
              "pg_replication_lag (postgres_mixin).");
PGWARDEN_FLAG(int32, relation_limit, 100,
              "Per-table and per-index collectors: at most this many relations "
              "per database, the largest first.");
PGWARDEN_FLAG(string, include_databases, "",
              "Per-database collectors: comma list of the only databases to "
              "visit (default: every database that allows connections).");
PGWARDEN_FLAG(string, exclude_databases, "",
              "Per-database collectors: comma list of databases to skip.");
PGWARDEN_FLAG(int32, max_database_connections, 5,
              "Most connections pgwarden holds to the server, the main one "
              "and the sampler's included; the rest visit the databases for "
              "the per-database collectors, in the background (1 or 2 with "
              "the sampler: the connected database only, on the main one).");
PGWARDEN_FLAG(bool, keep_database_connections, false,
              "Per-database collectors: keep each database's connection open "
              "between visits (fewer connections in the server log) instead "
              "of closing it after each visit (never blocks DROP DATABASE).");
PGWARDEN_FLAG(string, sample_interval, "1s",
              "Activity sampler: time between samples of pg_stat_activity on "
              "its own connection (one more per target), e.g. '1s', '500ms' "
              "(0: off). Feeds pg_wait_event_seconds_total and friends.");
PGWARDEN_FLAG(int32, sample_blockers_limit, 20,
              "Activity sampler: root blockers' (datname, role, application) "
              "in pg_blocking_seconds_total by name; the rest as \"other\".");
PGWARDEN_FLAG(int32, sample_queries_limit, 50,
              "Activity sampler: query ids in pg_query_active_seconds_total "
              "by id; the rest as queryid=\"other\".");
PGWARDEN_FLAG(string, remediation_config, "",
              "Remediation policy (YAML, see README): cancel or terminate root "
              "blockers its rules match, every --sample_interval, on the "
              "connection of a pg_signal_backend role; dry_run unless it says "
              "enforce. Without it pgwarden never signals a session. SIGHUP "
              "re-reads it.");
PGWARDEN_FLAG(bool, remediation_check, false,
              "With --remediation.config: check the policy, connect, print "
              "what each rule matches right now (acting on nothing) and exit.");
PGWARDEN_FLAG(string, extend_query_path, "",
              "postgres_exporter queries.yaml file of custom queries (see "
              "README); a broken file stops start-up.");
PGWARDEN_FLAG(int32, custom_query_series_limit, 0,
              "Most series one custom query may emit; a query beyond fails "
              "alone, with the count in its error (0: no limit).");
PGWARDEN_FLAG(string, log_level, "info",
              "Log level: debug, info, warn or error.");
PGWARDEN_FLAG(string, log_format, "logfmt", "Log format: logfmt or json.");
PGWARDEN_FLAG(string, config_file, "",
              "postgres_exporter's /probe configuration (auth_modules, and "
              "pgwarden's allowed_targets): checked at start (a missing file "
              "is a warning), re-read on SIGHUP keeping the last good one.");
PGWARDEN_FLAG(bool, probe_allow_any_target, false,
              "/probe: connect to any target a client names, as "
              "postgres_exporter does, instead of only those --config.file's "
              "allowed_targets allows (logged as a warning).");
PGWARDEN_FLAG(int32, probe_max_targets, 1000,
              "/probe: most targets held at once, each with its connection "
              "and state; beyond, the least recently probed is closed.");
PGWARDEN_FLAG(double, probe_idle_timeout, 300,
              "/probe: seconds after which a target nobody probes is closed "
              "(with its connection).");
PGWARDEN_FLAG(bool, print_queries, false,
              "Connect, print the SQL each enabled collector would run against "
              "this server (one statement per collector, ';'-terminated), then "
              "the activity sampler's, and exit: for audits and for timing "
              "the queries by hand.");

namespace pgwarden {

const std::vector<std::string>& FlagNames() { return MutableFlagNames(); }

std::string HelpText() {
  std::string out =
      "pgwarden " PGWARDEN_VERSION
      " - PostgreSQL exporter for Prometheus\n\n"
      "Usage: pgwarden [flags]\n\n"
      "The database comes from --dsn_file, --dsn or the environment as\n"
      "postgres_exporter reads it: DATA_SOURCE_NAME, else DATA_SOURCE_URI\n"
      "with DATA_SOURCE_USER and DATA_SOURCE_PASS (each also as *_FILE,\n"
      "which wins). libpq URI or key=value; libpq's environment (PGHOST,\n"
      "PGPASSFILE, PGSERVICE, ...) fills in the rest.\n\nFlags:\n";
  for (const std::string& name : FlagNames()) {
    gflags::CommandLineFlagInfo f;
    gflags::GetCommandLineFlagInfo(name.c_str(), &f);
    const std::string theirs = PostgresExporterSpelling(f.name);
    out += "  --" + f.name + (theirs.empty() ? "" : ", --" + theirs) + " (" +
           f.type + ", default \"" + f.default_value + "\")\n      " +
           f.description + "\n";
  }
  out +=
      "\npostgres_exporter's flags are accepted too: --collector.NAME and "
      "--no-collector.NAME\n(add or remove a collector), "
      "--disable-default-metrics (no collectors but those\nenabled by name), "
      "--disable-settings-metrics, --collection-timeout=DURATION\n(as "
      "--scrape_timeout), --auto-discover-databases (always on), and the "
      "spellings\nlisted above. The rest are refused with what to use "
      "instead.\n";
  out += "\nCollectors (for --collectors, --collector.NAME):\n";
  for (const auto& r : RegisteredCollectors()) {
    out += "  " + r.name + (r.defaults.enabled ? " [default]" : "") +
           "\n      " + r.description;
    if (r.defaults.min_interval_seconds > 0) {
      out += " (queried at most every " +
             std::to_string(static_cast<int>(r.defaults.min_interval_seconds)) +
             " s)";
    }
    out += "\n";
  }
  out += "\n  --version\n      Print the version and exit.\n";
  return out;
}

}  // namespace pgwarden
