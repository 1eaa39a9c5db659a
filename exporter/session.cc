#include "exporter/session.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "exporter/log.h"
#include "exporter/pg_connection.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

// ServerInfo is re-read this often even on a healthy connection: it notices
// CREATE EXTENSION pg_stat_statements and a promotion without a reconnect.
constexpr auto kServerInfoRefresh = std::chrono::seconds(60);
// After a cancel request, how long to wait for the server to answer before
// the connection is given up (a frozen server never answers).
constexpr auto kCancelGrace = std::chrono::milliseconds(300);
// Same sync segment as the statement, so the same implicit transaction: the
// setting holds for that statement only.
constexpr char kSetStatementTimeout[] =
    "SELECT set_config('statement_timeout', $1, true)";

using Result = PgConnection::Result;

// 0A000: "cached plan must not change result type"; 26000: the prepared
// statement does not exist (discarded by a connection pooler).
bool MustReprepare(const std::string& sqlstate) {
  return sqlstate == "0A000" || sqlstate == "26000";
}

QueryResult Failed(std::string why) {
  QueryResult r;
  r.error = std::move(why);
  return r;
}

// How one statement went into the pipeline.
struct Sent {
  std::string name;        // its prepared statement
  bool preparing = false;  // its Prepare is in the same sync segment
};

// The results of one sync segment (Prepare, set_config, Execute), folded
// into the statement's QueryResult.
class Segment {
 public:
  explicit Segment(bool preparing) : preparing_(preparing) {}

  void Add(Result r, bool cancelled) {
    if (r.kind == Result::Kind::kEndOfCommand) return;
    if (preparing_ && first_) prepare_ok_ = r.kind == Result::Kind::kCommandOk;
    first_ = false;
    if (r.kind == Result::Kind::kRows) {
      result_.rows = std::move(r.rows);
      have_rows_ = true;
    } else if (r.kind == Result::Kind::kError && sqlstate_.empty()) {
      sqlstate_ = r.sqlstate.empty() ? "?" : r.sqlstate;
      result_.error = cancelled && r.sqlstate == "57014"
                          ? "deadline exceeded (query cancelled)"
                          : r.message;
    }
    // kCommandOk (the Prepare) and kAborted (an Execute after a failed
    // Prepare) carry nothing more.
  }

  bool prepare_ok() const { return prepare_ok_; }
  const std::string& sqlstate() const { return sqlstate_; }

  QueryResult Take() {
    const bool failed = !sqlstate_.empty();
    result_.ok = have_rows_ && !failed;
    if (!have_rows_ && !failed) result_.error = "no result";
    return std::move(result_);
  }

 private:
  const bool preparing_;
  QueryResult result_;
  bool first_ = true;
  bool prepare_ok_ = false;
  bool have_rows_ = false;
  std::string sqlstate_;  // of the first error; "" while there is none
};

class PostgresDatabase final : public Database {
 public:
  explicit PostgresDatabase(Dsn dsn)
      : conninfo_(dsn.ConnectionString()),
        redacted_(dsn.Redacted()),
        connect_timeout_(std::chrono::seconds(
            std::max(2, std::atoi(dsn.Get("connect_timeout").c_str())))) {}

  ServerInfo Open(Clock::time_point deadline) override {
    if (!conn_) Connect(deadline);
    if (!info_read_ || Clock::now() - *info_read_ >= kServerInfoRefresh) {
      RefreshServerInfo(deadline);
    }
    return info_;
  }

  bool Run(const std::vector<Statement>& statements, Clock::time_point deadline,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    if (statements.empty()) return true;
    if (!conn_) {
      for (size_t i = 0; i < statements.size(); ++i) {
        on_result(i, Failed("not connected"));
      }
      return false;
    }
    std::vector<Sent> sent;
    const size_t deallocations = stale_.size();
    if (!Send(statements, sent)) return Lost(statements.size(), 0, on_result);
    for (size_t k = 0; k < deallocations; ++k) {
      Segment ignored(false);
      if (ReadSegment(deadline, ignored) != Read::kSynced) {
        return Lost(statements.size(), 0, on_result);
      }
    }
    auto last = Clock::now();
    for (size_t i = 0; i < statements.size(); ++i) {
      Segment segment(sent[i].preparing);
      const Read read = ReadSegment(deadline, segment);
      if (read != Read::kSynced) {
        return Lost(statements.size(), i, on_result,
                    read == Read::kAbandoned ? "deadline exceeded" : "");
      }
      Remember(statements[i].sql, sent[i], segment);
      QueryResult result = segment.Take();
      const auto now = Clock::now();
      result.seconds = std::chrono::duration<double>(now - last).count();
      last = now;
      on_result(i, std::move(result));
    }
    if (!conn_->ExitPipeline()) {
      Drop();
      return false;
    }
    return true;
  }

  uint64_t ConnectionsOpened() const override { return opened_; }

 private:
  enum class Read { kSynced, kBroken, kAbandoned };

  // Queues, in one pipeline: the deallocation of stale statements, then for
  // each statement its Prepare (first use on this connection), its
  // statement_timeout and its Execute, each statement in its own sync
  // segment. False when the connection broke.
  bool Send(const std::vector<Statement>& statements, std::vector<Sent>& sent) {
    if (!conn_->EnterPipeline()) return false;
    for (const std::string& name : stale_) {
      if (!conn_->SendQuery("DEALLOCATE " + QuoteIdent(name)) ||
          !conn_->SendSync()) {
        return false;
      }
    }
    stale_.clear();
    for (const Statement& s : statements) {
      Sent& out = sent.emplace_back();
      auto it = prepared_.find(s.sql);
      out.preparing = it == prepared_.end();
      out.name = out.preparing ? "pgwarden_" + std::to_string(++statements_)
                               : it->second;
      if ((out.preparing && !conn_->SendPrepare(out.name, s.sql)) ||
          (s.timeout_ms > 0 &&
           !conn_->SendQuery(kSetStatementTimeout,
                             {std::to_string(s.timeout_ms)})) ||
          !conn_->SendExecutePrepared(out.name) || !conn_->SendSync()) {
        return false;
      }
    }
    return conn_->Flush();
  }

  // Reads one sync segment into `segment`. A statement still running at the
  // deadline is cancelled; if the server does not answer within
  // kCancelGrace the connection is abandoned.
  Read ReadSegment(Clock::time_point deadline, Segment& segment) {
    Clock::time_point wait_until = deadline;
    bool cancelled = false;
    while (true) {
      const PgConnection::Wait wait = conn_->WaitForResult(wait_until);
      if (wait == PgConnection::Wait::kBroken) return Read::kBroken;
      if (wait == PgConnection::Wait::kTimeout) {
        if (cancelled) {
          Log(LogLevel::kWarn, "server did not answer a cancel request in " +
                                   std::to_string(kCancelGrace.count()) +
                                   "ms; dropping the connection to " +
                                   redacted_);
          return Read::kAbandoned;
        }
        conn_->RequestCancel(cancel_in_flight_);
        cancelled = true;
        wait_until = std::max(deadline, Clock::now()) + kCancelGrace;
        continue;
      }
      Result r = conn_->NextResult();
      if (r.kind == Result::Kind::kSync) return Read::kSynced;
      segment.Add(std::move(r), cancelled);
    }
  }

  // Keeps the statement prepared if its Prepare worked; forgets it when it
  // no longer fits (a view changed its columns) or a pooler discarded it,
  // so that it is prepared anew next time.
  void Remember(const std::string& sql, const Sent& sent,
                const Segment& segment) {
    if (sent.preparing && segment.prepare_ok()) {
      prepared_.emplace(sql, sent.name);
    } else if (!sent.preparing && MustReprepare(segment.sqlstate())) {
      stale_.push_back(sent.name);
      prepared_.erase(sql);
    }
  }

  // Reports statements [from, n) as failed and drops the connection.
  bool Lost(size_t n, size_t from,
            const std::function<void(size_t, QueryResult)>& on_result,
            std::string why = "") {
    if (why.empty()) why = "connection lost: " + conn_->LastError();
    Drop();
    for (size_t i = from; i < n; ++i) on_result(i, Failed(why));
    return false;
  }

  void Connect(Clock::time_point deadline) {
    const auto until = std::min(deadline, Clock::now() + connect_timeout_);
    try {
      conn_ = PgConnection::Open(conninfo_, until);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot connect to " + redacted_ + ": " +
                               e.what());
    }
    ++opened_;
    info_read_.reset();
    Log(LogLevel::kInfo, "connected to " + redacted_ + " (backend pid " +
                             std::to_string(conn_->BackendPid()) + ")");
  }

  void RefreshServerInfo(Clock::time_point deadline) {
    std::optional<QueryResult> got;
    Run({{kServerInfoQuery}}, deadline,
        [&](size_t, QueryResult r) { got = std::move(r); });
    std::string why = !got ? "no answer" : got->error;
    if (got && got->ok) {
      try {
        info_ = ParseServerInfo(got->rows);
        info_read_ = Clock::now();
        return;
      } catch (const std::exception& e) {
        why = e.what();
      }
    }
    Drop();
    throw std::runtime_error("cannot read server version from " + redacted_ +
                             ": " + why);
  }

  void Drop() {
    prepared_.clear();
    stale_.clear();
    conn_.reset();
  }

  const std::string conninfo_;  // contains the password: never log it
  const std::string redacted_;
  const Clock::duration connect_timeout_;
  std::unique_ptr<PgConnection> conn_;
  ServerInfo info_;
  std::optional<Clock::time_point> info_read_;
  uint64_t opened_ = 0;
  // Per connection: statement text -> prepared statement name.
  std::unordered_map<std::string, std::string> prepared_;
  std::vector<std::string> stale_;  // to deallocate in the next pipeline
  uint64_t statements_ = 0;
  // Across reconnects: a cancel request stuck on a frozen server is not
  // joined by another.
  std::shared_ptr<std::atomic<bool>> cancel_in_flight_ =
      std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

std::unique_ptr<Database> NewPostgresDatabase(Dsn dsn) {
  return std::make_unique<PostgresDatabase>(std::move(dsn));
}

}  // namespace pgwarden
