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

namespace pgwarden {
namespace {

TEST(CidrTest, RangesOfBothFamilies) {
  CidrRange v4, v6;
  ASSERT_TRUE(ParseCidr("10.1.0.0/16", v4));
  EXPECT_TRUE(InCidr(v4, "10.1.255.3"));
  EXPECT_FALSE(InCidr(v4, "10.2.0.1"));
  EXPECT_FALSE(InCidr(v4, "fd00::1")) << "another family";
  EXPECT_FALSE(InCidr(v4, "")) << "a Unix socket has no address";
  ASSERT_TRUE(ParseCidr("fd00::/8", v6));
  EXPECT_TRUE(InCidr(v6, "fd12::1"));
  EXPECT_FALSE(InCidr(v6, "fe80::1"));
  CidrRange all;
  ASSERT_TRUE(ParseCidr("0.0.0.0/0", all));
  EXPECT_TRUE(InCidr(all, "192.0.2.1"));
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8",
                          "10.0.0.0/1.5", "::/129"}) {
    CidrRange r;
    EXPECT_FALSE(ParseCidr(bad, r)) << bad;
  }
}

}  // namespace
}  // namespace pgwarden
