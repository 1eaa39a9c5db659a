#include "exporter/collection.h"

namespace pgwarden {

Collection::Collection(size_t collectors) {
  state_.outcomes.resize(collectors);
  state_.started = Clock::now();
}

void Collection::Connected(const ServerInfo& server) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.up = true;
  state_.server = server;
}

void Collection::ConnectionFailed(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.error = error;
  for (auto& o : state_.outcomes) {
    o.state = Outcome::State::kFailed;
    o.error = error;
  }
}

void Collection::ConnectionLost() {
  std::lock_guard<std::mutex> lock(mu_);
  state_.up = false;
}

void Collection::Set(size_t collector, Outcome outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.outcomes[collector] = std::move(outcome);
}

void Collection::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.seconds =
        std::chrono::duration<double>(Clock::now() - state_.started).count();
    state_.done = true;
  }
  cv_.notify_all();
}

Collection::Snapshot Collection::WaitUntil(Clock::time_point deadline) const {
  const auto waiting_since = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return state_.done; });
  Snapshot s = state_;
  if (!s.done) {
    s.seconds =
        std::chrono::duration<double>(Clock::now() - waiting_since).count();
  }
  return s;
}

}  // namespace pgwarden
