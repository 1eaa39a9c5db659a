#include "exporter/rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

TEST(ParseNumberTest, PostgresTextForms) {
  EXPECT_EQ(ParseNumber("42"), 42);
  EXPECT_EQ(ParseNumber("-1"), -1);
  EXPECT_EQ(ParseNumber("1.5e3"), 1500);
  EXPECT_EQ(ParseNumber("t"), 1);
  EXPECT_EQ(ParseNumber("f"), 0);
  EXPECT_EQ(ParseNumber("on"), 1);
  EXPECT_TRUE(std::isnan(*ParseNumber("NaN")));
  EXPECT_TRUE(std::isinf(*ParseNumber("Infinity")));
  EXPECT_EQ(ParseNumber(""), std::nullopt);
  EXPECT_EQ(ParseNumber("12abc"), std::nullopt);
  EXPECT_EQ(ParseNumber("0x10"), std::nullopt);
  EXPECT_EQ(ParseNumber("inf"), std::nullopt);
  EXPECT_EQ(ParseNumber(std::string(100, '9')), std::nullopt);
}

TEST(RowViewTest, MissingColumnsAndNullsReadAsAbsent) {
  const Rows rows = testing::MakeRows({"a", "b"}, {{"1", "\\N"}});
  RowView row(rows, 0);
  EXPECT_EQ(row.Number("a"), 1);
  EXPECT_EQ(row.Number("b"), std::nullopt);
  EXPECT_EQ(row.Number("missing"), std::nullopt);
  EXPECT_EQ(row.Text("b", "fallback"), "fallback");
  EXPECT_EQ(row.NumberOr("missing", 7), 7);
  EXPECT_EQ(rows.Column("b"), 1);
  EXPECT_EQ(rows.Column("c"), -1);
}

// What a target remembers of the rows it parsed: equal results, equal
// digests; any difference (a cell, a NULL, a boundary between cells, a
// column name, a row) shows.
TEST(DigestTest, EqualRowsOnlyHaveEqualDigests) {
  const Rows base = MakeRows({"a", "b"}, {{"ab", "c"}, {"1", "2"}});
  EXPECT_EQ(Digest(base),
            Digest(MakeRows({"a", "b"}, {{"ab", "c"}, {"1", "2"}})));
  std::vector<Rows> others = {
      MakeRows({"a", "b"}, {{"a", "bc"}, {"1", "2"}}),
      MakeRows({"a", "b"}, {{"ab", "c"}, {"1", "3"}}),
      MakeRows({"a", "c"}, {{"ab", "c"}, {"1", "2"}}),
      MakeRows({"a", "b"}, {{"ab", "c"}}),
      MakeRows({"a", "b"}, {{"ab", "c"}, {"1", "2"}, {"1", "2"}}),
      MakeRows({"ab", "c"}, {}),
      Rows(),
  };
  Rows with_null({"a", "b"});
  with_null.Add({std::string("ab"), std::string("c")});
  with_null.Add({std::string("1"), std::nullopt});
  others.push_back(with_null);
  Rows with_empty({"a", "b"});
  with_empty.Add({std::string("ab"), std::string("c")});
  with_empty.Add({std::string("1"), std::string()});
  others.push_back(with_empty);
  std::set<std::pair<uint64_t, uint64_t>> seen = {
      {Digest(base).a, Digest(base).b}};
  for (const Rows& other : others) {
    EXPECT_FALSE(Digest(other) == Digest(base));
    EXPECT_TRUE(seen.insert({Digest(other).a, Digest(other).b}).second);
  }
}

TEST(RowsTest, RejectsRowsOfTheWrongWidth) {
  Rows rows({"a", "b"});
  EXPECT_THROW(rows.Add({std::string("1")}), std::invalid_argument);
}

}  // namespace
}  // namespace pgwarden::testing
