#include "exporter/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "exporter/flags.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

TEST(ParseThresholdsTest, ParsesAndRejects) {
  EXPECT_EQ(ParseThresholds("60, 300,0.5"),
            (std::vector<double>{60, 300, 0.5}));
  EXPECT_TRUE(ParseThresholds("").empty());
  EXPECT_THROW(ParseThresholds("60,abc"), std::invalid_argument);
  EXPECT_THROW(ParseThresholds("-1"), std::invalid_argument);
}

TEST(ParseMinIntervalsTest, ParsesAndRejects) {
  const auto m = ParseMinIntervals("settings=60, stat_statements = 2.5");
  EXPECT_EQ(m.at("settings"), 60);
  EXPECT_EQ(m.at("stat_statements"), 2.5);
  EXPECT_TRUE(ParseMinIntervals("").empty());
  EXPECT_THROW(ParseMinIntervals("settingz=60"), std::invalid_argument);
  EXPECT_THROW(ParseMinIntervals("settings"), std::invalid_argument);
  EXPECT_THROW(ParseMinIntervals("settings=-1"), std::invalid_argument);
  EXPECT_THROW(ParseMinIntervals("settings=soon"), std::invalid_argument);
}

TEST(LoadConfigTest, RejectsUnknownCollectorAndUnreadableDsnFile) {
  gflags::FlagSaver saver;
  FLAGS_collectors = "default,-nope";
  EXPECT_THROW(LoadConfig(), std::invalid_argument);
  FLAGS_collectors = "default";
  FLAGS_dsn_file = "/nonexistent/dsn";
  try {
    LoadConfig();
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot read --dsn_file"));
  }
}

TEST(LoadConfigTest, BuildsSessionDsnWithoutLeakingThePassword) {
  gflags::FlagSaver saver;
  FLAGS_dsn = "postgresql://mon:hunter2@127.0.0.1:6000/app";
  FLAGS_statement_timeout_ms = 2500;
  const Config c = LoadConfig();
  EXPECT_EQ(c.dsn.Get("password"), "hunter2");
  EXPECT_THAT(c.dsn.Get("options"), HasSubstr("statement_timeout=2500"));
  EXPECT_THAT(c.dsn.Redacted(), ::testing::Not(HasSubstr("hunter2")));
  EXPECT_EQ(c.collectors, ResolveCollectors("default"));
  // Per-table collectors visit every database: once a minute by default.
  EXPECT_EQ(c.target.min_interval_seconds.at("stat_user_tables"), 60);
  EXPECT_EQ(c.target.min_interval_seconds.count("activity"), 0u);
}

TEST(LoadConfigTest, MinIntervalFlagOverridesDefaults) {
  gflags::FlagSaver saver;
  FLAGS_dsn = "host=h";
  FLAGS_collector_min_interval = "stat_user_tables=0,settings=30";
  const Config c = LoadConfig();
  EXPECT_EQ(c.target.min_interval_seconds.at("stat_user_tables"), 0);
  EXPECT_EQ(c.target.min_interval_seconds.at("settings"), 30);
  EXPECT_EQ(c.target.min_interval_seconds.at("indexes"), 300);
}

TEST(LoadConfigTest, DatabaseListsAndLimits) {
  gflags::FlagSaver saver;
  FLAGS_dsn = "host=h";
  FLAGS_include_databases = "app, billing";
  FLAGS_exclude_databases = "scratch";
  FLAGS_max_database_connections = 3;
  FLAGS_relation_limit = 20;
  const Config c = LoadConfig();
  EXPECT_EQ(c.target.databases.include,
            (std::vector<std::string>{"app", "billing"}));
  EXPECT_EQ(c.target.databases.exclude, (std::vector<std::string>{"scratch"}));
  // The activity sampler's connection counts toward the limit.
  EXPECT_EQ(c.target.databases.max_connections, 2);
  EXPECT_EQ(c.collector_options.relation_limit, 20);
  // Visits close their connections unless told, and give up as a scrape.
  EXPECT_FALSE(c.target.databases.keep_connections);
  EXPECT_EQ(c.target.databases.visit_timeout, std::chrono::seconds(10));
  FLAGS_keep_database_connections = true;
  FLAGS_scrape_timeout = 4.5;
  EXPECT_TRUE(LoadConfig().target.databases.keep_connections);
  EXPECT_EQ(LoadConfig().target.databases.visit_timeout,
            std::chrono::milliseconds(4500));
  FLAGS_max_database_connections = 0;
  EXPECT_THROW(LoadConfig(), std::invalid_argument);
  FLAGS_max_database_connections = 3;
  FLAGS_relation_limit = 0;
  EXPECT_THROW(LoadConfig(), std::invalid_argument);
}

TEST(LoadConfigTest, SampleInterval) {
  gflags::FlagSaver saver;
  FLAGS_dsn = "host=h";
  const auto interval = [] {
    return std::chrono::duration<double>(LoadConfig().target.sampler.interval)
        .count();
  };
  EXPECT_EQ(interval(), 1);  // the default, "1s"
  for (const auto& [text, seconds] :
       std::vector<std::pair<std::string, double>>{
           {"500ms", 0.5}, {"2", 2}, {"2.5s", 2.5}, {"0", 0}, {" 60s ", 60}}) {
    FLAGS_sample_interval = text;
    EXPECT_DOUBLE_EQ(interval(), seconds) << text;
  }
  for (const char* bad :
       {"", "s", "ms", "-1s", "50ms", "61s", "1m", "fast", "nan", "1e400"}) {
    FLAGS_sample_interval = bad;
    EXPECT_THROW(LoadConfig(), std::invalid_argument) << bad;
  }
  // One connection in all leaves none for the sampler, unless it is off.
  FLAGS_sample_interval = "1s";
  FLAGS_max_database_connections = 1;
  EXPECT_THROW(LoadConfig(), std::invalid_argument);
  FLAGS_sample_interval = "0";
  EXPECT_EQ(LoadConfig().target.databases.max_connections, 1);
  FLAGS_sample_blockers_limit = -1;
  EXPECT_THROW(LoadConfig(), std::invalid_argument);
}

// Sets environment variables for one test and restores them after.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<std::string, std::string>> vars) {
    for (const char* name :
         {"DATA_SOURCE_NAME", "DATA_SOURCE_URI", "DATA_SOURCE_USER",
          "DATA_SOURCE_PASS", "DATA_SOURCE_NAME_FILE", "DATA_SOURCE_URI_FILE",
          "DATA_SOURCE_USER_FILE", "DATA_SOURCE_PASS_FILE"}) {
      if (const char* v = std::getenv(name)) saved_.emplace_back(name, v);
      unsetenv(name);
      cleared_.push_back(name);
    }
    for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& name : cleared_) unsetenv(name.c_str());
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }

 private:
  std::vector<std::pair<std::string, std::string>> saved_;
  std::vector<std::string> cleared_;
};

TEST(DsnFromEnvironmentTest, PostgresExporterVariables) {
  {
    ScopedEnv env({{"DATA_SOURCE_NAME", "host=a dbname=x"},
                   {"DATA_SOURCE_URI", "b:5432/y"}});
    EXPECT_EQ(DsnFromEnvironment(), "host=a dbname=x");  // NAME wins
  }
  {
    ScopedEnv env({{"DATA_SOURCE_URI", "db.example:5433/app?sslmode=disable"},
                   {"DATA_SOURCE_USER", "mon"},
                   {"DATA_SOURCE_PASS", "p@ss:w/rd"}});
    EXPECT_EQ(
        DsnFromEnvironment(),
        "postgresql://mon:p%40ss%3Aw%2Frd@db.example:5433/app?sslmode=disable");
    const Dsn dsn = Dsn::Parse(DsnFromEnvironment());
    EXPECT_EQ(dsn.Get("password"), "p@ss:w/rd");
    EXPECT_EQ(dsn.Get("port"), "5433");
  }
  {
    char path[] = "/tmp/pgwarden_pass_XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "from-file\n", 10), 10);
    close(fd);
    ScopedEnv env({{"DATA_SOURCE_URI", "h/app"},
                   {"DATA_SOURCE_USER", "mon"},
                   {"DATA_SOURCE_PASS", "ignored"},
                   {"DATA_SOURCE_PASS_FILE", path}});
    EXPECT_EQ(DsnFromEnvironment(), "postgresql://mon:from-file@h/app");
    unlink(path);
  }
  {
    ScopedEnv env({{"DATA_SOURCE_URI", "h/app"},
                   {"DATA_SOURCE_PASS_FILE", "/nonexistent"}});
    EXPECT_THROW(DsnFromEnvironment(), std::invalid_argument);
  }
  {
    ScopedEnv env({});
    EXPECT_EQ(DsnFromEnvironment(), "");
  }
}

}  // namespace
}  // namespace pgwarden::testing
