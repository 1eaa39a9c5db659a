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

// Collects until `done` holds for the families, at most 5 s (the machine
// may be busy; the schedule is asserted by what is counted, not by when).
template <typename Pred>
Families CollectUntil(Sampler& sampler, Pred done) {
  const auto give_up = Clock::now() + std::chrono::seconds(5);
  Families f = sampler.Collect();
  while (!done(f) && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    f = sampler.Collect();
  }
  return f;
}

TEST(SamplerTest, SamplesOnScheduleIntoCountersThatOnlyGrow) {
  auto server = std::make_shared<FakeServerState>();
  Sampler sampler("db", Every50ms(server));
  Families f = CollectUntil(sampler, [](const Families& f) {
    return Value(f, "pgwarden_sampler_samples_total") >= 5;
  });
  EXPECT_GE(Value(f, "pgwarden_sampler_samples_total"), 5);
  EXPECT_EQ(Value(f, "pgwarden_sampler_errors_total"), 0);
  EXPECT_EQ(Value(f, "pgwarden_sampler_interval_seconds"), 0.05);
  EXPECT_EQ(Value(f, "pgwarden_sampler_connections_opened_total"), 1);
  // About 0.05 s per sample since the series was first shown.
  f = CollectUntil(sampler, [](const Families& f) {
    return Value(f, "pg_session_seconds_total", {{"state", "active"}}) > 0.1;
  });
  EXPECT_GT(Value(f, "pg_session_seconds_total", {{"state", "active"}}), 0.1);
  EXPECT_TRUE(testing::ValidExposition(f));
}

TEST(SamplerTest, KeepsItsScheduleWhileTheServerIsDownOrFrozenAndResumes) {
  auto server = std::make_shared<FakeServerState>();
  Sampler sampler("db", Every50ms(server));
  const auto active = [](const Families& f) {
    return Value(f, "pg_session_seconds_total", {{"state", "active"}});
  };
  const double before = active(
      CollectUntil(sampler, [&](const Families& f) { return active(f) > 0; }));
  server->down = true;
  // A try per tick, not a stall.
  Families f = CollectUntil(sampler, [](const Families& f) {
    return Value(f, "pgwarden_sampler_errors_total") >= 5;
  });
  const double errors = Value(f, "pgwarden_sampler_errors_total");
  EXPECT_GE(errors, 5);
  server->down = false;
  server->frozen = true;
  // A frozen sample takes its 200 ms deadline: the ticks it overran are
  // skipped and counted, the next ones still tried.
  f = CollectUntil(sampler, [&](const Families& f) {
    return Value(f, "pgwarden_sampler_errors_total") >= errors + 2 &&
           Value(f, "pgwarden_sampler_missed_total") >= 2;
  });
  EXPECT_GE(Value(f, "pgwarden_sampler_errors_total"), errors + 2);
  EXPECT_GE(Value(f, "pgwarden_sampler_missed_total"), 2);
  server->frozen = false;
  const double samples = Value(f, "pgwarden_sampler_samples_total");
  f = CollectUntil(sampler, [&](const Families& f) {
    return Value(f, "pgwarden_sampler_samples_total") >= samples + 3;
  });
  EXPECT_GE(Value(f, "pgwarden_sampler_samples_total"), samples + 3);
  EXPECT_GE(active(f), before);  // nothing went back
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
