#include "exporter/web_access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using Clock = RateLimiter::Clock;

constexpr char kHash[] =
    "$2b$04$Lc6LkN9b6Fob79NEzod4Se5ApZrdN1RzoyOrm/PPQNF.OytPy75ba";
constexpr char kAliceS3cret[] = "Basic YWxpY2U6czNjcmV0";

TEST(RateLimiterTest, BurstThenOnePerInterval) {
  RateLimiter limiter(1.0, 2);
  const auto t0 = Clock::now();
  EXPECT_TRUE(limiter.Allow(t0));
  EXPECT_TRUE(limiter.Allow(t0));
  EXPECT_FALSE(limiter.Allow(t0));
  EXPECT_FALSE(limiter.Allow(t0 + std::chrono::milliseconds(900)));
  EXPECT_TRUE(limiter.Allow(t0 + std::chrono::milliseconds(1100)));
  EXPECT_FALSE(limiter.Allow(t0 + std::chrono::milliseconds(1200)));
  // Never more than the burst, however long it waited.
  const auto later = t0 + std::chrono::hours(1);
  EXPECT_TRUE(limiter.Allow(later));
  EXPECT_TRUE(limiter.Allow(later));
  EXPECT_FALSE(limiter.Allow(later));
}

TEST(RateLimiterTest, BurstZeroRefusesEverything) {
  RateLimiter limiter(1.0, 0);
  EXPECT_FALSE(limiter.Allow(Clock::now() + std::chrono::hours(1)));
}

class WebAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/pgwarden-web-access.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/web.yml";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  // Writes the file with a new modification time.
  void Write(const std::string& text) {
    usleep(10000);
    std::ofstream(path_) << text;
  }
  std::string dir_, path_;
};

TEST_F(WebAccessTest, NoFileAllowsEverything) {
  WebAccess access("", false);
  EXPECT_EQ(access.tls(), nullptr);
  EXPECT_EQ(access.Admit(""), WebAccess::Verdict::kAllow);
  EXPECT_TRUE(access.Metrics().empty());
}

TEST_F(WebAccessTest, AuthRateLimitAndReloadKeepingTheLastGood) {
  Write(std::string("basic_auth_users:\n  alice: ") + kHash + "\n");
  WebAccess access(path_, false);
  EXPECT_EQ(access.Admit(kAliceS3cret), WebAccess::Verdict::kAllow);
  EXPECT_EQ(access.Admit(""), WebAccess::Verdict::kUnauthorized);
  EXPECT_FALSE(access.ReloadIfChanged());  // nothing changed

  Write("basic_auth_users: [broken\n");
  EXPECT_FALSE(access.ReloadIfChanged());
  EXPECT_EQ(access.Admit(""), WebAccess::Verdict::kUnauthorized);  // kept
  auto metrics = access.Metrics();
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[0].name, "pgwarden_web_config_last_reload_successful");
  EXPECT_EQ(metrics[0].metric[0].gauge.value, 0);

  Write(std::string("basic_auth_users:\n  alice: ") + kHash +
        "\nrate_limit:\n  interval: 1h\n  burst: 1\nhttp_server_config:\n"
        "  headers:\n    X-Frame-Options: deny\n");
  EXPECT_TRUE(access.ReloadIfChanged());
  EXPECT_EQ(access.Metrics()[0].metric[0].gauge.value, 1);
  EXPECT_EQ(access.Admit(kAliceS3cret), WebAccess::Verdict::kAllow);
  // The rate limit comes before authentication.
  EXPECT_EQ(access.Admit(kAliceS3cret), WebAccess::Verdict::kRateLimited);
  EXPECT_EQ(access.Headers().size(), 1u);
}

TEST_F(WebAccessTest, HttpToHttpsNeedsARestart) {
  Write("");
  WebAccess access(path_, false);
  Write(
      "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: "
      "/nonexistent.key\n");
  EXPECT_FALSE(access.ReloadIfChanged());
  EXPECT_EQ(access.tls(), nullptr);
}

TEST_F(WebAccessTest, UnreadableCertificateIsAStartError) {
  Write("tls_server_config:\n  cert_file: missing.crt\n  key_file: k\n");
  try {
    WebAccess access(path_, false);
    FAIL() << "started without its certificate";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("failed to read cert_file (" + dir_ +
                                    "/missing.crt): no such file"));
  }
}

}  // namespace
}  // namespace pgwarden::testing
