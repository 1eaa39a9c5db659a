#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <prometheus/check_names.h>

#include "collectors/collector.h"

namespace pgwarden {
namespace {

using ::testing::ElementsAre;

TEST(RegistryTest, EveryCollectorIsLinkedIn) {
  // A collector whose object file the linker dropped would be missing here.
  std::vector<std::string> names;
  for (const auto& r : RegisteredCollectors()) names.push_back(r.name);
  EXPECT_THAT(names, ElementsAre("activity", "blocking", "locks", "settings",
                                 "stat_statements"));
}

TEST(RegistryTest, NameMatchesTheCollector) {
  for (const auto& r : RegisteredCollectors()) {
    auto c = r.factory(CollectorOptions{});
    EXPECT_EQ(c->Name(), r.name);
    EXPECT_FALSE(r.description.empty());
  }
}

TEST(RegistryTest, ResolvesSpecs) {
  EXPECT_THAT(ResolveCollectors("default"),
              ElementsAre("activity", "blocking", "locks", "settings", "stat_statements"));
  EXPECT_EQ(ResolveCollectors(""), ResolveCollectors("default"));
  EXPECT_THAT(ResolveCollectors("-settings,-stat_statements"),
              ElementsAre("activity", "blocking", "locks"));
  EXPECT_THAT(ResolveCollectors("locks, activity"), ElementsAre("activity", "locks"));
  EXPECT_THAT(ResolveCollectors("locks,+blocking"), ElementsAre("blocking", "locks"));
  EXPECT_THAT(ResolveCollectors("all,-locks"),
              ElementsAre("activity", "blocking", "settings", "stat_statements"));
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
}  // namespace pgwarden
