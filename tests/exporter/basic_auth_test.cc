#include "exporter/basic_auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgwarden::testing {
namespace {

// bcrypt (cost 4) of "s3cret", made with libxcrypt.
constexpr char kHash[] =
    "$2b$04$Lc6LkN9b6Fob79NEzod4Se5ApZrdN1RzoyOrm/PPQNF.OytPy75ba";

std::string Basic(const std::string& user_password) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < user_password.size(); i += 3) {
    const uint32_t n = (uint8_t(user_password[i]) << 16) |
                       (uint8_t(user_password[i + 1]) << 8) |
                       uint8_t(user_password[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  const size_t rest = user_password.size() - i;
  if (rest) {
    uint32_t n = uint8_t(user_password[i]) << 16;
    if (rest == 2) n |= uint8_t(user_password[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return "Basic " + out;
}

TEST(BasicAuthTest, BcryptThroughLibxcrypt) {
  EXPECT_TRUE(BasicAuth::VerifyBcrypt("s3cret", kHash));
  EXPECT_FALSE(BasicAuth::VerifyBcrypt("s3cret!", kHash));
  EXPECT_FALSE(BasicAuth::VerifyBcrypt("s3cret", "$2b$04$short"));
  EXPECT_FALSE(BasicAuth::VerifyBcrypt(std::string("s3cret\0x", 8), kHash));
  // $2a$ and $2y$ spell the same hash.
  std::string y = kHash;
  y[2] = 'y';
  EXPECT_TRUE(BasicAuth::VerifyBcrypt("s3cret", y));
}

TEST(BasicAuthTest, ChecksHeaderUserAndPassword) {
  BasicAuth auth(std::map<std::string, std::string>{{"alice", kHash}});
  EXPECT_TRUE(auth.Enabled());
  EXPECT_TRUE(auth.Check(Basic("alice:s3cret")));
  EXPECT_TRUE(auth.Check("basic " + Basic("alice:s3cret").substr(6)));
  EXPECT_FALSE(auth.Check(Basic("alice:wrong")));
  EXPECT_FALSE(auth.Check(Basic("bob:s3cret")));  // unknown user
  EXPECT_FALSE(auth.Check(Basic("alice")));       // no colon
  EXPECT_FALSE(auth.Check(""));
  EXPECT_FALSE(auth.Check("Bearer abc"));
  EXPECT_FALSE(auth.Check("Basic !!!!"));
}

TEST(BasicAuthTest, CacheIsBoundedAndAnswersTheSame) {
  BasicAuth auth(std::map<std::string, std::string>{{"alice", kHash}}, 3);
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(auth.Check(Basic("alice:s3cret")));
    EXPECT_FALSE(auth.Check(Basic("alice:nope")));
    EXPECT_FALSE(auth.Check(Basic("carol:s3cret")));
  }
  EXPECT_EQ(auth.CacheSize(), 3u);
  EXPECT_FALSE(auth.Check(Basic("alice:other")));
  EXPECT_EQ(auth.CacheSize(), 3u);
  EXPECT_TRUE(auth.Check(Basic("alice:s3cret")));
}

TEST(BasicAuthTest, NoUsersMeansNoAuthentication) {
  BasicAuth auth(std::map<std::string, std::string>{});
  EXPECT_FALSE(auth.Enabled());
  EXPECT_TRUE(auth.Check(""));
}

TEST(BasicAuthTest, Base64) {
  std::string out;
  EXPECT_TRUE(BasicAuth::DecodeBase64("YWxpY2U6czNjcmV0", out));
  EXPECT_EQ(out, "alice:s3cret");
  EXPECT_TRUE(BasicAuth::DecodeBase64("YQ==", out));
  EXPECT_EQ(out, "a");
  EXPECT_FALSE(BasicAuth::DecodeBase64("Y", out));
  EXPECT_FALSE(BasicAuth::DecodeBase64("YQ===", out));
  EXPECT_FALSE(BasicAuth::DecodeBase64("Y Q", out));
}

}  // namespace
}  // namespace pgwarden::testing
