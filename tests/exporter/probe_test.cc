#include "exporter/probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "exporter/text.h"
#include "tests/fake_server.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A --config.file on disk, removed at the end.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    char path[] = "/tmp/pgwarden-probe-test.XXXXXX";
    const int fd = mkstemp(path);
    close(fd);
    path_ = path;
    Write(text);
  }
  ~ConfigFile() { unlink(path_.c_str()); }
  void Write(const std::string& text) const { std::ofstream(path_) << text; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Probes through a Prober whose targets are FakeServer databases; records
// the connection string of every target it makes and every name resolved.
class ProbeTest : public ::testing::Test {
 protected:
  void Make(const std::string& config_text, ProbeOptions options = {}) {
    file_ = std::make_unique<ConfigFile>(config_text);
    config_ = std::make_unique<ProbeConfigFile>(file_->path());
    prober_ = std::make_unique<Prober>(
        options, config_.get(),
        [this](const Dsn& dsn) {
          made_.push_back(dsn);
          TargetOptions target_options;
          target_options.process_metrics = false;  // as main() makes them
          return std::make_unique<Target>(
              dsn.Redacted(),
              std::make_unique<FakeServerDatabase>(server_, dsn.Get("host")),
              std::vector<std::unique_ptr<Collector>>{}, target_options);
        },
        [this](const std::string& host) {
          resolved_.push_back(host);
          const auto it = dns_.find(host);
          return it == dns_.end() ? std::vector<std::string>{} : it->second;
        });
  }

  ProbeAnswer Probe(const std::string& target, const std::string& module = "") {
    return prober_->Probe(target, module,
                          Clock::now() + std::chrono::seconds(5));
  }

  std::string MetricsText() const {
    Exposition e;
    e.parts.push_back(std::make_shared<const Families>(prober_->Metrics()));
    return Serialize(e);
  }

  std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
  std::map<std::string, std::vector<std::string>> dns_;
  std::vector<Dsn> made_;
  std::vector<std::string> resolved_;
  std::unique_ptr<ConfigFile> file_;
  std::unique_ptr<ProbeConfigFile> config_;
  std::unique_ptr<Prober> prober_;
};

constexpr char kConfig[] = R"(
auth_modules:
  monitor:
    type: userpass
    userpass: {username: pgwarden, password: s3cret}
    options: {sslmode: disable}
  empty:
    type: userpass
allowed_targets: ["db-*.example.com:5432", "10.1.0.0/16"]
)";

TEST_F(ProbeTest, PostgresExportersBadRequests) {
  Make(kConfig);
  ProbeAnswer a = Probe("");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.error, "target is required");
  a = Probe("db-1.example.com:5432", "nope");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.error, "auth_module nope not found");
  a = Probe("db-1.example.com:5432", "empty");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.error, "auth_module empty has no username or password");
  a = Probe("host=db-1.example.com sslkey=/etc/shadow", "monitor");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.error, HasSubstr("target may not set sslkey"));
  a = Probe("db-1.example.com:99999", "monitor");
  EXPECT_EQ(a.status, 400);
  // A hostile module name comes back on one line.
  a = Probe("db-1.example.com", "x\r\nSet-Cookie: y");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.error, Not(HasSubstr("\n")));
  EXPECT_TRUE(made_.empty());
  EXPECT_THAT(
      MetricsText(),
      HasSubstr("pgwarden_probes_refused_total{reason=\"bad_request\"} 6"));
}

TEST_F(ProbeTest, OnlyAllowedTargets) {
  Make(kConfig);
  dns_["evil.example.com"] = {"169.254.169.254"};
  dns_["split.example.com"] = {"10.1.2.3", "127.0.0.1"};
  for (const std::string target :
       {"evil.example.com:5432", "db-1.example.com:5433", "split.example.com",
        "127.0.0.1:5432", "host=/run/postgresql", "unresolvable.example"}) {
    const ProbeAnswer a = Probe(target, "monitor");
    EXPECT_EQ(a.status, 403) << target;
    EXPECT_THAT(a.error, HasSubstr("not in --config.file's allowed_targets"))
        << target;
    EXPECT_THAT(a.error, Not(HasSubstr("s3cret")));
  }
  EXPECT_TRUE(made_.empty());
  EXPECT_THAT(
      MetricsText(),
      HasSubstr("pgwarden_probes_refused_total{reason=\"not_allowed\"} 6"));
}

TEST_F(ProbeTest, AllowedByNameConnectsByNameAllowedByRangeByAddress) {
  Make(kConfig);
  dns_["pg.internal"] = {"10.1.7.7"};
  ProbeAnswer a = Probe("db-1.example.com", "monitor");
  ASSERT_EQ(a.status, 200) << a.error;
  EXPECT_TRUE(resolved_.empty());  // a name pattern needs no lookup
  a = Probe("postgresql://pg.internal:5432/shop", "monitor");
  ASSERT_EQ(a.status, 200) << a.error;
  ASSERT_EQ(made_.size(), 2u);
  EXPECT_EQ(made_[0].Get("hostaddr"), "");
  EXPECT_EQ(made_[0].Get("port"), "5432");  // pinned, not left to PGPORT
  EXPECT_EQ(made_[1].Get("host"), "pg.internal");
  EXPECT_EQ(made_[1].Get("hostaddr"), "10.1.7.7");
  EXPECT_EQ(made_[1].Get("user"), "pgwarden");
  EXPECT_EQ(made_[1].Get("password"), "s3cret");
  EXPECT_EQ(made_[1].Get("sslmode"), "disable");
  EXPECT_THAT(Serialize(a.exposition), HasSubstr("pg_up 1"));
}

TEST_F(ProbeTest, OneRuntimeAndConnectionPerTargetAcrossProbes) {
  Make(kConfig);
  dns_["pg.internal"] = {"10.1.0.1", "10.1.0.2"};
  for (int i = 0; i < 20; ++i) {
    // Round-robin DNS must not make a new runtime per probe.
    std::swap(dns_["pg.internal"][0], dns_["pg.internal"][1]);
    ASSERT_EQ(Probe("pg.internal:5432", "monitor").status, 200);
    ASSERT_EQ(Probe("db-1.example.com:5432", "monitor").status, 200);
  }
  EXPECT_EQ(made_.size(), 2u);
  EXPECT_EQ(server_->Opens("pg.internal"), 1);
  EXPECT_EQ(server_->Opens("db-1.example.com"), 1);
  EXPECT_THAT(MetricsText(), HasSubstr("pgwarden_probes_total 40"));
  EXPECT_THAT(MetricsText(),
              HasSubstr("pgwarden_probe_targets{state=\"up\"} 2"));
  EXPECT_THAT(MetricsText(), HasSubstr("pgwarden_probe_connections 2"));
  const auto targets = prober_->Targets(Clock::now());
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].probes, 20u);
  EXPECT_EQ(targets[0].auth_module, "monitor");
  for (const auto& t : targets) {
    EXPECT_THAT(t.status.target, Not(HasSubstr("s3cret")));
  }
}

// Waits up to 2 s for the fake databases of `host` to be destroyed (a
// target's collecting thread lets go of it just after answering).
bool Closed(const FakeServer& server, const std::string& host) {
  for (int i = 0; i < 200; ++i) {
    if (server.Alive(host) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(ProbeTest, MaxTargetsClosesTheLeastRecentlyProbed) {
  ProbeOptions options;
  options.max_targets = 2;
  Make(kConfig, options);
  ASSERT_EQ(Probe("db-a.example.com").status, 200);
  ASSERT_EQ(Probe("db-b.example.com").status, 200);
  ASSERT_EQ(Probe("db-a.example.com").status, 200);
  ASSERT_EQ(Probe("db-c.example.com").status, 200);  // b goes
  EXPECT_TRUE(Closed(*server_, "db-b.example.com"));
  EXPECT_EQ(server_->Alive("db-a.example.com"), 1);
  EXPECT_EQ(server_->Alive("db-c.example.com"), 1);
  EXPECT_EQ(prober_->Targets(Clock::now()).size(), 2u);
  EXPECT_THAT(
      MetricsText(),
      HasSubstr("pgwarden_probe_targets_closed_total{reason=\"evicted\"} 1"));
  ASSERT_EQ(Probe("db-b.example.com").status, 200);  // made anew
  EXPECT_EQ(made_.size(), 4u);
}

TEST_F(ProbeTest, IdleTargetsAreClosed) {
  ProbeOptions options;
  options.idle_timeout = std::chrono::seconds(60);
  Make(kConfig, options);
  ASSERT_EQ(Probe("db-a.example.com").status, 200);
  const auto now = Clock::now();
  prober_->CloseIdle(now + std::chrono::seconds(30));
  EXPECT_EQ(prober_->Targets(now).size(), 1u);
  prober_->CloseIdle(now + std::chrono::seconds(61));
  EXPECT_TRUE(prober_->Targets(now).empty());
  EXPECT_TRUE(Closed(*server_, "db-a.example.com"));
  EXPECT_THAT(
      MetricsText(),
      HasSubstr("pgwarden_probe_targets_closed_total{reason=\"idle\"} 1"));
}

TEST_F(ProbeTest, RotatedPasswordFileMakesANewConnection) {
  char path[] = "/tmp/pgwarden-probe-secret.XXXXXX";
  close(mkstemp(path));
  std::ofstream(path) << "first\n";
  Make(std::string("auth_modules:\n  m:\n    type: userpass\n    userpass:\n"
                   "      username: u\n      password_file: ") +
       path + "\nallowed_targets: ['db-*:5432']\n");
  ASSERT_EQ(Probe("db-1", "m").status, 200);
  ASSERT_EQ(Probe("db-1", "m").status, 200);
  std::ofstream(path) << "second\n";
  ASSERT_EQ(Probe("db-1", "m").status, 200);
  unlink(path);
  ASSERT_EQ(made_.size(), 2u);
  EXPECT_EQ(made_[0].Get("password"), "first");
  EXPECT_EQ(made_[1].Get("password"), "second");
  EXPECT_THAT(
      MetricsText(),
      HasSubstr("pgwarden_probe_targets_closed_total{reason=\"replaced\"} 1"));
  // An unreadable secret is a 400 that names no secret.
  const ProbeAnswer a = Probe("db-1", "m");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.error, HasSubstr("password_file"));
}

TEST_F(ProbeTest, AllowAnyTargetIsPostgresExportersOpenProbe) {
  ProbeOptions options;
  options.allow_any_target = true;
  Make("", options);
  ASSERT_EQ(Probe("127.0.0.1:6543").status, 200);
  ASSERT_EQ(made_.size(), 1u);
  EXPECT_EQ(made_[0].Get("hostaddr"), "");
  // Still only where and as whom.
  EXPECT_EQ(Probe("host=x passfile=/root/.pgpass").status, 400);
}

}  // namespace
}  // namespace pgwarden::testing
