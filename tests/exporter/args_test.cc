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
  EXPECT_THAT(Parse({"--collector.locks"}).error,
              HasSubstr("unknown flag --collector.locks"));
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

TEST(FlagNamedTest, OnlyPgwardensOwnFlags) {
  EXPECT_EQ(FlagNamed("dsn"), "dsn");
  EXPECT_EQ(FlagNamed("dsnx"), "");
  EXPECT_EQ(FlagNamed("flagfile"), "");
  EXPECT_EQ(FlagNamed(""), "");
}

}  // namespace
}  // namespace pgwarden::testing
