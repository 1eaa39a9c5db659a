#include "exporter/sampler.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "exporter/log.h"

namespace pgwarden {
namespace {

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

struct Sampler::State {
  State(std::string target, SamplerOptions o)
      : name(std::move(target)),
        interval(o.interval),
        open(std::move(o.open)),
        counters(Seconds(o.interval), o.limits) {}

  // The sampling thread's loop, until `stop`.
  void Run();
  // One sample at `start`; returns the error, "" when it was added.
  std::string SampleOnce(Clock::time_point start);

  const std::string name;
  const Clock::duration interval;
  const std::function<std::unique_ptr<Database>()> open;
  std::unique_ptr<Database> database;  // the sampling thread's only
  std::string last_error;              // the sampling thread's only
  std::atomic<uint64_t> connections_opened{0};

  std::mutex mu;  // guards everything below
  std::condition_variable wake;
  bool stop = false;
  ActivityCounters counters;
  uint64_t samples = 0, errors = 0, missed = 0;
  double duration_total = 0, last_duration = 0, lag = 0;
};

std::string Sampler::State::SampleOnce(Clock::time_point start) {
  // Half an interval leaves room for a cancel to land before the next tick.
  const Clock::time_point deadline =
      start +
      std::max<Clock::duration>(interval / 2, std::chrono::milliseconds(200));
  if (!database) database = open();
  std::string error;
  try {
    const ServerInfo server = database->Open(deadline);
    QueryResult result;
    database->Run({Statement{ActivitySampleQuery(server)}}, deadline,
                  [&](size_t, QueryResult r) { result = std::move(r); });
    if (!result.ok) {
      error = result.error.empty() ? "no result" : result.error;
    } else {
      const ActivitySample sample = ParseActivitySample(result.rows);
      std::lock_guard<std::mutex> lock(mu);
      counters.Add(sample);
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  connections_opened = database->ConnectionsOpened();
  return error;
}

void Sampler::State::Run() {
  Clock::time_point next = Clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      wake.wait_until(lock, next, [&] { return stop; });
      if (stop) return;
    }
    const Clock::time_point start = Clock::now();
    const std::string error = SampleOnce(start);
    const Clock::time_point end = Clock::now();
    // Ticks a slow sample overran are skipped, not run late in a burst.
    uint64_t skipped = 0;
    next += interval;
    while (next <= end) {
      next += interval;
      ++skipped;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      (error.empty() ? samples : errors) += 1;
      missed += skipped;
      last_duration = Seconds(end - start);
      duration_total += last_duration;
      lag = Seconds(start - (next - interval * (skipped + 1)));
    }
    if (error != last_error) {
      if (!error.empty()) {
        Log(LogLevel::kError, "activity sampler of " + name + ": " + error);
      } else {
        Log(LogLevel::kInfo, "activity sampler of " + name + " recovered");
      }
      last_error = error;
    }
  }
}

Sampler::Sampler(std::string name, SamplerOptions options)
    : state_(std::make_shared<State>(std::move(name), std::move(options))) {
  // The thread holds its own reference: a sample stuck on a frozen server
  // finishes (by its deadline) after the Sampler is gone.
  std::thread([s = state_] { s->Run(); }).detach();
}

Sampler::~Sampler() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_all();
}

uint64_t Sampler::ConnectionsOpened() const {
  return state_->connections_opened;
}

Families Sampler::Collect() {
  std::lock_guard<std::mutex> lock(state_->mu);
  Families out = state_->counters.Collect();
  using prometheus::MetricType;
  const auto add = [&out](const char* name, const char* help, MetricType type,
                          double value) {
    FamilyBuilder(name, help, type).Add(value).MoveTo(out);
  };
  const State& s = *state_;
  add("pgwarden_sampler_interval_seconds",
      "Time between activity samples (--sample_interval).", MetricType::Gauge,
      Seconds(s.interval));
  add("pgwarden_sampler_samples_total", "Activity samples taken.",
      MetricType::Counter, static_cast<double>(s.samples));
  add("pgwarden_sampler_errors_total",
      "Activity samples that failed (no connection, timeout, error).",
      MetricType::Counter, static_cast<double>(s.errors));
  add("pgwarden_sampler_missed_total",
      "Scheduled samples skipped because the one before overran its slot.",
      MetricType::Counter, static_cast<double>(s.missed));
  add("pgwarden_sampler_duration_seconds_total",
      "Time spent taking activity samples, failed ones included.",
      MetricType::Counter, s.duration_total);
  add("pgwarden_sampler_last_duration_seconds",
      "Time the last activity sample took.", MetricType::Gauge,
      s.last_duration);
  add("pgwarden_sampler_lag_seconds",
      "How late the last activity sample started after its scheduled time.",
      MetricType::Gauge, s.lag);
  add("pgwarden_sampler_connections_opened_total",
      "Connections the activity sampler opened (1 + reconnects).",
      MetricType::Counter, static_cast<double>(s.connections_opened.load()));
  return out;
}

}  // namespace pgwarden
