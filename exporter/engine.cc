#include "exporter/engine.h"

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "exporter/log.h"
#include "exporter/process_metrics.h"

namespace pgwarden {

namespace {

struct Outcome {
  enum class State { kPending, kOk, kFailed } state = State::kPending;
  std::shared_ptr<const Families> families;  // set when kOk
  Clock::time_point fetched;                 // when its rows were read
  double seconds = 0;
  std::string error;
};

// "15.4 (Debian 15.4-1)" -> "15.4.0", as postgres_exporter's short_version.
std::string ShortVersion(const std::string& version) {
  int major = 0, minor = 0, patch = 0;
  const int n = std::sscanf(version.c_str(), "%d.%d.%d", &major, &minor, &patch);
  if (n < 1) return "";
  return std::to_string(major) + "." + std::to_string(n >= 2 ? minor : 0) +
         "." + std::to_string(n >= 3 ? patch : 0);
}

}  // namespace

struct Engine::Collection {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool up = false;
  std::optional<ServerInfo> server;
  std::string error;  // connection-level failure
  std::vector<Outcome> outcomes;
  Clock::time_point started = Clock::now();
  double seconds = 0;
};

struct Engine::Core {
  std::string target;
  std::unique_ptr<Database> database;  // used only by the collection thread
  std::vector<std::unique_ptr<Collector>> collectors;

  // The last successful Parse per collector. Touched only by the collection
  // thread; single-flight means there is one at a time.
  struct Memo {
    ServerInfo server;
    Rows rows;
    std::shared_ptr<const Families> families;
    Clock::time_point fetched;  // when `rows` were read
  };
  std::vector<Memo> memo;
  std::vector<Clock::duration> min_interval;  // per collector; 0 = every scrape
  EngineOptions options;

  // Connections to the other databases of the server, for per-database
  // collectors; touched only by the collection thread.
  struct Extra {
    std::unique_ptr<Database> database;
    uint64_t last_used = 0;
  };
  std::map<std::string, Extra> extras;
  uint64_t use_counter = 0;
  uint64_t extras_opened_closed = 0;  // connections opened by closed extras

  // Runs the due per-database collectors (indices into `collectors`, with
  // their queries for this server) in every discovered database and
  // records their outcomes.
  void CollectPerDatabase(Collection& c, const ServerInfo& server,
                          const std::vector<size_t>& due, std::vector<std::string> queries,
                          Clock::time_point deadline);
  Database* ExtraFor(const std::string& dbname);
  // Closes one extra connection, keeping its count; returns the next.
  std::map<std::string, Extra>::iterator CloseExtra(std::map<std::string, Extra>::iterator it);
  // Collector i's families for `rows`: its last ones when rows and server
  // are unchanged, else a fresh Parse. A `complete` result is remembered for
  // reuse; a partial one (some databases failed) is served but never reused.
  // Throws what Parse throws.
  std::shared_ptr<const Families> ParseMemoized(size_t i, const ServerInfo& server, Rows rows,
                                                Clock::time_point now, bool complete);
  uint64_t TotalConnectionsOpened() const;

  mutable std::mutex mu;  // guards everything below
  std::condition_variable idle_cv;
  std::shared_ptr<Collection> inflight;
  bool ever_connected = false;
  bool last_up = false;
  ServerInfo last_server;
  std::string last_error;
  uint64_t scrapes = 0;
  uint64_t connection_errors = 0;
  uint64_t connections_opened = 0;
  size_t open_connections = 0;
  bool pgss_state_logged = false;
  bool last_pgss_available = false;

  void Collect(Collection& c, Clock::time_point deadline);
  // Publishes a finished collection: target state, logs, then wakes waiters.
  void Finish(Collection& c);
  void NotePgssState(const ServerInfo& server);  // requires mu
};

void Engine::Core::Collect(Collection& c, Clock::time_point deadline) {
  ServerInfo server;
  try {
    server = database->Prepare(deadline);
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(c.mu);
    c.error = e.what();
    for (auto& o : c.outcomes) {
      o.state = Outcome::State::kFailed;
      o.error = c.error;
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.up = true;
    c.server = server;
  }

  // Collectors with nothing to ask this server parse empty rows at once;
  // the rest go to the database in one batch.
  std::vector<std::string> queries;
  std::vector<size_t> batch_index;  // query position -> collector index
  std::vector<size_t> per_database;  // due per-database collectors
  std::vector<std::string> per_database_queries;
  const auto now = Clock::now();
  for (size_t i = 0; i < collectors.size(); ++i) {
    const Memo& m = memo[i];
    if (min_interval[i].count() > 0 && m.families && m.server == server &&
        now - m.fetched < min_interval[i]) {
      // Ran recently enough: serve the last result, marked by its age.
      Outcome o;
      o.state = Outcome::State::kOk;
      o.families = m.families;
      o.fetched = m.fetched;
      std::lock_guard<std::mutex> lock(c.mu);
      c.outcomes[i] = std::move(o);
      continue;
    }
    std::string sql = collectors[i]->Query(server);
    if (!sql.empty() && collectors[i]->PerDatabase()) {
      per_database.push_back(i);
      per_database_queries.push_back(std::move(sql));
      continue;
    }
    if (!sql.empty()) {
      queries.push_back(std::move(sql));
      batch_index.push_back(i);
      continue;
    }
    Outcome o;
    try {
      auto families = std::make_shared<Families>();
      collectors[i]->Parse(server, Rows{}, *families);
      o.families = std::move(families);
      o.fetched = now;
      o.state = Outcome::State::kOk;
    } catch (const std::exception& e) {
      o.state = Outcome::State::kFailed;
      o.error = e.what();
    }
    std::lock_guard<std::mutex> lock(c.mu);
    c.outcomes[i] = std::move(o);
  }

  std::vector<int> timeouts;
  for (size_t i : batch_index) timeouts.push_back(collectors[i]->TimeoutMs());
  const bool still_connected = database->Run(
      queries, timeouts, deadline, [&](size_t q, QueryResult result) {
        const size_t i = batch_index[q];
        Outcome o;
        o.seconds = result.seconds;
        if (result.ok) {
          const auto parse_start = Clock::now();
          try {
            o.fetched = parse_start;
            o.families = ParseMemoized(i, server, std::move(result.rows), parse_start, true);
            o.state = Outcome::State::kOk;
          } catch (const std::exception& e) {
            o.state = Outcome::State::kFailed;
            o.error = std::string("parse: ") + e.what();
          }
          o.seconds += std::chrono::duration<double>(Clock::now() - parse_start).count();
        } else {
          o.state = Outcome::State::kFailed;
          o.error = result.error;
        }
        std::lock_guard<std::mutex> lock(c.mu);
        c.outcomes[i] = std::move(o);
      });
  if (!still_connected) {
    std::lock_guard<std::mutex> lock(c.mu);
    c.up = false;
    for (size_t i : per_database) {
      c.outcomes[i].state = Outcome::State::kFailed;
      c.outcomes[i].error = "connection lost";
    }
    return;
  }
  if (!per_database.empty()) {
    CollectPerDatabase(c, server, per_database, std::move(per_database_queries), deadline);
  }
}

namespace {

constexpr char kDiscoverDatabasesQuery[] = R"sql(
SELECT datname::text AS datname FROM pg_database
WHERE datallowconn AND NOT datistemplate AND has_database_privilege(oid, 'CONNECT')
ORDER BY datname)sql";

// Per-database collectors that run at least this often keep their
// connections open between scrapes.
constexpr auto kKeepDatabaseConnectionsBelow = std::chrono::seconds(10);

bool Listed(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

}  // namespace

std::shared_ptr<const Families> Engine::Core::ParseMemoized(size_t i, const ServerInfo& server,
                                                            Rows rows, Clock::time_point now,
                                                            bool complete) {
  Memo& m = memo[i];
  if (complete && m.families && m.rows == rows && m.server == server) {
    // Same rows as last time (settings, mostly): same families.
    m.fetched = now;
    return m.families;
  }
  auto families = std::make_shared<Families>();
  collectors[i]->Parse(server, rows, *families);
  if (complete) m = Memo{server, std::move(rows), families, now};
  return families;
}

std::map<std::string, Engine::Core::Extra>::iterator Engine::Core::CloseExtra(
    std::map<std::string, Extra>::iterator it) {
  extras_opened_closed += it->second.database->ConnectionsOpened();
  return extras.erase(it);
}

Database* Engine::Core::ExtraFor(const std::string& dbname) {
  auto it = extras.find(dbname);
  if (it == extras.end()) {
    const size_t max_extras =
        static_cast<size_t>(std::max(1, options.max_database_connections) - 1);
    while (!extras.empty() && extras.size() >= max_extras) {
      auto lru = std::min_element(extras.begin(), extras.end(), [](const auto& a, const auto& b) {
        return a.second.last_used < b.second.last_used;
      });
      CloseExtra(lru);
    }
    it = extras.emplace(dbname, Extra{options.open_database(dbname), 0}).first;
  }
  it->second.last_used = ++use_counter;
  return it->second.database.get();
}

uint64_t Engine::Core::TotalConnectionsOpened() const {
  uint64_t total = database->ConnectionsOpened() + extras_opened_closed;
  for (const auto& [name, extra] : extras) total += extra.database->ConnectionsOpened();
  return total;
}

void Engine::Core::CollectPerDatabase(Collection& c, const ServerInfo& server,
                                      const std::vector<size_t>& due,
                                      std::vector<std::string> queries,
                                      Clock::time_point deadline) {
  std::vector<std::string> names;
  std::string discover_error;
  // One connection in all (--max_database_connections=1) means the
  // connected database only.
  if (options.open_database && options.max_database_connections > 1) {
    database->Run({kDiscoverDatabasesQuery}, {}, deadline, [&](size_t, QueryResult r) {
      if (!r.ok) {
        discover_error = "listing databases: " + r.error;
        return;
      }
      for (size_t i = 0; i < r.rows.size(); ++i) names.push_back(RowView(r.rows, i).Text("datname"));
    });
  } else {
    names.push_back(server.database);
  }
  std::vector<std::string> databases;
  for (const auto& name : names) {
    if (!options.include_databases.empty() && !Listed(options.include_databases, name)) continue;
    if (Listed(options.exclude_databases, name)) continue;
    databases.push_back(name);
  }
  // Connections to databases that went away or were filtered out close.
  for (auto it = extras.begin(); it != extras.end();) {
    it = Listed(databases, it->first) ? std::next(it) : CloseExtra(it);
  }

  std::vector<int> timeouts;
  for (size_t i : due) timeouts.push_back(collectors[i]->TimeoutMs());
  std::vector<Rows> rows(due.size());
  std::vector<std::string> errors(due.size(), discover_error);
  std::vector<double> seconds(due.size(), 0);
  for (const std::string& name : databases) {
    if (!discover_error.empty()) break;
    auto fail_all = [&](const std::string& why) {
      for (auto& e : errors) {
        if (e.empty()) e = "database \"" + name + "\": " + why;
      }
    };
    if (Clock::now() >= deadline) {
      fail_all("deadline exceeded before its turn");
      break;
    }
    Database* db = name == server.database ? database.get() : ExtraFor(name);
    try {
      db->Prepare(deadline);
    } catch (const std::exception& e) {
      fail_all(e.what());
      continue;
    }
    db->Run(queries, timeouts, deadline, [&](size_t k, QueryResult r) {
      seconds[k] += r.seconds;
      if (!r.ok) {
        if (errors[k].empty()) errors[k] = "database \"" + name + "\": " + r.error;
        return;
      }
      if (rows[k].columns().empty()) rows[k] = Rows(r.rows.columns());
      if (r.rows.columns() != rows[k].columns()) {
        if (errors[k].empty()) errors[k] = "database \"" + name + "\": columns differ";
        return;
      }
      for (const auto& row : r.rows.rows()) rows[k].Add(row);
    });
  }

  // Connections to other databases stay open only when they will be used
  // again within seconds. Otherwise they close now: an idle exporter
  // session would make DROP DATABASE (and CREATE DATABASE ... TEMPLATE)
  // fail for nothing.
  Clock::duration shortest = Clock::duration::max();
  for (size_t i : due) shortest = std::min(shortest, min_interval[i]);
  if (shortest >= kKeepDatabaseConnectionsBelow) {
    while (!extras.empty()) CloseExtra(extras.begin());
  }

  const auto now = Clock::now();
  for (size_t k = 0; k < due.size(); ++k) {
    const size_t i = due[k];
    Outcome o;
    o.seconds = seconds[k];
    o.fetched = now;
    try {
      o.families = ParseMemoized(i, server, std::move(rows[k]), now, errors[k].empty());
      o.state = errors[k].empty() ? Outcome::State::kOk : Outcome::State::kFailed;
      o.error = errors[k];
    } catch (const std::exception& e) {
      o.state = Outcome::State::kFailed;
      o.error = std::string("parse: ") + e.what();
    }
    std::lock_guard<std::mutex> lock(c.mu);
    c.outcomes[i] = std::move(o);
  }
}

Engine::Engine(std::string target_name, std::unique_ptr<Database> database,
               std::vector<std::unique_ptr<Collector>> collectors, EngineOptions options)
    : core_(std::make_shared<Core>()) {
  core_->target = std::move(target_name);
  core_->database = std::move(database);
  core_->collectors = std::move(collectors);
  core_->memo.resize(core_->collectors.size());
  core_->options = options;
  for (const auto& c : core_->collectors) {
    auto it = options.min_interval_seconds.find(std::string(c->Name()));
    const double seconds = it == options.min_interval_seconds.end() ? 0 : it->second;
    core_->min_interval.push_back(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(seconds)));
  }
}

Engine::~Engine() {
  std::unique_lock<std::mutex> lock(core_->mu);
  // Bounded: a collection stuck on a frozen server must not delay a
  // shutdown (its thread holds its own references and ends with the process).
  core_->idle_cv.wait_for(lock, std::chrono::seconds(1), [&] {
    return !core_->inflight;
  });
}

std::shared_ptr<Engine::Collection> Engine::StartOrJoin(Clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(core_->mu);
  if (core_->inflight) return core_->inflight;  // single-flight: join it
  auto c = std::make_shared<Collection>();
  c->outcomes.resize(core_->collectors.size());
  core_->inflight = c;
  // The thread owns shared references, so an abandoned collection (a frozen
  // server) can finish safely after every waiter has gone.
  std::thread([core = core_, c, deadline] {
    core->Collect(*c, deadline);
    core->Finish(*c);
  }).detach();
  return c;
}

void Engine::Core::Finish(Collection& c) {
  const uint64_t opened = TotalConnectionsOpened();
  const size_t open_now = extras.size() + 1;
  std::string first_error;
  bool up;
  std::optional<ServerInfo> server;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.seconds = std::chrono::duration<double>(Clock::now() - c.started).count();
    up = c.up;
    server = c.server;
    first_error = c.error;
    for (size_t i = 0; first_error.empty() && i < c.outcomes.size(); ++i) {
      if (c.outcomes[i].state == Outcome::State::kFailed) {
        first_error = std::string(collectors[i]->Name()) + ": " + c.outcomes[i].error;
      }
    }
  }
  if (first_error.find("permission denied") != std::string::npos) {
    first_error += " (the role needs pg_monitor: see deploy/sql/monitoring-role.sql)";
  }
  // The target's state is published before waiters wake, so a scrape that
  // returns has already updated the landing page and counters.
  {
    std::lock_guard<std::mutex> lock(mu);
    // Log state changes, not every scrape: a down database must not flood
    // the log at the scrape rate.
    if (first_error != last_error && !first_error.empty()) {
      Log(LogLevel::kError, "scrape of " + target + " failed: " + first_error);
    } else if (first_error.empty() && !last_error.empty()) {
      Log(LogLevel::kInfo, "scrape of " + target + " recovered");
    }
    if (!c.error.empty()) ++connection_errors;
    last_error = first_error;
    last_up = up;
    connections_opened = opened;
    open_connections = open_now;
    if (server) {
      ever_connected = true;
      last_server = *server;
      NotePgssState(*server);
    }
    // From here on a new scrape starts a new collection; it must never join
    // this finished one and be served its (older) data.
    inflight.reset();
  }
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.done = true;
  }
  c.cv.notify_all();
  idle_cv.notify_all();
}

void Engine::Core::NotePgssState(const ServerInfo& server) {
  const bool wanted =
      std::any_of(collectors.begin(), collectors.end(),
                  [](const auto& col) { return col->Name() == "stat_statements"; });
  if (!wanted ||
      (pgss_state_logged && last_pgss_available == server.pgss_available)) {
    return;
  }
  if (!server.pgss_available) {
    Log(LogLevel::kWarn,
        "pg_stat_statements is not available in " + target +
            "; stat_statements emits only pg_stat_statements_available 0."
            " To enable: add pg_stat_statements to shared_preload_libraries"
            " (restart), then CREATE EXTENSION pg_stat_statements;");
  } else if (pgss_state_logged) {
    Log(LogLevel::kInfo, "pg_stat_statements is now available in " + target);
  }
  pgss_state_logged = true;
  last_pgss_available = server.pgss_available;
}


Exposition Engine::Collect(Clock::time_point deadline) {
  const auto start = Clock::now();
  std::shared_ptr<Collection> c = StartOrJoin(deadline);

  Exposition exposition;
  auto self = std::make_shared<Families>();
  Families& out = *self;
  std::vector<std::pair<std::string, Outcome>> results;
  bool up, done;
  std::optional<ServerInfo> server;
  double seconds;
  {
    std::unique_lock<std::mutex> lock(c->mu);
    c->cv.wait_until(lock, deadline, [&] { return c->done; });
    done = c->done;
    // Up means the server answered the connection and version query; a
    // collector that ran out of time is that collector's failure, not the
    // database's.
    up = c->up;
    server = c->server;
    seconds = done ? c->seconds
                   : std::chrono::duration<double>(Clock::now() - start).count();
    for (size_t i = 0; i < c->outcomes.size(); ++i) {
      const Outcome& o = c->outcomes[i];
      // A per-database collector that failed in some databases still
      // serves what the others returned (its success is 0).
      if (o.families) exposition.parts.push_back(o.families);
      Outcome summary;
      summary.state = o.state;
      summary.seconds = o.seconds;
      summary.fetched = o.fetched;
      results.emplace_back(std::string(core_->collectors[i]->Name()), std::move(summary));
    }
  }

  uint64_t scrapes, connection_errors, opened;
  size_t open_connections;
  ServerInfo last_server;
  bool ever_connected;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    scrapes = ++core_->scrapes;
    connection_errors = core_->connection_errors;
    opened = core_->connections_opened;
    open_connections = core_->open_connections;
    last_server = core_->last_server;
    ever_connected = core_->ever_connected;
  }
  if (server) {
    last_server = *server;
    ever_connected = true;
  }

  using prometheus::MetricType;
  bool any_failed = !up;
  FamilyBuilder success("pg_scrape_collector_success",
                        "1 if the collector's query and parse succeeded in this "
                        "scrape.",
                        MetricType::Gauge);
  FamilyBuilder duration("pg_scrape_collector_duration_seconds",
                         "Time the collector's query and parse took.",
                         MetricType::Gauge);
  FamilyBuilder age("pgwarden_collector_result_age_seconds",
                    "Age of the data a collector served: 0 when read in this "
                    "scrape, more when its minimum interval served the last result.",
                    MetricType::Gauge);
  const auto now = Clock::now();
  for (const auto& [name, o] : results) {
    const bool ok = o.state == Outcome::State::kOk;
    any_failed = any_failed || !ok;
    success.Add({{"collector", name}}, Bool(ok));
    duration.Add({{"collector", name}}, o.seconds);
    if (ok) {
      // Rows read during this collection count as fresh.
      const double seconds = std::chrono::duration<double>(now - o.fetched).count();
      age.Add({{"collector", name}}, o.fetched >= c->started ? 0 : seconds);
    }
  }
  FamilyBuilder("pg_up", "1 if the database answered the last connection "
                "attempt and version query.", MetricType::Gauge)
      .Add(Bool(up))
      .MoveTo(out);
  if (ever_connected) {
    FamilyBuilder("pg_static", "Version of the PostgreSQL server (always 1).",
                  MetricType::Gauge)
        .Add({{"version", last_server.version},
              {"short_version", ShortVersion(last_server.version)}},
             1)
        .MoveTo(out);
  }
  success.MoveTo(out);
  duration.MoveTo(out);
  age.MoveTo(out);
  FamilyBuilder("pg_exporter_last_scrape_error",
                "1 if the database was down or any collector failed in the "
                "last scrape.", MetricType::Gauge)
      .Add(Bool(any_failed))
      .MoveTo(out);
  FamilyBuilder("pg_exporter_scrapes_total", "Scrapes served.",
                MetricType::Counter)
      .Add(static_cast<double>(scrapes))
      .MoveTo(out);
  FamilyBuilder("pg_exporter_last_scrape_duration_seconds",
                "Duration of the last collection from the database.",
                MetricType::Gauge)
      .Add(seconds)
      .MoveTo(out);
  FamilyBuilder("pgwarden_connections_opened_total",
                "Database connections opened (1 plus reconnects).",
                MetricType::Counter)
      .Add(static_cast<double>(opened))
      .MoveTo(out);
  FamilyBuilder("pgwarden_database_connections",
                "Connections to the target's databases held after the last "
                "collection (the main one and per-database ones).",
                MetricType::Gauge)
      .Add(static_cast<double>(open_connections))
      .MoveTo(out);
  FamilyBuilder("pgwarden_connection_errors_total",
                "Failed attempts to connect to the database or read its version.",
                MetricType::Counter)
      .Add(static_cast<double>(connection_errors))
      .MoveTo(out);
  FamilyBuilder("pgwarden_build_info",
                "pgwarden version and revision (always 1).", MetricType::Gauge)
      .Add({{"version", PGWARDEN_VERSION}, {"revision", PGWARDEN_REVISION}}, 1)
      .MoveTo(out);
  AppendProcessMetrics(out);
  exposition.parts.push_back(std::move(self));
  return exposition;
}

TargetStatus Engine::Status() const {
  TargetStatus s;
  std::lock_guard<std::mutex> lock(core_->mu);
  s.target = core_->target;
  for (const auto& c : core_->collectors) {
    s.collectors.emplace_back(c->Name());
    if (c->Name() == "stat_statements") s.pgss_wanted = true;
  }
  s.ever_connected = core_->ever_connected;
  s.up = core_->last_up;
  s.server_version = core_->last_server.version;
  s.last_error = core_->last_error;
  s.pgss_available = core_->last_server.pgss_available;
  return s;
}

}  // namespace pgwarden
