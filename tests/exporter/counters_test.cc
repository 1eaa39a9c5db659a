#include "exporter/counters.h"

#include <gtest/gtest.h>

#include <string>

namespace pgwarden::testing {
namespace {

using Tracker = DeltaTracker<std::string, 2>;
using Sums = Accumulators<std::string, 2>;
using Time = std::chrono::steady_clock::time_point;

const Time kT0 = std::chrono::steady_clock::now();
Time At(int seconds) { return kT0 + std::chrono::seconds(seconds); }

TEST(DeltaTrackerTest, IncreasesSinceTheLastObservation) {
  Tracker t;
  auto d = t.Observe("a", {10, 1.5}, At(0));
  EXPECT_TRUE(d.first_seen);
  EXPECT_EQ(d.values, (Tracker::Values{10, 1.5}));  // all of it is new
  d = t.Observe("a", {15, 2}, At(1));
  EXPECT_FALSE(d.first_seen);
  EXPECT_FALSE(d.restarted);
  EXPECT_EQ(d.values, (Tracker::Values{5, 0.5}));
  d = t.Observe("a", {15, 2}, At(2));
  EXPECT_EQ(d.values, (Tracker::Values{0, 0}));
}

TEST(DeltaTrackerTest, AnyFieldGoingDownIsARestartAndNeverNegative) {
  Tracker t;
  t.Observe("a", {100, 9}, At(0));
  auto d = t.Observe("a", {3, 12}, At(1));  // evicted, created again
  EXPECT_TRUE(d.restarted);
  EXPECT_EQ(d.values, (Tracker::Values{3, 12}));
  d = t.Observe("a", {4, 13}, At(2));
  EXPECT_FALSE(d.restarted);
  EXPECT_EQ(d.values, (Tracker::Values{1, 1}));
}

TEST(DeltaTrackerTest, ANewGenerationIsARestartEvenWhenValuesGrew) {
  Tracker t;
  t.Observe("a", {5, 1}, At(0), 1000);
  // Reset at 2000, then busier than before by the next read.
  auto d = t.Observe("a", {8, 2}, At(1), 2000);
  EXPECT_TRUE(d.restarted);
  EXPECT_EQ(d.values, (Tracker::Values{8, 2}));
}

TEST(DeltaTrackerTest, ForgetsWhatItHasNotSeen) {
  Tracker t;
  t.Observe("old", {1, 1}, At(0));
  t.Observe("new", {1, 1}, At(10));
  EXPECT_EQ(t.ForgetUnseenSince(At(5)), 1u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.Observe("old", {2, 2}, At(11)).first_seen);
}

TEST(AccumulatorsTest, OnlyGrowAndForgetUnusedKeys) {
  Sums s;
  EXPECT_EQ(s.Find("a"), nullptr);
  s.Add("a", {1, 2}, At(0));
  s.Add("a", {3, -5}, At(1));  // a negative increase adds nothing
  ASSERT_NE(s.Find("a"), nullptr);
  EXPECT_EQ(*s.Find("a"), (Sums::Values{4, 2}));
  s.Add("b", {0, 0}, At(9));
  EXPECT_EQ(s.ForgetUnusedSince(At(5)), 1u);
  EXPECT_EQ(s.Find("a"), nullptr);
  int seen = 0;
  s.ForEach([&](const std::string& key, const Sums::Values&) {
    EXPECT_EQ(key, "b");
    ++seen;
  });
  EXPECT_EQ(seen, 1);
}

// What a new key is held at: everything added at the `at` that created it,
// which shows at its first Add with a later `at`, never before; a key that
// exists already is never held.
TEST(AccumulatorsTest, HeldFirstIncreasesCountAtTheNextTime) {
  using First = Sums::FirstIncrease;
  Sums s;
  s.Add("new", {5, 7}, At(0), First::kHeld);
  s.Add("new", {1, 1}, At(0), First::kHeld);  // the same read: held too
  EXPECT_EQ(*s.Find("new"), (Sums::Values{0, 0}));
  s.Add("new", {1, -1}, At(1), First::kHeld);
  EXPECT_EQ(*s.Find("new"), (Sums::Values{7, 8}));
  s.Add("new", {1, 1}, At(2));
  EXPECT_EQ(*s.Find("new"), (Sums::Values{8, 9}));
  s.Add("counted", {5, 7}, At(0));
  s.Add("counted", {1, 1}, At(1), First::kHeld);
  EXPECT_EQ(*s.Find("counted"), (Sums::Values{6, 8}));
}

TEST(TopNTest, KeepsTheMostActiveAndAMemberHoldsAgainstANearTie) {
  using Top = TopN<std::string>;
  Top top(2, /*half_life_seconds=*/10);
  top.Score("a", 10, 0);
  top.Score("b", 5, 0);
  top.Score("c", 1, 0);
  top.Choose(0);
  EXPECT_EQ(top.PlaceOf("a"), Top::Place::kJoins);
  EXPECT_EQ(top.PlaceOf("b"), Top::Place::kJoins);
  EXPECT_EQ(top.PlaceOf("c"), Top::Place::kOut);
  // c overtakes b, but by less than a member's 25% advantage.
  top.Score("c", 5, 0);
  top.Choose(0);
  EXPECT_EQ(top.PlaceOf("b"), Top::Place::kIn);
  EXPECT_EQ(top.PlaceOf("c"), Top::Place::kOut);
  // By more: c joins, b leaves.
  top.Score("c", 2, 0);
  top.Choose(0);
  EXPECT_EQ(top.PlaceOf("c"), Top::Place::kJoins);
  EXPECT_EQ(top.PlaceOf("b"), Top::Place::kOut);
  // Activity decays: ten half-lives later a fresh key beats old a.
  top.Score("d", 1, 100);
  top.Choose(100);
  EXPECT_NE(top.PlaceOf("d"), Top::Place::kOut);
  EXPECT_EQ(top.ForgetScoredBefore(50), 3u);  // a, b and c
  EXPECT_EQ(top.size(), 1u);
}

}  // namespace
}  // namespace pgwarden::testing
