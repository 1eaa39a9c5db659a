#pragma once

#include <functional>
#include <memory>
#include <string>

#include "exporter/database.h"
#include "exporter/metrics.h"
#include "exporter/samples.h"

namespace pgwarden {

struct SamplerOptions {
  // Time between samples; zero turns the sampler off.
  Clock::duration interval = std::chrono::seconds(1);
  SampleLimits limits;
  // Opens the sampler's own connection (the target's database and session
  // settings). Without it there is no sampler.
  std::function<std::unique_ptr<Database>()> open;
};

// A target's activity sampler: on its own thread and its own connection,
// one ActivitySampleQuery every interval on a fixed schedule (a slow
// sample skips the ticks it overran, counted as missed), each sample added
// to the target's ActivityCounters. A sample that fails (the server is
// down, frozen or full) is counted and logged once per change of error;
// the next tick connects again. Neither a scrape nor a sample ever waits
// for the other: scrapes read the counters under a lock that samples hold
// only to add one.
class Sampler {
 public:
  // Starts sampling `name` (a redacted DSN, for logs).
  Sampler(std::string name, SamplerOptions options);
  // Stops; a sample in flight finishes on its own (within its deadline).
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // The activity families and the sampler's own (pgwarden_sampler_*).
  Families Collect();

  // Connections the sampler has opened (1 + reconnects) and holds now.
  uint64_t ConnectionsOpened() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace pgwarden
