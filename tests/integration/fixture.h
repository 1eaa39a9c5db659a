// The integration suite's fixture: a real PostgreSQL named by
// PGWARDEN_TEST_DSN (a superuser on a throwaway cluster with
// pg_stat_statements preloaded; tests/run.sh starts one). Each test builds
// the situation it measures with its own sessions and asserts exact values.

#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "collectors/collector.h"
#include "exporter/dsn.h"
#include "exporter/session.h"
#include "exporter/target.h"
#include "tests/test_util.h"

namespace pgwarden {

// The database the tests work in (created by the fixture).
inline constexpr char kDatabase[] = "pgwarden_it";

// PGWARDEN_TEST_DSN, or "" when it is not set.
std::string BaseDsn();

// The test server's DSN for `dbname`, with `extra` key=value pairs.
std::string DsnFor(const std::string& dbname, const std::string& extra = "");

// Polls `condition` every 50 ms for at most `seconds`.
bool WaitFor(const std::function<bool()>& condition, double seconds = 20);

// A client session of the test's own, able to run statements in the
// background (statements that block). Ended by pg_terminate_backend in
// TearDown. Plain libpq: libpqxx 6.4 leaks a result when its connection is
// terminated inside exec(), which LeakSanitizer rightly reports.
class Client {
 public:
  explicit Client(const std::string& application_name,
                  const std::string& user = "postgres")
      : conn_(PQconnectdb(
            DsnFor(kDatabase,
                   "application_name=" + application_name + " user=" + user)
                .c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      throw std::runtime_error(std::string("client: ") + PQerrorMessage(conn_));
    }
    pid_ = PQbackendPID(conn_);
  }
  ~Client() {
    if (background_.valid()) background_.wait();
    PQfinish(conn_);
  }
  int pid() const { return pid_; }
  // Runs `sql` (several statements allowed) and waits for it.
  void Exec(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(res);
    const std::string error = PQresultErrorMessage(res);
    PQclear(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("client: " + error);
    }
  }
  // Starts `sql` without waiting for it; its outcome (usually termination
  // by the test's cleanup) is ignored.
  void Start(const std::string& sql) {
    background_ = std::async(std::launch::async, [this, sql] {
      PQclear(PQexec(conn_, sql.c_str()));
      while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
    });
  }

 private:
  PGconn* conn_;
  int pid_;
  std::future<void> background_;
};

class IntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(BaseDsn().empty())
        << "PGWARDEN_TEST_DSN is not set: run the integration tests through "
           "tests/run.sh, which starts a PostgreSQL for them";
    pqxx::connection admin(DsnFor("postgres"));
    pqxx::nontransaction tx(admin);
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = '" +
                std::string(kDatabase) + "'")
            .empty()) {
      tx.exec(std::string("CREATE DATABASE ") + kDatabase);
    }
    pqxx::connection db(DsnFor(kDatabase));
    pqxx::nontransaction t(db);
    t.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    t.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
        "'workload') THEN CREATE ROLE workload LOGIN; END IF; END $$");
    t.exec("GRANT ALL ON SCHEMA public TO workload");
  }

  void TearDown() override {
    // End every session the test started (blocked or sleeping), so tests
    // do not see each other's situations.
    pqxx::nontransaction& admin = Admin("postgres");
    admin.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name LIKE 'it-%'");
    WaitFor([&] {
      return admin
          .exec(
              "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE "
              "'it-%'")
          .empty();
    });
    clients_.clear();
    admin_.clear();
  }

  // A superuser session in `dbname` for the test's own statements, kept
  // until the test ends (each statement commits by itself).
  pqxx::nontransaction& Admin(const std::string& dbname = kDatabase) {
    auto& session = admin_[dbname];
    if (!session) session = std::make_unique<AdminSession>(DsnFor(dbname));
    return session->tx;
  }

  Client& NewClient(const std::string& name,
                    const std::string& user = "postgres") {
    clients_.push_back(std::make_unique<Client>("it-" + name, user));
    return *clients_.back();
  }

  static std::unique_ptr<Target> MakeTarget(
      const std::string& dbname, CollectorOptions options = {},
      std::vector<std::unique_ptr<Collector>> extra = {}) {
    if (options.long_running_thresholds_seconds.size() == 4) {
      options.long_running_thresholds_seconds = {1, 3600};
    }
    auto collectors = CreateCollectors(ResolveCollectors("all"), options);
    for (auto& c : extra) collectors.push_back(std::move(c));
    const Dsn dsn =
        WithSessionSettings(Dsn::Parse(DsnFor(dbname)), SessionSettings{});
    return std::make_unique<Target>(dsn.Redacted(), NewPostgresDatabase(dsn),
                                    std::move(collectors));
  }

  static Families Scrape(Target& target, int timeout_ms = 10000) {
    return target.Scrape(Clock::now() + std::chrono::milliseconds(timeout_ms))
        .Flatten();
  }

  // The test's own sessions that wait on a lock.
  int WaitingOnLocks() {
    return Admin()
        .exec(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
            "'Lock' AND application_name LIKE 'it-%'")[0][0]
        .as<int>();
  }

  std::vector<std::unique_ptr<Client>> clients_;

 private:
  struct AdminSession {
    explicit AdminSession(const std::string& dsn) : connection(dsn) {}
    pqxx::connection connection;
    pqxx::nontransaction tx{connection};
  };
  std::map<std::string, std::unique_ptr<AdminSession>> admin_;
};

}  // namespace pgwarden
