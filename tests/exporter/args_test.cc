#include "exporter/args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exporter/flags.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

Args Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "pgwarden");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseArgs(static_cast<int>(argv.size()), argv.data());
}

TEST(ParseArgsTest, SetsFlagsInEverySpelling) {
  gflags::FlagSaver saver;
  const Args a =
      Parse({"--web_listen_address=:1234", "--collectors", "locks",
             "--stat_statements_include_query", "-scrape_timeout=2.5",
             "--nolegacy_names", "--relation_limit", "7", "--"});
  EXPECT_EQ(a.action, Args::Action::kRun);
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(FLAGS_web_listen_address, ":1234");
  EXPECT_EQ(FLAGS_collectors, "locks");
  EXPECT_TRUE(FLAGS_stat_statements_include_query);
  EXPECT_EQ(FLAGS_scrape_timeout, 2.5);
  EXPECT_FALSE(FLAGS_legacy_names);
  EXPECT_EQ(FLAGS_relation_limit, 7);
}

TEST(ParseArgsTest, RejectsUnknownFlagsBadValuesAndPositionals) {
  gflags::FlagSaver saver;
  EXPECT_THAT(Parse({"--collector.nope"}).error,
              HasSubstr("--collector.nope: pgwarden has no such collector"));
  EXPECT_THAT(
      Parse({"--scrape_timeout=soon"}).error,
      HasSubstr("invalid value \"soon\" for --scrape_timeout (a double)"));
  EXPECT_THAT(Parse({"--stat_statements_limit"}).error,
              HasSubstr("needs a value"));
  EXPECT_THAT(Parse({"--noweb_listen_address"}).error,
              HasSubstr("unknown flag"));
  EXPECT_THAT(Parse({"positional"}).error, HasSubstr("unexpected argument"));
  EXPECT_THAT(Parse({"--", "positional"}).error,
              HasSubstr("unexpected argument \"positional\""));
  // gflags' own flags are not pgwarden's.
  EXPECT_THAT(Parse({"--fromenv=x"}).error, HasSubstr("unknown flag"));
  EXPECT_THAT(Parse({"--flagfile=/etc/passwd"}).error,
              HasSubstr("unknown flag"));
  // The first error is the one reported.
  EXPECT_THAT(Parse({"--bogus", "--scrape_timeout=soon"}).error,
              HasSubstr("--bogus"));
}

TEST(ParseArgsTest, HelpAndVersionWin) {
  gflags::FlagSaver saver;
  EXPECT_EQ(Parse({"--bogus", "--help"}).action, Args::Action::kHelp);
  EXPECT_EQ(Parse({"-h"}).action, Args::Action::kHelp);
  const Args v = Parse({"--version", "--bogus"});
  EXPECT_EQ(v.action, Args::Action::kVersion);
  EXPECT_EQ(v.error, "");
}

TEST(ParseArgsTest, PostgresExporterSpellings) {
  gflags::FlagSaver saver;
  const Args a =
      Parse({"--web.listen-address=:1", "--web.listen-address", "127.0.0.1:2",
             "--web.telemetry-path=/m", "--extend.query-path=/q.yaml",
             "--exclude-databases", "a,b", "--log.level=warn",
             "--log.format=json", "--collector.stat_statements.limit=7",
             "--collector.stat_statements.include_query",
             "--collection-timeout=1m30s", "--auto-discover-databases",
             "--web.max-requests=3", "--config.file=/etc/pe.yml"});
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(FLAGS_web_listen_address, ":1,127.0.0.1:2");  // repeatable
  EXPECT_EQ(FLAGS_web_telemetry_path, "/m");
  EXPECT_EQ(FLAGS_extend_query_path, "/q.yaml");
  EXPECT_EQ(FLAGS_exclude_databases, "a,b");
  EXPECT_EQ(FLAGS_log_level, "warn");
  EXPECT_EQ(FLAGS_log_format, "json");
  EXPECT_EQ(FLAGS_stat_statements_limit, 7);
  EXPECT_TRUE(FLAGS_stat_statements_include_query);
  EXPECT_EQ(FLAGS_scrape_timeout, 90);
  EXPECT_EQ(FLAGS_web_max_requests, 3);
  EXPECT_EQ(FLAGS_config_file, "/etc/pe.yml");
}

TEST(ParseArgsTest, PostgresExporterCollectorSwitches) {
  gflags::FlagSaver saver;
  EXPECT_EQ(Parse({"--collector.stat_statements", "--no-collector.wal",
                   "--collector.stat_activity=false",
                   "--disable-settings-metrics", "--no-collector.process_idle"})
                .error,
            "");
  EXPECT_EQ(FLAGS_collectors,
            "default,+stat_statements,-wal,-activity,-settings");
  // Order-independent, as kingpin's: the base comes first.
  EXPECT_EQ(Parse({"--collector.locks", "--disable-default-metrics"}).error,
            "");
  EXPECT_EQ(FLAGS_collectors, "none,+locks");
  EXPECT_EQ(Parse({"--collectors=locks", "--collector.wal"}).error, "");
  EXPECT_EQ(FLAGS_collectors, "locks,+wal");
  EXPECT_THAT(Parse({"--collector.wal=maybe"}).error,
              HasSubstr("(true or false)"));
}

TEST(ParseArgsTest, RefusedPostgresExporterFlagsSayWhatToUse) {
  gflags::FlagSaver saver;
  EXPECT_THAT(Parse({"--constantLabels=a=b"}).error,
              HasSubstr("relabel_configs"));
  EXPECT_THAT(Parse({"--metric-prefix", "x"}).error,
              HasSubstr("--metric-prefix is not supported"));
  EXPECT_EQ(Parse({"--metric-prefix", "pg"}).error, "");
  EXPECT_THAT(Parse({"--dumpmaps"}).error, HasSubstr("--print_queries"));
  EXPECT_THAT(Parse({"--collection-timeout=soon"}).error,
              HasSubstr("invalid duration"));
}

TEST(ParseArgsTest, PostgresExporterEnvironmentThenFlags) {
  gflags::FlagSaver saver;
  setenv("PG_EXPORTER_WEB_TELEMETRY_PATH", "/from-env", 1);
  setenv("PG_EXPORTER_DISABLE_DEFAULT_METRICS", "true", 1);
  EXPECT_EQ(Parse({"--collector.locks"}).error, "");
  EXPECT_EQ(FLAGS_web_telemetry_path, "/from-env");
  EXPECT_EQ(FLAGS_collectors, "none,+locks");
  EXPECT_EQ(Parse({"--web.telemetry-path=/flag"}).error, "");
  EXPECT_EQ(FLAGS_web_telemetry_path, "/flag");
  setenv("PG_EXPORTER_CONSTANT_LABELS", "a=b", 1);
  EXPECT_THAT(Parse({}).error, HasSubstr("environment: --constantLabels"));
  unsetenv("PG_EXPORTER_WEB_TELEMETRY_PATH");
  unsetenv("PG_EXPORTER_DISABLE_DEFAULT_METRICS");
  unsetenv("PG_EXPORTER_CONSTANT_LABELS");
}

TEST(FlagNamedTest, PgwardensFlagsInEitherSpelling) {
  EXPECT_EQ(FlagNamed("web.listen-address"), "web_listen_address");
  EXPECT_EQ(FlagNamed("collector.stat_statements.limit"),
            "stat_statements_limit");
  EXPECT_EQ(FlagNamed("dsn"), "dsn");
  EXPECT_EQ(FlagNamed("dsnx"), "");
  EXPECT_EQ(FlagNamed("flagfile"), "");
  EXPECT_EQ(FlagNamed(""), "");
}

}  // namespace
}  // namespace pgwarden::testing
