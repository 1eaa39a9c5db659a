#include "exporter/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <sstream>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

TEST(SerializeTest, EscapesEverywhereInALabelValue) {
  Families out;
  FamilyBuilder("x", "h", prometheus::MetricType::Gauge)
      .Add({{"a", "\\"}, {"b", "\"\"x\n"}, {"c", "plain"}, {"d", "mid\\dle"}},
           1)
      .MoveTo(out);
  EXPECT_EQ(
      Serialize(out),
      "# HELP x h\n# TYPE x gauge\n"
      "x{a=\"\\\\\",b=\"\\\"\\\"x\\n\",c=\"plain\",d=\"mid\\\\dle\"} 1\n");
}

TEST(SerializeTest, EscapesHelpAndLabels) {
  Families families;
  FamilyBuilder("x_total", "help with \\ and\nnewline",
                prometheus::MetricType::Counter)
      .Add({{"l", "v\"\\\n} 1\nfake_metric 1"}}, 2)
      .MoveTo(families);
  const std::string text = Serialize(families);
  EXPECT_THAT(text, HasSubstr("# HELP x_total help with \\\\ and\\nnewline\n"));
  EXPECT_THAT(text,
              HasSubstr("x_total{l=\"v\\\"\\\\\\n} 1\\nfake_metric 1\"} 2\n"));
  EXPECT_TRUE(testing::ValidExposition(families));
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

double ParseValue(const std::string& s) {
  if (s == "Nan" || s == "NaN") return std::nan("");
  return std::stod(s);
}

TEST(SerializeTest, SameAsPrometheusCppTextSerializer) {
  Families families;
  FamilyBuilder("a_total", "counter \\ help\nline",
                prometheus::MetricType::Counter)
      .Add({{"x", "q\"b\\n\n"}, {"y", ""}}, 12345678901234)
      .Add({{"x", "2"}, {"y", "\xC3\xA9"}}, 0.1)
      .MoveTo(families);
  FamilyBuilder("b", "gauge", prometheus::MetricType::Gauge)
      .Add(1.0 / 3)
      .MoveTo(families);
  FamilyBuilder("c", "values", prometheus::MetricType::Gauge)
      .Add({{"k", "1"}}, -1)
      .Add({{"k", "2"}}, 1e20)
      .Add({{"k", "3"}}, 2.5e-7)
      .Add({{"k", "4"}}, std::nan(""))
      .Add({{"k", "5"}}, HUGE_VAL)
      .Add({{"k", "6"}}, -HUGE_VAL)
      .Add({{"k", "7"}}, 134217728)
      .Add({{"k", "8"}}, 1700000000.123456)
      .MoveTo(families);
  FamilyBuilder("d_count", "untyped", prometheus::MetricType::Untyped)
      .Add(3)
      .MoveTo(families);
  FamilyBuilder("e_seconds", "histogram", prometheus::MetricType::Histogram)
      .AddHistogram({{"app", "x\"y"}}, {0.1, 1, 2.5}, {1, 4, 4}, 7, 12.25)
      .AddHistogram({}, {}, {}, 0, 0)
      .MoveTo(families);

  std::ostringstream reference;
  prometheus::TextSerializer().Serialize(reference, families);
  const auto ours = Lines(Serialize(families));
  const auto theirs = Lines(reference.str());
  ASSERT_EQ(ours.size(), theirs.size()) << Serialize(families) << "\n---\n"
                                        << reference.str();
  for (size_t i = 0; i < ours.size(); ++i) {
    if (ours[i][0] == '#') {
      EXPECT_EQ(ours[i], theirs[i]);
      continue;
    }
    // Same series text; numbers may be spelled differently (shortest form
    // here, 16 significant digits there) but must be the same value.
    const size_t a = ours[i].rfind(' '), b = theirs[i].rfind(' ');
    EXPECT_EQ(ours[i].substr(0, a), theirs[i].substr(0, b));
    const double x = ParseValue(ours[i].substr(a + 1)),
                 y = ParseValue(theirs[i].substr(b + 1));
    if (std::isnan(y)) {
      EXPECT_TRUE(std::isnan(x)) << ours[i];
    } else {
      EXPECT_DOUBLE_EQ(x, y) << ours[i] << " vs " << theirs[i];
    }
  }
  EXPECT_TRUE(testing::ValidExposition(families));
}

TEST(SerializeTest, SharedPartsSerializeTheSameEveryTime) {
  auto stable = std::make_shared<Families>();
  FamilyBuilder("pg_a", "a", prometheus::MetricType::Gauge)
      .Add({{"x", "1"}}, 1)
      .MoveTo(*stable);
  Exposition e;
  e.parts.push_back(stable);
  std::vector<std::string> texts;
  for (int scrape = 0; scrape < 4; ++scrape) {
    // A part rebuilt every scrape, next to one shared by all of them.
    auto fresh = std::make_shared<Families>();
    FamilyBuilder("pg_b", "b", prometheus::MetricType::Gauge)
        .Add(scrape)
        .MoveTo(*fresh);
    e.parts.resize(1);
    e.parts.push_back(fresh);
    texts.push_back(Serialize(e));
    EXPECT_EQ(texts.back(), Serialize(e.Flatten())) << scrape;
  }
  EXPECT_NE(texts[2].find("pg_b 2\n"), std::string::npos);
  EXPECT_EQ(texts[3].substr(0, texts[3].find("# HELP pg_b")),
            texts[0].substr(0, texts[0].find("# HELP pg_b")));
}

TEST(GzipTest, RoundTrips) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "metric_" + std::to_string(i) + " 1\n";
  const std::string packed = Gzip(text);
  EXPECT_LT(packed.size(), text.size() / 3);
  EXPECT_EQ(testing::Gunzip(packed), text);
  EXPECT_EQ(testing::Gunzip(Gzip("")), "");
}

// Parts of many families, each a few hundred KiB of text.
std::shared_ptr<const Families> BigPart(const std::string& name, int series) {
  auto part = std::make_shared<Families>();
  FamilyBuilder f(name, "a large family", prometheus::MetricType::Gauge);
  for (int i = 0; i < series; ++i) {
    f.Add({{"relname", "table_" + std::to_string(i)}}, i * 1.5);
  }
  f.MoveTo(*part);
  return part;
}

TEST(BodyTest, SharedPartsAreOnePieceForEveryAnswerAndGzipIsOneStream) {
  const auto shared_a = BigPart("pg_a", 20000);
  const auto shared_b = BigPart("pg_b", 3000);
  std::vector<Body> texts, gzips;
  for (int scrape = 0; scrape < 3; ++scrape) {
    Exposition e;
    e.parts = {shared_a, BigPart("pg_self", 2), shared_b, nullptr};
    texts.push_back(SerializeBody(e));
    gzips.push_back(GzipBody(e));
    const std::string text = texts.back().Join();
    EXPECT_EQ(text, Serialize(e.Flatten())) << scrape;
    EXPECT_EQ(texts.back().text_bytes, text.size());
    EXPECT_EQ(gzips.back().text_bytes, text.size());
    // One gzip stream (not several members) that decodes to the text.
    const std::string packed = gzips.back().Join();
    EXPECT_EQ(testing::Gunzip(packed), text) << scrape;
    EXPECT_LT(packed.size(), text.size() / 3);
  }
  // From the second sight on, a shared part is the same string, compressed
  // or not: concurrent answers hold it once.
  EXPECT_EQ(texts[1].pieces[0], texts[2].pieces[0]);
  EXPECT_EQ(texts[1].pieces[2], texts[2].pieces[2]);
  EXPECT_EQ(gzips[1].pieces[1], gzips[2].pieces[1]);
  EXPECT_NE(texts[1].pieces[1], texts[2].pieces[1]);  // made per answer
  // An answer with nothing in it is still a valid stream.
  EXPECT_EQ(testing::Gunzip(GzipBody(Exposition{}).Join()), "");
}

// The per-database collectors' parts: each database's share of a family is
// its own part, and consecutive shares print as one family, whether the
// part's text comes from the cache or not, and wherever it stands.
std::shared_ptr<const Families> Share(const std::string& family,
                                      const std::string& db, int series) {
  auto part = std::make_shared<Families>();
  FamilyBuilder f(family, "one database's share",
                  prometheus::MetricType::Gauge);
  for (int i = 0; i < series; ++i) {
    f.Add({{"datname", db}, {"relname", "t" + std::to_string(i)}}, i);
  }
  f.MoveTo(*part);
  return part;
}

TEST(BodyTest, APartContinuingTheFamilyBeforeRepeatsNoHeader) {
  const auto db_a = Share("pg_t", "a", 3), db_b = Share("pg_t", "b", 2);
  auto two = std::make_shared<Families>(*Share("pg_t", "c", 1));
  two->push_back(Share("pg_u", "c", 1)->front());
  for (int scrape = 0; scrape < 3; ++scrape) {
    Exposition e;
    e.parts = {BigPart("pg_before", 1), db_a, db_b, two};
    const std::string text = SerializeBody(e).Join();
    EXPECT_EQ(text, Serialize(e.Flatten())) << scrape;
    EXPECT_TRUE(testing::ValidExposition(e.Flatten()));
    EXPECT_EQ(testing::CountSamples(e.Flatten(), "pg_t", {}), 6u);
    EXPECT_EQ(text.find("# TYPE pg_t "), text.rfind("# TYPE pg_t ")) << text;
    EXPECT_NE(text.find("# TYPE pg_u "), std::string::npos) << text;
    EXPECT_EQ(testing::Gunzip(GzipBody(e).Join()), text) << scrape;
    // The same parts on their own: db_b begins the answer, with its header.
    Exposition alone;
    alone.parts = {db_b};
    EXPECT_EQ(SerializeBody(alone).Join(), Serialize(*db_b));
  }
}

TEST(AcceptsGzipTest, ReadsAcceptEncoding) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("x-gzip2"));
}

}  // namespace
}  // namespace pgwarden::testing
