#include "exporter/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

TEST(SanitizeLabelValueTest, KeepsValidUtf8AndReplacesInvalid) {
  EXPECT_EQ(SanitizeLabelValue("plain \"q\" \\ \n"), "plain \"q\" \\ \n");
  EXPECT_EQ(SanitizeLabelValue("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(SanitizeLabelValue("a\xFF"
                               "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeLabelValue("\xC3\x28"),
            "\xEF\xBF\xBD(");  // bad continuation
  EXPECT_EQ(SanitizeLabelValue("\xC0\xAF"),
            "\xEF\xBF\xBD\xEF\xBF\xBD");         // overlong
  EXPECT_EQ(SanitizeLabelValue("\xED\xA0\x80"),  // surrogate
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeLabelValue("\xE2\x82"),
            "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
}

TEST(SanitizeLabelValueTest, CutsLongValuesAtACharacterBoundary) {
  std::string long_value(kMaxLabelValueBytes * 3, 'x');
  const std::string cut = SanitizeLabelValue(long_value);
  EXPECT_LE(cut.size(), kMaxLabelValueBytes);
  EXPECT_EQ(cut.substr(cut.size() - 3), "...");
  std::string euros;
  for (size_t i = 0; i < kMaxLabelValueBytes; ++i) euros += "\xE2\x82\xAC";
  const std::string cut_euros = SanitizeLabelValue(euros);
  EXPECT_EQ((cut_euros.size() - 3) % 3, 0u);
  EXPECT_EQ(SanitizeLabelValue(cut_euros), cut_euros);  // still valid UTF-8
}

TEST(EscapeHelpTest, EscapesBackslashAndNewline) {
  EXPECT_EQ(EscapeHelp("a\\b\nc\"d"), "a\\\\b\\nc\"d");
}

TEST(SanitizeNameFragmentTest, MakesValidNameParts) {
  EXPECT_EQ(SanitizeNameFragment("auto_explain.log_min-Duration"),
            "auto_explain_log_min_duration");
  EXPECT_EQ(SanitizeNameFragment("9lives"), "_9lives");
  EXPECT_EQ(SanitizeNameFragment(""), "_");
  EXPECT_EQ(SanitizeNameFragment("\xC3\xA9t\xC3\xA9"), "__t__");
}

TEST(HasReservedSuffixTest, HistogramAndSummarySuffixes) {
  EXPECT_TRUE(HasReservedSuffix("pg_settings_tcp_keepalives_count"));
  EXPECT_TRUE(HasReservedSuffix("x_sum"));
  EXPECT_TRUE(HasReservedSuffix("x_bucket"));
  EXPECT_FALSE(HasReservedSuffix("x_counter"));
  EXPECT_FALSE(HasReservedSuffix("pg_stat_statements_calls_total"));
  EXPECT_FALSE(HasReservedSuffix("_count_x"));
}

TEST(AggregateTest, SumsMaxesAndZeroFills) {
  Aggregate sum(Aggregate::Mode::kSum), max(Aggregate::Mode::kMax);
  sum.Touch({"a"});
  sum.Touch({"b"});
  sum.Put({"a"}, 2);
  sum.Put({"a"}, 3);
  max.Put({"a"}, 2);
  max.Put({"a"}, 7);
  max.Put({"a"}, 1);
  Families out;
  FamilyBuilder s("s", "h", prometheus::MetricType::Gauge);
  sum.EmitTo(s, {"k"});
  s.MoveTo(out);
  FamilyBuilder m("m", "h", prometheus::MetricType::Gauge);
  max.EmitTo(m, {"k"});
  m.MoveTo(out);
  EXPECT_EQ(testing::Sample(out, "s", {{"k", "a"}}), 5);
  EXPECT_EQ(testing::Sample(out, "s", {{"k", "b"}}), 0);
  EXPECT_EQ(testing::Sample(out, "m", {{"k", "a"}}), 7);
}

TEST(AggregateTest, KeysThatPrintAlikeAreCombined) {
  Aggregate sum(Aggregate::Mode::kSum);
  sum.Put({"db\xFF"}, 1);
  sum.Put({"db\xFE"}, 2);
  Families out;
  FamilyBuilder f("f", "h", prometheus::MetricType::Gauge);
  sum.EmitTo(f, {"datname"});
  f.MoveTo(out);
  EXPECT_EQ(testing::SampleCount(out, "f"), 1u);
  EXPECT_EQ(testing::Sample(out, "f"), 3);
}

TEST(FamilyBuilderTest, DropsSeriesThatPrintTheSame) {
  Families out;
  FamilyBuilder("f", "h", prometheus::MetricType::Gauge)
      .Add({{"x", "a\xFF"}}, 1)
      .Add({{"x", "a\xFE"}}, 2)
      .Add({{"x", "b"}}, 3)
      .MoveTo(out);
  EXPECT_EQ(testing::SampleCount(out, "f"), 2u);
  EXPECT_EQ(testing::Sample(out, "f", {{"x", "a\xEF\xBF\xBD"}}), 1);
  Families none;
  FamilyBuilder("empty", "h", prometheus::MetricType::Gauge).MoveTo(none);
  EXPECT_TRUE(none.empty());
}

// A part of families named `names`, each with one sample.
std::shared_ptr<const Families> Part(std::vector<std::string> names) {
  Families out;
  for (const auto& name : names) {
    FamilyBuilder(name, "h", prometheus::MetricType::Gauge).Add(1).MoveTo(out);
  }
  return std::make_shared<const Families>(std::move(out));
}

TEST(FindRepeatedFamiliesTest, ContinuationsAreNotRepeatsAndOthersAre) {
  Exposition answer;
  answer.parts = {Part({"a", "b"}),   // 0
                  Part({"b"}),        // 1: continues b
                  Part({"b", "c"}),   // 2: continues b again
                  Part({"d", "a"}),   // 3: a repeats part 0's
                  nullptr,            // 4: skipped
                  Part({"a"}),        // 5: part 3's a is left out: a repeat
                  Part({"c", "e"})};  // 6: part 5 printed nothing; c repeats
  const std::vector<RepeatedFamilies> r = FindRepeatedFamilies(answer);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].part, 3u);
  EXPECT_THAT(r[0].families,
              ::testing::ElementsAre(std::pair<size_t, size_t>{1, 0}));
  EXPECT_EQ(r[1].part, 5u);
  EXPECT_THAT(r[1].families,
              ::testing::ElementsAre(std::pair<size_t, size_t>{0, 0}));
  EXPECT_EQ(r[2].part, 6u);
  EXPECT_THAT(r[2].families,
              ::testing::ElementsAre(std::pair<size_t, size_t>{0, 2}));

  Exposition clean;
  clean.parts = {Part({"a"}), Part({"a", "b"}), Part({"c"})};
  EXPECT_TRUE(FindRepeatedFamilies(clean).empty());
}

TEST(RowLabelsTest, SanitizesOnceAndTheFirstRowWinsInEveryFamily) {
  const std::string long_value(kMaxLabelValueBytes + 10, 'q');
  const RowLabels rows({{{"x", "a\xFF"}},
                        {{"x", "b"}},
                        {{"x", "a\xFE"}},  // sanitizes to row 0's value
                        {{"x", long_value}},
                        {{"x", long_value + "z"}}});  // cut to row 3's
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0][0].second, "a\xEF\xBF\xBD");
  EXPECT_EQ(rows[3][0].second.size(), kMaxLabelValueBytes);
  EXPECT_FALSE(rows.repeated(0));
  EXPECT_FALSE(rows.repeated(1));
  EXPECT_TRUE(rows.repeated(2));
  EXPECT_FALSE(rows.repeated(3));
  EXPECT_TRUE(rows.repeated(4));

  Families out;
  for (const char* name : {"f", "g"}) {
    FamilyBuilder family(name, "h", prometheus::MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i) {
      family.Add(rows, i, static_cast<double>(i));
    }
    family.MoveTo(out);
  }
  for (const char* name : {"f", "g"}) {
    EXPECT_EQ(testing::SampleCount(out, name), 3u) << name;
    EXPECT_EQ(testing::Sample(out, name, {{"x", "a\xEF\xBF\xBD"}}), 0);
    EXPECT_EQ(testing::Sample(out, name, {{"x", "b"}}), 1);
  }
  EXPECT_TRUE(testing::ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden::testing
