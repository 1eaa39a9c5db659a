#include "exporter/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgwarden {
namespace {

using ::testing::HasSubstr;

std::string Check(std::vector<std::string> args) {
  args.insert(args.begin(), "pgwarden");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return CheckArgs(static_cast<int>(argv.size()), argv.data());
}

TEST(CheckArgsTest, AcceptsValidFlags) {
  EXPECT_EQ(Check({"--web_listen_address=:1234", "--collectors", "default",
                   "--stat_statements_include_query", "--nostat_statements_include_query",
                   "-scrape_timeout=2.5"}),
            "");
  EXPECT_EQ(FLAGS_scrape_timeout, 10) << "checking must not change flags";
}

TEST(CheckArgsTest, RejectsUnknownFlagsAndBadValues) {
  EXPECT_THAT(Check({"--collector.locks"}), HasSubstr("unknown flag --collector.locks"));
  EXPECT_THAT(Check({"--scrape_timeout=soon"}),
              HasSubstr("invalid value \"soon\" for --scrape_timeout"));
  EXPECT_THAT(Check({"--stat_statements_limit"}), HasSubstr("needs a value"));
  EXPECT_THAT(Check({"--noweb_listen_address"}), HasSubstr("unknown flag"));
  EXPECT_THAT(Check({"positional"}), HasSubstr("unexpected argument"));
  EXPECT_THAT(Check({"--fromenv=x"}), HasSubstr("unknown flag"));
}

TEST(ParseThresholdsTest, ParsesAndRejects) {
  EXPECT_EQ(ParseThresholds("60, 300,0.5"), (std::vector<double>{60, 300, 0.5}));
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
  EXPECT_EQ(c.collectors.size(), 5u);
}

TEST(HelpTextTest, ListsEveryFlagAndCollector) {
  const std::string help = HelpText();
  for (const char* flag : {"--web_listen_address", "--web_telemetry_path", "--dsn",
                           "--collectors", "--scrape_timeout", "--lock_timeout_ms",
                           "--stat_statements_limit"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
  EXPECT_THAT(help, HasSubstr("blocking [default]"));
}

}  // namespace
}  // namespace pgwarden
