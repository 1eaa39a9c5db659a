#include "exporter/session.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <memory>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "exporter/log.h"

namespace pgwarden {
namespace {

// ServerInfo is re-read this often even on a healthy connection: it notices
// CREATE EXTENSION pg_stat_statements and a promotion without a reconnect.
constexpr auto kServerInfoRefresh = std::chrono::seconds(60);
// After a cancel request, how long to wait for the server to answer before
// the connection is given up (a frozen server never answers).
constexpr auto kCancelGrace = std::chrono::milliseconds(300);

constexpr char kServerInfoQuery[] = R"sql(
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       pg_is_in_recovery() AS in_recovery,
       current_database() AS database,
       (SELECT n.nspname FROM pg_extension e
          JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements') AS pgss_schema,
       (SELECT extversion FROM pg_extension
        WHERE extname = 'pg_stat_statements') AS pgss_version,
       coalesce((SELECT 'pg_stat_statements' = ANY(string_to_array(
                    replace(setting, ' ', ''), ','))
                 FROM pg_settings WHERE name = 'shared_preload_libraries'),
                true) AS pgss_preloaded)sql";

// libpqxx keeps its PGconn private. A connection policy sees the handle as
// the connection is made; this one hands it to the constructing thread.
thread_local pqxx::connectionpolicy::handle captured_handle = nullptr;

class CapturingPolicy : public pqxx::connect_direct {
 public:
  explicit CapturingPolicy(const std::string& options)
      : pqxx::connect_direct(options) {}
  handle do_startconnect(handle orig) override {
    handle h = pqxx::connect_direct::do_startconnect(orig);
    captured_handle = h;
    return h;
  }
};
using Connection = pqxx::basic_connection_base<CapturingPolicy>;

// "1.10" -> 11000.
int ParseExtensionVersion(const std::string& text) {
  int major = 0, minor = 0;
  if (std::sscanf(text.c_str(), "%d.%d", &major, &minor) < 1) return 0;
  return major * 10000 + minor * 100;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Rows ToRows(const PGresult* res) {
  const int ncols = PQnfields(res);
  std::vector<std::string> columns;
  columns.reserve(static_cast<size_t>(ncols));
  for (int c = 0; c < ncols; ++c) columns.emplace_back(PQfname(res, c));
  Rows rows(std::move(columns));
  const int nrows = PQntuples(res);
  for (int r = 0; r < nrows; ++r) {
    Rows::Row row;
    row.reserve(static_cast<size_t>(ncols));
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(res, r, c),
                                     static_cast<size_t>(PQgetlength(res, r, c))));
      }
    }
    rows.Add(std::move(row));
  }
  return rows;
}

using ResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

class PostgresDatabase final : public Database {
 public:
  explicit PostgresDatabase(Dsn dsn)
      : connection_string_(dsn.ConnectionString()),
        redacted_(dsn.Redacted()),
        base_connect_timeout_(std::max(2, std::atoi(dsn.Get("connect_timeout").c_str()))) {}

  ~PostgresDatabase() override { Drop(); }

  ServerInfo Prepare(Clock::time_point deadline) override {
    if (!conn_) Connect(deadline);
    if (!info_valid_ || Clock::now() - info_read_ >= kServerInfoRefresh) {
      ReadServerInfo(deadline);
    }
    return info_;
  }

  bool Run(const std::vector<std::string>& queries, const std::vector<int>& timeouts_ms,
           Clock::time_point deadline,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    if (queries.empty()) return true;
    if (!pg_) {
      for (size_t i = 0; i < queries.size(); ++i) on_result(i, Failed("not connected"));
      return false;
    }
    if (PQenterPipelineMode(pg_) != 1) return Lost(queries.size(), 0, on_result);
    // Statements are prepared once per connection: the server then plans
    // each collector's query once instead of on every scrape. A query's
    // Prepare and Execute share one sync segment, so a failed Prepare
    // aborts only its own Execute.
    std::vector<std::string> names(queries.size());
    std::vector<bool> preparing(queries.size(), false);
    for (size_t i = 0; i < queries.size(); ++i) {
      auto it = prepared_.find(queries[i]);
      if (it == prepared_.end()) {
        names[i] = "pgwarden_" + std::to_string(++statement_counter_);
        preparing[i] = true;
        if (PQsendPrepare(pg_, names[i].c_str(), queries[i].c_str(), 0, nullptr) != 1) {
          return Lost(queries.size(), 0, on_result);
        }
      } else {
        names[i] = it->second;
      }
      if (i < timeouts_ms.size() && timeouts_ms[i] > 0) {
        // Same sync segment, same implicit transaction: the setting holds
        // for this query only.
        const std::string ms = std::to_string(timeouts_ms[i]);
        const char* values[] = {ms.c_str()};
        if (PQsendQueryParams(pg_, "SELECT set_config('statement_timeout', $1, true)", 1,
                              nullptr, values, nullptr, nullptr, 0) != 1) {
          return Lost(queries.size(), 0, on_result);
        }
      }
      if (PQsendQueryPrepared(pg_, names[i].c_str(), 0, nullptr, nullptr, nullptr, 0) != 1 ||
          PQpipelineSync(pg_) != 1) {
        return Lost(queries.size(), 0, on_result);
      }
    }
    if (PQflush(pg_) != 0) return Lost(queries.size(), 0, on_result);

    auto last = Clock::now();
    for (size_t i = 0; i < queries.size(); ++i) {
      // Each query yields its results (the Prepare's, if sent, then the
      // Execute's), each followed by NULL, then the sync marker. A query
      // still running at the deadline is cancelled; if the server does not
      // answer within the grace period the connection is abandoned.
      QueryResult result;
      bool have_rows = false, have_error = false, cancel_sent = false;
      bool first_result = true, prepare_ok = false;
      std::string error_state;
      Clock::time_point wait_until = deadline;
      while (true) {
        const Wait w = WaitReadable(wait_until);
        if (w == Wait::kBroken) return Lost(queries.size(), i, on_result);
        if (w == Wait::kTimeout) {
          if (cancel_sent) {
            Log(LogLevel::kWarn, "server did not answer a cancel request in " +
                                     std::to_string(kCancelGrace.count()) +
                                     "ms; dropping the connection to " + redacted_);
            return Lost(queries.size(), i, on_result, "deadline exceeded");
          }
          SendCancel();
          cancel_sent = true;
          wait_until = std::max(deadline, Clock::now()) + kCancelGrace;
          continue;
        }
        ResultPtr res(PQgetResult(pg_), PQclear);
        if (!res) continue;  // end of one command's results
        const ExecStatusType status = PQresultStatus(res.get());
        if (status == PGRES_PIPELINE_SYNC) break;
        if (preparing[i] && first_result) prepare_ok = status == PGRES_COMMAND_OK;
        first_result = false;
        if (status == PGRES_TUPLES_OK) {
          result.rows = ToRows(res.get());
          have_rows = true;
        } else if (status == PGRES_FATAL_ERROR && !have_error) {
          have_error = true;
          const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
          error_state = state ? state : "";
          result.error = Trim(PQresultErrorMessage(res.get()));
          if (cancel_sent && error_state == "57014") {
            result.error = "deadline exceeded (query cancelled)";
          }
        }
        // PGRES_COMMAND_OK (the Prepare) and PGRES_PIPELINE_ABORTED (an
        // Execute after a failed Prepare) carry nothing more.
      }
      if (preparing[i] && prepare_ok) prepared_.emplace(queries[i], names[i]);
      if (!preparing[i] && have_error && MustReprepare(error_state)) {
        // The statement no longer fits (e.g. a view changed its columns) or
        // a pooler discarded it: prepare anew next time.
        stale_.push_back(names[i]);
        prepared_.erase(queries[i]);
      }
      result.ok = have_rows && !have_error;
      if (!have_rows && !have_error) result.error = "no result";
      const auto now = Clock::now();
      result.seconds = std::chrono::duration<double>(now - last).count();
      last = now;
      on_result(i, std::move(result));
    }
    if (PQexitPipelineMode(pg_) != 1) {
      Drop();
      return false;
    }
    DeallocateStale();
    return true;
  }

  uint64_t ConnectionsOpened() const override { return opened_; }

 private:
  enum class Wait { kReady, kTimeout, kBroken };

  // 0A000: "cached plan must not change result type"; 26000: the prepared
  // statement does not exist (discarded by a connection pooler).
  static bool MustReprepare(const std::string& state) {
    return state == "0A000" || state == "26000";
  }

  // Frees statements that can no longer be used; best effort, outside
  // pipeline mode, bounded by the statement timeout of the session.
  void DeallocateStale() {
    for (const std::string& name : stale_) {
      PQclear(PQexec(pg_, ("DEALLOCATE " + name).c_str()));
    }
    stale_.clear();
  }

  static QueryResult Failed(std::string why) {
    QueryResult r;
    r.error = std::move(why);
    return r;
  }

  // Reports queries [from, n) as failed and drops the connection.
  bool Lost(size_t n, size_t from,
            const std::function<void(size_t, QueryResult)>& on_result,
            std::string why = "") {
    if (why.empty()) {
      why = "connection lost: " + Trim(pg_ ? PQerrorMessage(pg_) : "");
    }
    Drop();
    for (size_t i = from; i < n; ++i) on_result(i, Failed(why));
    return false;
  }

  // Consumes input until a result can be read without blocking.
  Wait WaitReadable(Clock::time_point deadline) {
    while (true) {
      if (PQconsumeInput(pg_) != 1) return Wait::kBroken;
      if (!PQisBusy(pg_)) return Wait::kReady;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      if (left.count() <= 0) return Wait::kTimeout;
      pollfd pfd{PQsocket(pg_), POLLIN, 0};
      const int n = poll(&pfd, 1, static_cast<int>(left.count()) + 1);
      if (n < 0 && errno != EINTR) return Wait::kBroken;
    }
  }

  // PQcancel opens a new connection to the postmaster and waits for it,
  // which never returns while the server is frozen: run it on its own
  // thread, at most one at a time per target.
  void SendCancel() {
    if (cancel_in_flight_->exchange(true)) return;
    PGcancel* cancel = PQgetCancel(pg_);
    if (!cancel) {
      *cancel_in_flight_ = false;
      return;
    }
    std::thread([cancel, flag = cancel_in_flight_] {
      char err[256];
      PQcancel(cancel, err, sizeof(err));
      PQfreeCancel(cancel);
      *flag = false;
    }).detach();
  }

  void Connect(Clock::time_point deadline) {
    // libpq's connect_timeout (at least 2 s) bounds a server that accepts
    // the TCP connection but never answers.
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(
        deadline - Clock::now()).count();
    const int timeout = static_cast<int>(std::clamp<long>(left, 2, base_connect_timeout_));
    std::string conninfo = connection_string_ +
                           " connect_timeout=" + std::to_string(timeout);
    try {
      captured_handle = nullptr;
      conn_ = std::make_unique<Connection>(conninfo);
      pg_ = captured_handle;
      captured_handle = nullptr;
    } catch (const std::exception& e) {
      conn_.reset();
      pg_ = nullptr;
      throw std::runtime_error("cannot connect to " + redacted_ + ": " +
                               ScrubSecrets(Trim(e.what()), connection_string_));
    }
    if (!pg_ || PQstatus(pg_) != CONNECTION_OK) {
      Drop();
      throw std::runtime_error("cannot connect to " + redacted_);
    }
    ++opened_;
    info_valid_ = false;
    Log(LogLevel::kInfo, "connected to " + redacted_ + " (backend pid " +
                             std::to_string(PQbackendPID(pg_)) + ")");
  }

  void ReadServerInfo(Clock::time_point deadline) {
    std::optional<QueryResult> got;
    Run({kServerInfoQuery}, {}, deadline,
        [&](size_t, QueryResult r) { got = std::move(r); });
    if (!got || !got->ok || got->rows.size() != 1) {
      const std::string why = got ? got->error : "no answer";
      Drop();
      throw std::runtime_error("cannot read server version from " + redacted_ +
                               ": " + why);
    }
    RowView row(got->rows, 0);
    ServerInfo info;
    info.version_num = static_cast<int>(row.NumberOr("version_num", 0));
    info.version = row.Text("version");
    info.in_recovery = row.NumberOr("in_recovery", 0) != 0;
    info.database = row.Text("database");
    info.pgss_schema = row.Text("pgss_schema");
    info.pgss_version_num = ParseExtensionVersion(row.Text("pgss_version"));
    info.pgss_available = row.Get("pgss_schema").has_value() &&
                          row.NumberOr("pgss_preloaded", 0) != 0;
    info_ = info;
    info_read_ = Clock::now();
    info_valid_ = true;
  }

  void Drop() {
    prepared_.clear();
    stale_.clear();
    pg_ = nullptr;
    conn_.reset();  // closes the socket: the server ends our backend
  }

  const std::string connection_string_;
  const std::string redacted_;
  const int base_connect_timeout_;
  std::unique_ptr<Connection> conn_;
  PGconn* pg_ = nullptr;  // owned by conn_
  ServerInfo info_;
  Clock::time_point info_read_;
  bool info_valid_ = false;
  uint64_t opened_ = 0;
  // Per connection: query text -> prepared statement name.
  std::unordered_map<std::string, std::string> prepared_;
  std::vector<std::string> stale_;
  uint64_t statement_counter_ = 0;
  std::shared_ptr<std::atomic<bool>> cancel_in_flight_ =
      std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

std::unique_ptr<Database> NewPostgresDatabase(Dsn dsn) {
  return std::make_unique<PostgresDatabase>(std::move(dsn));
}

}  // namespace pgwarden
