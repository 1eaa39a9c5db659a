#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "exporter/rows.h"

namespace pgwarden {

// One connection to PostgreSQL, and the project's one seam to its client
// libraries: no other file includes libpq-fe.h for a connection, or
// libpqxx. libpqxx opens and owns the connection, through a connection
// policy that drives libpq's non-blocking connect so that connecting never
// waits past a deadline. Pipeline mode and cancel requests, which libpqxx
// 6.4 does not offer, use libpq directly on the handle libpqxx opened (see
// docs/architecture.md). Used by one thread at a time.
class PgConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects per `conninfo` (libpq key=value; it carries the password and
  // the session settings). Throws std::runtime_error with libpq's reason,
  // scrubbed of the password, when the server refuses or `deadline` passes
  // first.
  static std::unique_ptr<PgConnection> Open(const std::string& conninfo,
                                            Clock::time_point deadline);
  ~PgConnection();  // closes the socket: the server ends the backend
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  int BackendPid() const;
  // libpq's last error message for this connection, trailing newline cut.
  std::string LastError() const;

  // Pipeline mode: queue commands, flush them in one write, then read each
  // command's results in order. Every Send returns false when the
  // connection is broken.
  bool EnterPipeline();
  // False when results are still pending or the connection broke.
  bool ExitPipeline();
  bool SendPrepare(const std::string& name, const std::string& sql);
  bool SendExecutePrepared(const std::string& name);
  // `sql` with text parameters $1, $2, ..., through the extended protocol
  // (pipeline mode allows no other), unprepared.
  bool SendQuery(const std::string& sql,
                 const std::vector<std::string>& params = {});
  bool SendSync();
  bool Flush();

  enum class Wait { kReady, kTimeout, kBroken };
  // Reads input until a result can be taken without blocking, or until
  // `deadline`.
  Wait WaitForResult(Clock::time_point deadline);

  // One result from the pipeline; take it only after Wait::kReady.
  struct Result {
    enum class Kind {
      kEndOfCommand,  // the current command has no more results
      kSync,          // the end of a sync segment
      kRows,
      kCommandOk,  // a command without rows (PREPARE, DEALLOCATE, SET)
      kError,
      kAborted,  // skipped: an earlier command of its segment failed
    };
    Kind kind = Kind::kEndOfCommand;
    Rows rows;             // kRows
    std::string sqlstate;  // kError
    std::string message;   // kError, trailing newline cut
  };
  Result NextResult();

  // Asks the server to cancel the statement it is running. libpq's cancel
  // opens a new connection to the postmaster and blocks until it answers,
  // which never happens while the server is frozen, so it runs on a
  // detached thread; at most one per `in_flight` flag (which the caller
  // keeps across reconnects) is under way.
  void RequestCancel(const std::shared_ptr<std::atomic<bool>>& in_flight);

 private:
  struct Impl;
  explicit PgConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgwarden
