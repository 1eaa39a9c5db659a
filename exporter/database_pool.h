#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "exporter/database.h"

namespace pgwarden {

// A target's connections to the other databases of its server, for the
// per-database collectors (tables, indexes, partitions).
class DatabasePool {
 public:
  struct Options {
    // Opens a Database for another database of the same server. Without it
    // the per-database collectors run in the connected database only.
    std::function<std::unique_ptr<Database>(const std::string& dbname)> open;
    // Databases to visit, by name (empty include = all that allow
    // connections and that the role may connect to).
    std::vector<std::string> include;
    std::vector<std::string> exclude;
    // Most connections the target holds at once, its main one included;
    // with more databases than that, the least recently used one is closed
    // to make room. 1: the connected database only.
    int max_connections = 5;
  };

  explicit DatabasePool(Options options);
  DatabasePool(const DatabasePool&) = delete;
  DatabasePool& operator=(const DatabasePool&) = delete;

  // Runs `statements` in every database to visit (`main`, connected to
  // `server.database`, serves its own), one result per statement with the
  // rows of all databases concatenated. A statement that fails somewhere
  // has ok false and an error naming the first database it failed in, and
  // keeps the rows of the others. Databases not reached by `deadline` fail
  // every statement. With `keep_open` false, the other databases'
  // connections are closed afterwards, so an idle pgwarden session never
  // blocks a DROP DATABASE.
  std::vector<QueryResult> RunEverywhere(
      Database& main, const ServerInfo& server,
      const std::vector<Statement>& statements, Clock::time_point deadline,
      bool keep_open);

  // Connections this pool opened, including those closed since.
  uint64_t ConnectionsOpened() const;
  // Connections open now.
  size_t Open() const { return open_.size(); }

 private:
  struct Connection {
    std::unique_ptr<Database> database;
    uint64_t last_used = 0;
  };
  using Connections = std::map<std::string, Connection>;

  // The names of the databases to visit; `error` says why there are none.
  std::vector<std::string> Databases(Database& main, const ServerInfo& server,
                                     Clock::time_point deadline,
                                     std::string& error);
  Database& For(const std::string& dbname);
  Connections::iterator Close(Connections::iterator it);

  const Options options_;
  Connections open_;
  uint64_t use_counter_ = 0;
  uint64_t opened_by_closed_ = 0;
};

}  // namespace pgwarden
