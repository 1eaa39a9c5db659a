#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "exporter/database.h"
#include "tests/test_util.h"

namespace pgwarden::testing {

// A scripted PostgreSQL server with several databases, for the engine's
// tests: what it knows, shared by the FakeServerDatabase of each database.
struct FakeServer {
  std::vector<std::string> databases;  // the discovery query's answer
  std::map<std::string, int> opens;    // connections made per database
  std::map<std::string, int> alive;    // FakeServerDatabase objects alive
  std::string refusing;                // a database that refuses connections
  std::string failing;                 // a database whose queries fail
};

// One database of a FakeServer: answers the discovery query (any statement
// reading pg_database) with the server's databases, and every other
// statement i with one row {datname, n = i}. It shares the server, because
// a target's collecting thread may outlive the test's scope.
class FakeServerDatabase : public Database {
 public:
  FakeServerDatabase(std::shared_ptr<FakeServer> server, std::string name)
      : server_(std::move(server)), name_(std::move(name)) {
    ++server_->alive[name_];
  }
  ~FakeServerDatabase() override { --server_->alive[name_]; }

  ServerInfo Open(Clock::time_point) override {
    if (name_ == server_->refusing) {
      throw std::runtime_error("FATAL: database \"" + name_ + "\" is gone");
    }
    if (!connected_) ++server_->opens[name_];
    connected_ = true;
    ServerInfo info = ServerAt(150000);
    info.database = name_;
    return info;
  }

  bool Run(const std::vector<Statement>& statements, Clock::time_point,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    for (size_t i = 0; i < statements.size(); ++i) {
      QueryResult r;
      r.ok = name_ != server_->failing;
      r.seconds = 0.5;
      if (!r.ok) {
        r.error = "ERROR: boom";
      } else if (statements[i].sql.find("pg_database") != std::string::npos) {
        r.rows = Rows({"datname"});
        for (const auto& d : server_->databases) r.rows.Add({d});
      } else {
        r.rows = MakeRows({"datname", "n"}, {{name_, std::to_string(i)}});
      }
      on_result(i, std::move(r));
    }
    return true;
  }

  uint64_t ConnectionsOpened() const override { return connected_ ? 1 : 0; }

 private:
  std::shared_ptr<FakeServer> server_;
  std::string name_;
  bool connected_ = false;
};

}  // namespace pgwarden::testing
