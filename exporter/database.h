#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "exporter/rows.h"

namespace pgwarden {

using Clock = std::chrono::steady_clock;

struct QueryResult {
  bool ok = false;
  Rows rows;
  std::string error;     // why it failed; never contains a password
  double seconds = 0;    // time until this result arrived after the previous
};

// One monitored server's connection. Used by one thread at a time (the
// engine's single-flight guarantees it); implementations need not lock.
class Database {
 public:
  virtual ~Database() = default;

  // Connects unless connected, and (re)reads ServerInfo on a new connection
  // or when the last read is older than the refresh interval. Throws
  // std::runtime_error with a reason that never contains the password.
  // Gives up by `deadline`.
  virtual ServerInfo Prepare(Clock::time_point deadline) = 0;

  // Runs the queries in order, each in its own implicit transaction (one
  // failing does not affect the others), and calls on_result(i, result) as
  // each completes. timeouts_ms[i] > 0 gives query i its own
  // statement_timeout (missing entries: the session's). Statements still running at `deadline` are cancelled on
  // the server and reported as failed. Returns false if the connection was
  // lost or abandoned; the next Prepare() reconnects.
  virtual bool Run(const std::vector<std::string>& queries,
                   const std::vector<int>& timeouts_ms, Clock::time_point deadline,
                   const std::function<void(size_t, QueryResult)>& on_result) = 0;

  // Connections successfully opened so far (1 + reconnects).
  virtual uint64_t ConnectionsOpened() const = 0;
};

}  // namespace pgwarden
