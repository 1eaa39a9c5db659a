#include "exporter/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include "tests/test_util.h"

namespace pgwarden {
namespace {

using ::testing::HasSubstr;

std::string Gunzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[4096];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&zs);
  EXPECT_EQ(rc, Z_STREAM_END);
  return out;
}

TEST(SerializeTest, EscapesHelpAndLabels) {
  Families families;
  FamilyBuilder("x_total", "help with \\ and\nnewline", prometheus::MetricType::Counter)
      .Add({{"l", "v\"\\\n} 1\nfake_metric 1"}}, 2)
      .MoveTo(families);
  const std::string text = Serialize(families);
  EXPECT_THAT(text, HasSubstr("# HELP x_total help with \\\\ and\\nnewline\n"));
  EXPECT_THAT(text, HasSubstr("x_total{l=\"v\\\"\\\\\\n} 1\\nfake_metric 1\"} 2\n"));
  EXPECT_TRUE(testing::ValidExposition(families));
}

TEST(GzipTest, RoundTrips) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "metric_" + std::to_string(i) + " 1\n";
  const std::string packed = Gzip(text);
  EXPECT_LT(packed.size(), text.size() / 3);
  EXPECT_EQ(Gunzip(packed), text);
  EXPECT_EQ(Gunzip(Gzip("")), "");
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
}  // namespace pgwarden
