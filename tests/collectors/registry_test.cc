#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/check_names.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "collectors/collector.h"

namespace pgwarden::testing {
namespace {

using ::testing::ElementsAre;

// The collectors registered by the source files, read from the files.
std::vector<std::string> CollectorsInSources() {
  std::vector<std::string> names;
  const std::regex registration(R"(PGWARDEN_REGISTER_COLLECTOR\(\s*(\w+),)");
  for (const auto& entry : std::filesystem::directory_iterator(
           std::string(PGWARDEN_SOURCE_DIR) + "/collectors")) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    for (std::sregex_iterator it(source.begin(), source.end(), registration),
         end;
         it != end; ++it) {
      if (entry.path().extension() == ".cc") names.push_back((*it)[1]);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(RegistryTest, EveryCollectorIsLinkedIn) {
  // A collector whose object file the linker dropped would be missing here.
  std::vector<std::string> names;
  for (const auto& r : RegisteredCollectors()) names.push_back(r.name);
  const std::vector<std::string> in_sources = CollectorsInSources();
  EXPECT_GE(in_sources.size(), 26u);
  EXPECT_EQ(names, in_sources);
}

TEST(RegistryTest, FileNameIsTheCollectorName) {
  for (const auto& r : RegisteredCollectors()) {
    EXPECT_TRUE(std::filesystem::exists(std::string(PGWARDEN_SOURCE_DIR) +
                                        "/collectors/" + r.name + ".cc"))
        << r.name;
  }
}

TEST(RegistryTest, SlowCollectorsHaveAMinimumInterval) {
  for (const auto& r : RegisteredCollectors()) {
    auto c = r.factory(CollectorOptions{});
    // Per-database collectors visit every database: never every scrape.
    if (c->PerDatabase()) {
      EXPECT_GE(r.defaults.min_interval_seconds, 60) << r.name;
    }
  }
}

TEST(RegistryTest, HighCardinalityIndexCollectorsAreOptIn) {
  const auto defaults = ResolveCollectors("default");
  for (const auto& r : RegisteredCollectors()) {
    EXPECT_EQ(std::count(defaults.begin(), defaults.end(), r.name),
              r.defaults.enabled ? 1 : 0)
        << r.name;
  }
  const auto all = ResolveCollectors("all");
  EXPECT_EQ(all.size(), defaults.size() + 2);
  EXPECT_THAT(ResolveCollectors("all,-stat_user_indexes,-statio_user_indexes"),
              ::testing::ContainerEq(defaults));
}

// Every collector's SQL on every supported major: no placeholder left
// unfilled, no trailing semicolon (it is prepared as one statement).
TEST(RegistryTest, QueriesAreCompleteOnEveryMajor) {
  for (const auto& r : RegisteredCollectors()) {
    auto c = r.factory(CollectorOptions{});
    for (int version :
         {120000, 130000, 140000, 150000, 160000, 170000, 180000}) {
      ServerInfo server;
      server.version_num = version;
      server.pgss_available = true;
      server.pgss_schema = "public";
      server.pgss_version_num = 11100;
      const std::string sql = c->Query(server);
      EXPECT_FALSE(std::regex_search(sql, std::regex("%[A-Z0-9_]+%")))
          << r.name << " " << version << ": " << sql;
      if (!sql.empty()) {
        EXPECT_NE(sql.back(), ';') << r.name;
      }
    }
  }
}

TEST(RegistryTest, PerDatabaseCollectorsReturnDatname) {
  std::vector<std::string> per_database;
  for (const auto& r : RegisteredCollectors()) {
    auto c = r.factory(CollectorOptions{});
    if (!c->PerDatabase()) continue;
    per_database.push_back(r.name);
    ServerInfo server;
    server.version_num = 150000;
    EXPECT_THAT(c->Query(server),
                ::testing::HasSubstr("current_database()::text AS datname"))
        << r.name;
  }
  EXPECT_THAT(per_database,
              ElementsAre("indexes", "partitions", "stat_user_indexes",
                          "stat_user_tables", "statio_user_indexes",
                          "statio_user_tables"));
}

TEST(RegistryTest, NameMatchesTheCollector) {
  for (const auto& r : RegisteredCollectors()) {
    auto c = r.factory(CollectorOptions{});
    EXPECT_EQ(c->Name(), r.name);
    EXPECT_FALSE(r.description.empty());
  }
}

TEST(RegistryTest, ResolvesSpecs) {
  EXPECT_EQ(ResolveCollectors(""), ResolveCollectors("default"));
  EXPECT_THAT(ResolveCollectors(
                  "activity,blocking,locks,settings,stat_statements,-settings"),
              ElementsAre("activity", "blocking", "locks", "stat_statements"));
  EXPECT_THAT(ResolveCollectors("locks, activity"),
              ElementsAre("activity", "locks"));
  EXPECT_THAT(ResolveCollectors("locks,+blocking"),
              ElementsAre("blocking", "locks"));
  const auto all_but_locks = ResolveCollectors("all,-locks");
  EXPECT_EQ(std::count(all_but_locks.begin(), all_but_locks.end(), "locks"), 0);
  EXPECT_EQ(all_but_locks.size() + 1, ResolveCollectors("all").size());
}

TEST(RegistryTest, UnknownNameIsAnError) {
  try {
    ResolveCollectors("default,-lockz");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("unknown collector \"lockz\""));
  }
  EXPECT_THROW(ResolveCollectors("+nope"), std::invalid_argument);
}

}  // namespace
}  // namespace pgwarden::testing
