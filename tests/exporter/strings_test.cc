#include "exporter/strings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgwarden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(StringsTest, Trim) {
  EXPECT_EQ(Trim("  a b\t\r\n"), "a b");
  EXPECT_EQ(Trim(" \t\n"), "");
  EXPECT_EQ(Trim(""), "");
}

TEST(StringsTest, SplitListTrimsAndDropsEmptyItems) {
  EXPECT_THAT(SplitList("a, ,b ,,c"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(SplitList(">=10 <17", ' '), ElementsAre(">=10", "<17"));
  EXPECT_THAT(SplitList(""), IsEmpty());
  EXPECT_THAT(SplitList(" , "), IsEmpty());
}

TEST(StringsTest, ParseFiniteDoubleTakesTheWholeText) {
  EXPECT_EQ(ParseFiniteDouble(" 2.5 "), 2.5);
  EXPECT_EQ(ParseFiniteDouble("-1"), -1);
  for (const char* bad : {"", "1x", "nan", "inf", "1e999", "abc"}) {
    EXPECT_FALSE(ParseFiniteDouble(bad)) << bad;
  }
}

TEST(StringsTest, QuoteIdentDoublesQuotes) {
  EXPECT_EQ(QuoteIdent("public"), "\"public\"");
  EXPECT_EQ(QuoteIdent("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QuoteIdent(""), "\"\"");
}

TEST(StringsTest, PercentEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(PercentEncode("p@ss:w/rd-._~"), "p%40ss%3Aw%2Frd-._~");
}

}  // namespace
}  // namespace pgwarden::testing
