#include "exporter/database_pool.h"

#include <algorithm>

namespace pgwarden {
namespace {

constexpr char kDiscoverDatabasesQuery[] = R"sql(
SELECT datname::text AS datname FROM pg_database
WHERE datallowconn AND NOT datistemplate AND has_database_privilege(oid, 'CONNECT')
ORDER BY datname)sql";

bool Listed(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// Appends `got`, the result of one database, to `merged`.
void Merge(const std::string& dbname, QueryResult got, QueryResult& merged) {
  merged.seconds += got.seconds;
  auto fail = [&](const std::string& why) {
    if (merged.error.empty())
      merged.error = "database \"" + dbname + "\": " + why;
  };
  if (!got.ok) return fail(got.error);
  if (merged.rows.columns().empty()) merged.rows = Rows(got.rows.columns());
  if (got.rows.columns() != merged.rows.columns())
    return fail("columns differ");
  for (const auto& row : got.rows.rows()) merged.rows.Add(row);
}

}  // namespace

DatabasePool::DatabasePool(Options options) : options_(std::move(options)) {}

std::vector<std::string> DatabasePool::Databases(Database& main,
                                                 const ServerInfo& server,
                                                 Clock::time_point deadline,
                                                 std::string& error) {
  std::vector<std::string> names;
  if (!options_.open || options_.max_connections <= 1) {
    names.push_back(server.database);
  } else {
    main.Run({{kDiscoverDatabasesQuery}}, deadline, [&](size_t, QueryResult r) {
      if (!r.ok) error = "listing databases: " + r.error;
      for (size_t i = 0; i < r.rows.size(); ++i) {
        names.push_back(RowView(r.rows, i).Text("datname"));
      }
    });
  }
  std::vector<std::string> out;
  for (const auto& name : names) {
    if (!options_.include.empty() && !Listed(options_.include, name)) continue;
    if (!Listed(options_.exclude, name)) out.push_back(name);
  }
  // Connections to databases that went away or were filtered out close.
  for (auto it = open_.begin(); it != open_.end();) {
    it = Listed(out, it->first) ? std::next(it) : Close(it);
  }
  return out;
}

std::vector<QueryResult> DatabasePool::RunEverywhere(
    Database& main, const ServerInfo& server,
    const std::vector<Statement>& statements, Clock::time_point deadline,
    bool keep_open) {
  std::string error;
  const std::vector<std::string> databases =
      Databases(main, server, deadline, error);
  std::vector<QueryResult> merged(statements.size());
  for (auto& m : merged) m.error = error;
  for (const std::string& name : databases) {
    if (!error.empty()) break;
    auto fail_all = [&](const std::string& why) {
      for (auto& m : merged) Merge(name, QueryResult{false, {}, why, 0}, m);
    };
    if (Clock::now() >= deadline) {
      fail_all("deadline exceeded before its turn");
      break;
    }
    Database& db = name == server.database ? main : For(name);
    try {
      db.Open(deadline);
    } catch (const std::exception& e) {
      fail_all(e.what());
      continue;
    }
    db.Run(statements, deadline, [&](size_t k, QueryResult r) {
      Merge(name, std::move(r), merged[k]);
    });
  }
  if (!keep_open) {
    while (!open_.empty()) Close(open_.begin());
  }
  for (auto& m : merged) m.ok = m.error.empty();
  return merged;
}

Database& DatabasePool::For(const std::string& dbname) {
  auto it = open_.find(dbname);
  if (it == open_.end()) {
    const size_t most =
        static_cast<size_t>(std::max(1, options_.max_connections) - 1);
    while (!open_.empty() && open_.size() >= most) {
      Close(std::min_element(open_.begin(), open_.end(),
                             [](const auto& a, const auto& b) {
                               return a.second.last_used < b.second.last_used;
                             }));
    }
    it = open_.emplace(dbname, Connection{options_.open(dbname), 0}).first;
  }
  it->second.last_used = ++use_counter_;
  return *it->second.database;
}

DatabasePool::Connections::iterator DatabasePool::Close(
    Connections::iterator it) {
  opened_by_closed_ += it->second.database->ConnectionsOpened();
  return open_.erase(it);
}

uint64_t DatabasePool::ConnectionsOpened() const {
  uint64_t total = opened_by_closed_;
  for (const auto& [name, c] : open_) total += c.database->ConnectionsOpened();
  return total;
}

}  // namespace pgwarden
