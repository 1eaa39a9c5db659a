#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "exporter/database.h"
#include "tests/test_util.h"

namespace pgwarden::testing {

// A scripted PostgreSQL server with several databases, for the engine's
// tests: what it knows, shared by the FakeServerDatabase of each database.
// Thread-safe: a target's visitor and collecting threads use it while the
// test reads it.
class FakeServer {
 public:
  // The listing query's answer.
  void SetDatabases(std::vector<std::string> names) {
    std::lock_guard<std::mutex> lock(mu_);
    databases_ = std::move(names);
  }
  void Refuse(std::string database) {  // refuses connections
    std::lock_guard<std::mutex> lock(mu_);
    refusing_ = std::move(database);
  }
  void Fail(std::string database) {  // its queries fail
    std::lock_guard<std::mutex> lock(mu_);
    failing_ = std::move(database);
  }
  void Hang(std::string database) {  // its queries run until the deadline
    std::lock_guard<std::mutex> lock(mu_);
    hanging_ = std::move(database);
  }
  int Opens(const std::string& database) const {  // connections made
    return Get(opens_, database);
  }
  int Alive(const std::string& database) const {  // connections open now
    return Get(alive_, database);
  }
  int Batches(const std::string& database) const {  // Run() calls
    return Get(batches_, database);
  }

 private:
  friend class FakeServerDatabase;
  int Get(const std::map<std::string, int>& m, const std::string& k) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
  }

  mutable std::mutex mu_;
  std::vector<std::string> databases_;
  std::map<std::string, int> opens_, alive_, batches_;
  std::string refusing_, failing_, hanging_;
};

// One database of a FakeServer: answers the listing query (any statement
// reading pg_database) with the server's databases, and every other
// statement i with one row {datname, n = i}. It shares the server, because
// a target's threads may outlive the test's scope.
class FakeServerDatabase : public Database {
 public:
  FakeServerDatabase(std::shared_ptr<FakeServer> server, std::string name)
      : server_(std::move(server)), name_(std::move(name)) {
    std::lock_guard<std::mutex> lock(server_->mu_);
    ++server_->alive_[name_];
  }
  ~FakeServerDatabase() override {
    std::lock_guard<std::mutex> lock(server_->mu_);
    --server_->alive_[name_];
  }

  ServerInfo Open(Clock::time_point) override {
    std::lock_guard<std::mutex> lock(server_->mu_);
    if (name_ == server_->refusing_) {
      throw std::runtime_error("FATAL: database \"" + name_ + "\" is gone");
    }
    if (!connected_) ++server_->opens_[name_];
    connected_ = true;
    ServerInfo info = ServerAt(150000);
    info.database = name_;
    return info;
  }

  bool Run(const std::vector<Statement>& statements, Clock::time_point deadline,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    bool hang;
    std::vector<std::string> databases;
    {
      std::lock_guard<std::mutex> lock(server_->mu_);
      ++server_->batches_[name_];
      hang = name_ == server_->hanging_;
      databases = server_->databases_;
    }
    for (size_t i = 0; i < statements.size(); ++i) {
      QueryResult r;
      r.ok = true;
      r.seconds = 0.5;
      if (statements[i].sql.find("pg_database") != std::string::npos) {
        r.rows = Rows({"datname", "here"});
        for (const auto& d : databases) r.rows.Add({d, d == name_ ? "t" : "f"});
      } else if (hang) {
        std::this_thread::sleep_until(deadline);
        r.ok = false;
        r.error = "ERROR: canceling statement due to statement timeout";
      } else if (name_ == Failing()) {
        r.ok = false;
        r.error = "ERROR: boom";
      } else {
        r.rows = MakeRows({"datname", "n"}, {{name_, std::to_string(i)}});
      }
      on_result(i, std::move(r));
    }
    return true;
  }

  uint64_t ConnectionsOpened() const override { return connected_ ? 1 : 0; }

 private:
  std::string Failing() const {
    std::lock_guard<std::mutex> lock(server_->mu_);
    return server_->failing_;
  }

  std::shared_ptr<FakeServer> server_;
  std::string name_;
  bool connected_ = false;
};

}  // namespace pgwarden::testing
