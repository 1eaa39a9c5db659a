#include "exporter/rows.h"

#include <gtest/gtest.h>

#include <cmath>

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

TEST(RowsTest, RejectsRowsOfTheWrongWidth) {
  Rows rows({"a", "b"});
  EXPECT_THROW(rows.Add({std::string("1")}), std::invalid_argument);
}

}  // namespace
}  // namespace pgwarden::testing
