#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "exporter/rows.h"
#include "exporter/server_info.h"

namespace pgwarden {

using Clock = std::chrono::steady_clock;

// One SQL statement to run.
struct Statement {
  std::string sql;
  int timeout_ms = 0;  // > 0: its own statement_timeout; 0: the session's
};

struct QueryResult {
  bool ok = false;
  Rows rows;
  std::string error;   // why it failed; never contains a password
  double seconds = 0;  // time until this result arrived after the previous
};

// The seam between the engine and one PostgreSQL database: tests use fakes,
// exporter/session.cc talks to a server. Used by one thread at a time (a
// target's single-flight guarantees it); implementations need not lock.
class Database {
 public:
  virtual ~Database() = default;

  // Connects unless connected, and (re)reads the ServerInfo on a new
  // connection or when the last read is older than the refresh interval.
  // Throws std::runtime_error with a reason that never contains the
  // password. Gives up by `deadline`.
  virtual ServerInfo Open(Clock::time_point deadline) = 0;

  // Runs the statements in order, each in its own implicit transaction (one
  // failing does not affect the others), and calls on_result(i, result) as
  // each completes. Statements still running at `deadline` are cancelled on
  // the server and reported as failed. Returns false if the connection was
  // lost or abandoned; the next Open() reconnects.
  virtual bool Run(
      const std::vector<Statement>& statements, Clock::time_point deadline,
      const std::function<void(size_t, QueryResult)>& on_result) = 0;

  // Connections successfully opened so far (1 + reconnects).
  virtual uint64_t ConnectionsOpened() const = 0;
};

}  // namespace pgwarden
