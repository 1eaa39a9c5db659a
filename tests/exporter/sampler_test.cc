#include "exporter/sampler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/test_util.h"

namespace pgwarden {
namespace {

using testing::MakeRows;
using testing::Sample;

// A server whose every sample shows one active session; it can be down
// (connections refused) or frozen (nothing answers before the deadline).
struct FakeServerState {
  std::atomic<bool> down{false}, frozen{false};
  std::atomic<int> runs{0}, opens{0};
  std::atomic<double> clock{1700000000};
};

class FakeSampleDatabase : public Database {
 public:
  explicit FakeSampleDatabase(std::shared_ptr<FakeServerState> s)
      : s_(std::move(s)) {}
  ServerInfo Open(Clock::time_point) override {
    if (s_->down) {
      connected_ = false;
      throw std::runtime_error("connection refused");
    }
    if (!connected_) ++opened_;
    connected_ = true;
    ++s_->opens;
    return testing::ServerAt(150000);
  }
  bool Run(const std::vector<Statement>&, Clock::time_point deadline,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    ++s_->runs;
    if (s_->frozen) {
      std::this_thread::sleep_until(deadline);
      connected_ = false;
      on_result(0, QueryResult{false, {}, "timeout", 0});
      return false;
    }
    // The server's clock advances by the interval at each sample.
    const double at = s_->clock = s_->clock + 0.05;
    on_result(
        0,
        QueryResult{
            true,
            MakeRows({"sampled_at", "pid", "backend_start", "state", "datname"},
                     {{std::to_string(at), "7", "1", "active", "shop"}}),
            "", 0});
    return true;
  }
  uint64_t ConnectionsOpened() const override { return opened_; }

 private:
  std::shared_ptr<FakeServerState> s_;
  bool connected_ = false;
  uint64_t opened_ = 0;
};

SamplerOptions Every50ms(std::shared_ptr<FakeServerState> s) {
  SamplerOptions o;
  o.interval = std::chrono::milliseconds(50);
  o.open = [s] { return std::make_unique<FakeSampleDatabase>(s); };
  return o;
}

double Value(const Families& f, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  return Sample(f, name, labels).value_or(0);
}

TEST(SamplerTest, SamplesOnScheduleIntoCountersThatOnlyGrow) {
  auto server = std::make_shared<FakeServerState>();
  Sampler sampler("db", Every50ms(server));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  Families f = sampler.Collect();
  EXPECT_GE(Value(f, "pgwarden_sampler_samples_total"), 5);
  EXPECT_EQ(Value(f, "pgwarden_sampler_errors_total"), 0);
  EXPECT_EQ(Value(f, "pgwarden_sampler_interval_seconds"), 0.05);
  EXPECT_EQ(Value(f, "pgwarden_sampler_connections_opened_total"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  f = sampler.Collect();
  const double active =
      Value(f, "pg_session_seconds_total", {{"state", "active"}});
  // About 0.05 s per sample since the series was first shown.
  EXPECT_GT(active, 0.1);
  EXPECT_TRUE(testing::ValidExposition(f));
}

TEST(SamplerTest, KeepsItsScheduleWhileTheServerIsDownOrFrozenAndResumes) {
  auto server = std::make_shared<FakeServerState>();
  Sampler sampler("db", Every50ms(server));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  sampler.Collect();
  const double before = Value(sampler.Collect(), "pg_session_seconds_total",
                              {{"state", "active"}});
  server->down = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Families f = sampler.Collect();
  const double errors = Value(f, "pgwarden_sampler_errors_total");
  EXPECT_GE(errors, 5);  // a try per tick, not a stall
  server->down = false;
  server->frozen = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  f = sampler.Collect();
  // A frozen sample takes its 200 ms deadline: the ticks it overran are
  // skipped and counted, the rest still tried.
  EXPECT_GE(Value(f, "pgwarden_sampler_errors_total"), errors + 2);
  EXPECT_GE(Value(f, "pgwarden_sampler_missed_total"), 2);
  server->frozen = false;
  const double samples = Value(f, "pgwarden_sampler_samples_total");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  f = sampler.Collect();
  EXPECT_GE(Value(f, "pgwarden_sampler_samples_total"), samples + 3);
  EXPECT_GE(Value(f, "pg_session_seconds_total", {{"state", "active"}}),
            before);
  EXPECT_GE(Value(f, "pgwarden_sampler_connections_opened_total"), 2);
}

TEST(SamplerTest, StopsWithoutWaitingForASampleInFlight) {
  auto server = std::make_shared<FakeServerState>();
  server->frozen = true;
  const auto start = Clock::now();
  {
    Sampler sampler("db", Every50ms(server));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(150));
  // The detached sample ends by its deadline, and no new one starts.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const int runs = server->runs;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server->runs, runs);
}

}  // namespace
}  // namespace pgwarden
