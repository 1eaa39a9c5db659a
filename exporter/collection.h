#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "exporter/database.h"
#include "exporter/metrics.h"

namespace pgwarden {

// What one collector contributed to a collection.
struct Outcome {
  // kNotYet: a per-database collector before its first visit; it reports
  // nothing, neither success nor failure.
  enum class State { kPending, kOk, kFailed, kNotYet } state = State::kPending;
  // Served whenever set, even when failed: a per-database collector that
  // failed in some databases still serves the others' rows.
  std::shared_ptr<const Families> families;
  // Served after `families`: a per-database collector's share of each
  // family from each database (text.h: consecutive parts of one family).
  std::vector<std::shared_ptr<const Families>> parts;
  Clock::time_point fetched;  // when its rows were read
  double seconds = 0;         // query and parse time
  std::string error;          // when kFailed
};

// One round of queries against a target, shared by every scrape that
// arrives while it runs (single-flight). The collecting thread fills it in;
// scrapes read it when it is done or when their deadline passes, whichever
// comes first. Thread-safe.
class Collection {
 public:
  explicit Collection(size_t collectors);

  // The collecting thread's side.
  void Connected(const ServerInfo& server);
  // The connection or server info failed: every collector fails with it.
  void ConnectionFailed(const std::string& error);
  // The connection broke during the batch: the target is down.
  void ConnectionLost();
  void Set(size_t collector, Outcome outcome);
  // Marks the collection complete and wakes the scrapes waiting on it.
  void Finish();

  // What a scrape sees.
  struct Snapshot {
    bool done = false;
    // The server answered the connection and version query; a collector
    // that ran out of time is that collector's failure, not the server's.
    bool up = false;
    std::optional<ServerInfo> server;
    std::string error;  // connection-level failure
    std::vector<Outcome> outcomes;
    Clock::time_point started;
    double seconds = 0;  // the whole collection's, or the wait's if not done
  };
  // Waits until the collection is done or `deadline` passes.
  Snapshot WaitUntil(Clock::time_point deadline) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Snapshot state_;
};

}  // namespace pgwarden
