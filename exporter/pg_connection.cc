#include "exporter/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <pqxx/connection>
#include <pqxx/except>
#include <stdexcept>
#include <thread>

#include "exporter/dsn.h"

namespace pgwarden {
namespace {

using Clock = PgConnection::Clock;

std::string TrimEnd(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Waits until `fd` is ready for `events` or `deadline` passes; false on
// timeout. EINTR restarts the wait.
bool WaitSocket(int fd, short events, Clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, events, 0};
    const int n = poll(&pfd, 1, static_cast<int>(left.count()) + 1);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let libpq report the error
  }
}

// A libpqxx connection policy for libpq's non-blocking connect: PQconnectStart
// in do_startconnect, then PQconnectPoll, waiting on the socket no later than
// the deadline, in do_completeconnect. It remembers the handle it made: the
// seam through which pipeline mode and cancel reach libpq.
class DeadlinePolicy final : public pqxx::connectionpolicy {
 public:
  DeadlinePolicy(const std::string& conninfo, Clock::time_point deadline)
      : pqxx::connectionpolicy(conninfo), deadline_(deadline) {}

  handle do_startconnect(handle orig) override {
    if (orig) return orig;
    handle h = PQconnectStart(options().c_str());
    if (!h) throw std::bad_alloc();
    if (PQstatus(h) == CONNECTION_BAD) {
      const std::string why = PQerrorMessage(h);
      PQfinish(h);
      throw pqxx::broken_connection(why);
    }
    return handle_ = h;
  }

  handle do_completeconnect(handle h) override {
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK) {
      if (status == PGRES_POLLING_FAILED) {
        throw pqxx::broken_connection(PQerrorMessage(h));
      }
      const short events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      if (!WaitSocket(PQsocket(h), events, deadline_)) {
        throw pqxx::broken_connection("timeout expired");
      }
      status = PQconnectPoll(h);
    }
    return handle_ = h;
  }

  handle do_disconnect(handle orig) noexcept override {
    handle_ = nullptr;
    return pqxx::connectionpolicy::do_disconnect(orig);
  }

  PGconn* pg() const { return handle_; }

 private:
  const Clock::time_point deadline_;
  PGconn* handle_ = nullptr;
};

// What pqxx::connection is for connect_direct, for DeadlinePolicy: libpqxx's
// basic_connection_base builds its policy from the options string alone, so
// this class embeds one that also knows the deadline. pgwarden never runs a
// statement through libpqxx on a broken connection, so libpqxx's automatic
// reactivation never starts: a lost connection is dropped and a new one
// opened.
class DeadlineConnection final : public pqxx::connection_base {
 public:
  DeadlineConnection(const std::string& conninfo, Clock::time_point deadline)
      : pqxx::connection_base(policy_), policy_(conninfo, deadline) {
    init();
  }
  ~DeadlineConnection() { close(); }

  PGconn* pg() const { return policy_.pg(); }

 private:
  DeadlinePolicy policy_;
};

Rows ToRows(const PGresult* res) {
  const int ncols = PQnfields(res);
  std::vector<std::string> columns;
  columns.reserve(static_cast<size_t>(ncols));
  for (int c = 0; c < ncols; ++c) columns.emplace_back(PQfname(res, c));
  Rows rows(std::move(columns));
  const int nrows = PQntuples(res);
  rows.Reserve(static_cast<size_t>(nrows));
  for (int r = 0; r < nrows; ++r) {
    Rows::Row row;
    row.reserve(static_cast<size_t>(ncols));
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(
            std::string(PQgetvalue(res, r, c),
                        static_cast<size_t>(PQgetlength(res, r, c))));
      }
    }
    rows.Add(std::move(row));
  }
  return rows;
}

}  // namespace

struct PgConnection::Impl {
  DeadlineConnection connection;
  PGconn* pg;  // owned by `connection`
  Impl(const std::string& conninfo, Clock::time_point deadline)
      : connection(conninfo, deadline), pg(connection.pg()) {}
};

PgConnection::PgConnection(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

PgConnection::~PgConnection() = default;

std::unique_ptr<PgConnection> PgConnection::Open(const std::string& conninfo,
                                                 Clock::time_point deadline) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(conninfo, deadline);
  } catch (const std::exception& e) {
    throw std::runtime_error(ScrubSecrets(TrimEnd(e.what()), conninfo));
  }
  if (!impl->pg || PQstatus(impl->pg) != CONNECTION_OK) {
    throw std::runtime_error("connection not established");
  }
  return std::unique_ptr<PgConnection>(new PgConnection(std::move(impl)));
}

int PgConnection::BackendPid() const { return PQbackendPID(impl_->pg); }

std::string PgConnection::LastError() const {
  return TrimEnd(PQerrorMessage(impl_->pg));
}

bool PgConnection::EnterPipeline() {
  return PQenterPipelineMode(impl_->pg) == 1;
}

bool PgConnection::ExitPipeline() { return PQexitPipelineMode(impl_->pg) == 1; }

bool PgConnection::SendPrepare(const std::string& name,
                               const std::string& sql) {
  return PQsendPrepare(impl_->pg, name.c_str(), sql.c_str(), 0, nullptr) == 1;
}

bool PgConnection::SendExecutePrepared(const std::string& name) {
  return PQsendQueryPrepared(impl_->pg, name.c_str(), 0, nullptr, nullptr,
                             nullptr, 0) == 1;
}

bool PgConnection::SendQuery(const std::string& sql,
                             const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  return PQsendQueryParams(impl_->pg, sql.c_str(),
                           static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0) == 1;
}

bool PgConnection::SendSync() { return PQpipelineSync(impl_->pg) == 1; }

bool PgConnection::Flush() { return PQflush(impl_->pg) == 0; }

PgConnection::Wait PgConnection::WaitForResult(Clock::time_point deadline) {
  while (true) {
    if (PQconsumeInput(impl_->pg) != 1) return Wait::kBroken;
    if (!PQisBusy(impl_->pg)) return Wait::kReady;
    if (!WaitSocket(PQsocket(impl_->pg), POLLIN, deadline)) {
      return Wait::kTimeout;
    }
  }
}

PgConnection::Result PgConnection::NextResult() {
  Result out;
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQgetResult(impl_->pg),
                                                     PQclear);
  if (!res) return out;  // kEndOfCommand
  switch (PQresultStatus(res.get())) {
    case PGRES_PIPELINE_SYNC:
      out.kind = Result::Kind::kSync;
      break;
    case PGRES_TUPLES_OK:
      out.kind = Result::Kind::kRows;
      out.rows = ToRows(res.get());
      break;
    case PGRES_COMMAND_OK:
      out.kind = Result::Kind::kCommandOk;
      break;
    case PGRES_PIPELINE_ABORTED:
      out.kind = Result::Kind::kAborted;
      break;
    default: {
      out.kind = Result::Kind::kError;
      const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
      out.sqlstate = state ? state : "";
      out.message = TrimEnd(PQresultErrorMessage(res.get()));
    }
  }
  return out;
}

void PgConnection::RequestCancel(
    const std::shared_ptr<std::atomic<bool>>& in_flight) {
  if (in_flight->exchange(true)) return;
  PGcancel* cancel = PQgetCancel(impl_->pg);
  if (!cancel) {
    *in_flight = false;
    return;
  }
  std::thread([cancel, flag = in_flight] {
    char err[256];
    PQcancel(cancel, err, sizeof(err));
    PQfreeCancel(cancel);
    *flag = false;
  }).detach();
}

}  // namespace pgwarden
