#include "exporter/database_visitor.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "exporter/log.h"

namespace pgwarden {
namespace {

// The databases a visit may list: every visit asks, on the database it is
// in (pg_database is shared), and a listing on the target's own database
// says which one that is.
constexpr char kListDatabasesQuery[] = R"sql(
SELECT datname::text AS datname, datname = current_database() AS here
FROM pg_database
WHERE datallowconn AND NOT datistemplate AND has_database_privilege(oid, 'CONNECT')
ORDER BY datname)sql";

constexpr auto kLongestSpacing = std::chrono::seconds(1);
constexpr auto kRelist = std::chrono::seconds(5);

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

bool Listed(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

}  // namespace

VisitSchedule::VisitSchedule(std::vector<Clock::duration> intervals)
    : intervals_(std::move(intervals)),
      shortest_(intervals_.empty()
                    ? Clock::duration(std::chrono::seconds(60))
                    : *std::min_element(intervals_.begin(), intervals_.end())) {
}

std::vector<std::string> VisitSchedule::SetDatabases(
    const std::vector<std::string>& names, Clock::time_point now) {
  std::vector<std::string> removed;
  const std::set<std::string> listed(names.begin(), names.end());
  for (auto it = databases_.begin(); it != databases_.end();) {
    if (listed.count(it->first)) {
      ++it;
    } else {
      removed.push_back(it->first);
      it = databases_.erase(it);
    }
  }
  for (const auto& name : names) {
    if (databases_.count(name)) continue;
    Entry e;
    e.last_run.assign(intervals_.size(), Clock::time_point::min());
    e.listed = now;
    e.order = ++listed_;
    databases_.emplace(name, std::move(e));
  }
  return removed;
}

Clock::time_point VisitSchedule::Due(const Entry& e, size_t job) const {
  return e.last_run[job] == Clock::time_point::min()
             ? e.listed
             : e.last_run[job] + intervals_[job];
}

Clock::time_point VisitSchedule::NextDue(const Entry& e) const {
  Clock::time_point due = Clock::time_point::max();
  for (size_t j = 0; j < intervals_.size(); ++j) due = std::min(due, Due(e, j));
  return due;
}

Clock::duration VisitSchedule::Spacing() const {
  const auto n = static_cast<Clock::rep>(std::max<size_t>(1, size()));
  return std::min<Clock::duration>(shortest_ / n, kLongestSpacing);
}

std::optional<VisitSchedule::Visit> VisitSchedule::Next(
    Clock::time_point now, Clock::time_point& wake) {
  wake = Clock::time_point::max();
  const std::pair<const std::string, Entry>* best = nullptr;
  Clock::time_point best_due = Clock::time_point::max();
  for (const auto& db : databases_) {
    if (db.second.busy) continue;
    const Clock::time_point due = NextDue(db.second);
    if (!best || due < best_due ||
        (due == best_due && db.second.order < best->second.order)) {
      best = &db;
      best_due = due;
    }
  }
  if (!best) return std::nullopt;
  const Clock::time_point start = std::max(best_due, next_start_);
  if (start > now) {
    wake = start;
    return std::nullopt;
  }
  Entry& e = databases_.at(best->first);
  Visit visit{best->first, {}};
  // Jobs due within a spacing join this visit rather than need another.
  for (size_t j = 0; j < intervals_.size(); ++j) {
    if (Due(e, j) <= now + Spacing()) visit.jobs.push_back(j);
  }
  e.busy = true;
  // The pace follows the planned start, not the wake-up that asked for it:
  // workers woken a few ms late each time would otherwise stretch a round
  // of 200 visits by 200 such delays (a 6 s interval became 7.2 s on a busy
  // machine). A start later than one spacing lets the next visit go at
  // once, no more: lost time is made up one visit at a time.
  next_start_ = std::max(start, now - Spacing()) + Spacing();
  return visit;
}

void VisitSchedule::Done(const Visit& visit, Clock::time_point started) {
  auto it = databases_.find(visit.database);
  if (it == databases_.end()) return;  // forgotten meanwhile
  it->second.busy = false;
  for (size_t j : visit.jobs) it->second.last_run[j] = started;
}

std::vector<std::string> VisitSchedule::Databases() const {
  std::vector<std::string> out;
  for (const auto& db : databases_) out.push_back(db.first);
  return out;
}

struct DatabaseVisitor::State {
  State(std::string target, Options o, std::vector<Job> j)
      : name(std::move(target)),
        options(std::move(o)),
        jobs(std::move(j)),
        workers(static_cast<size_t>(std::max(1, options.max_connections - 1))),
        stateful(Stateful(jobs)),
        schedule(Intervals(jobs)),
        generations(jobs.size(), 1) {}

  static std::vector<bool> Stateful(const std::vector<Job>& jobs) {
    std::vector<bool> out;
    for (const auto& j : jobs)
      out.push_back(j.collector->NewState() != nullptr);
    return out;
  }
  static std::vector<Clock::duration> Intervals(const std::vector<Job>& jobs) {
    std::vector<Clock::duration> out;
    for (const auto& j : jobs) out.push_back(j.interval);
    return out;
  }

  // A connection a visit holds, and how many of its connections are
  // already counted in `opened`.
  struct Held {
    std::unique_ptr<Database> database;
    uint64_t counted = 0;
    uint64_t used = 0;
  };
  // What a visit or a listing found, applied under the lock.
  struct Found {
    std::vector<std::optional<DatabaseResult>> results;  // per job
    bool listed = false;
    std::vector<std::string> databases;
    std::string here;
    std::string error;  // the visit's first error, "" if clean
  };

  void Work();
  // Requires mu.
  bool NeedListing(Clock::time_point now) const;
  Found List(Held& conn, Clock::time_point start);
  Found Visit(const VisitSchedule::Visit& visit, Held& conn,
              Clock::time_point start);
  // Requires mu. Returns connections to close outside the lock.
  std::vector<Held> Apply(const std::string& database, Found found,
                          Clock::time_point start);
  std::vector<Held> ApplyListing(const Found& found, Clock::time_point now);
  // Requires mu.
  Held Take(const std::string& database);
  std::vector<Held> Give(const std::string& database, Held conn, bool healthy);
  void Count(Held& conn);

  const std::string name;
  const Options options;
  const std::vector<Job> jobs;
  const size_t workers;
  const std::vector<bool> stateful;  // per job: parsed by the scrape

  mutable std::mutex mu;  // guards everything below
  std::condition_variable wake;
  bool stop = false;
  VisitSchedule schedule;
  Clock::time_point listed_at = Clock::time_point::min();
  std::vector<std::string> last_listing;  // after include and exclude
  Clock::time_point listing_tried = Clock::time_point::min();
  bool listing = false;
  std::string listing_error;         // as last logged
  std::map<std::string, Held> idle;  // kept connections, by database
  size_t in_use = 0;
  uint64_t use_counter = 0;
  std::map<std::string, std::vector<std::optional<DatabaseResult>>> results;
  std::vector<uint64_t> generations;
  std::map<std::string, uint64_t> errors;          // by database
  std::map<std::string, std::string> last_errors;  // as last logged
  uint64_t visits = 0, opened = 0;
  double visit_seconds = 0;
};

bool DatabaseVisitor::State::NeedListing(Clock::time_point now) const {
  if (listing) return false;
  const Clock::duration interval = schedule.ShortestInterval();
  const auto tried_within = [&](Clock::duration d) {
    return listing_tried != Clock::time_point::min() && now - listing_tried < d;
  };
  // With nothing to visit yet (a start while the server was down), every
  // few seconds, so the first visits follow the server's return.
  if (schedule.size() == 0) {
    return !tried_within(std::min<Clock::duration>(interval, kRelist));
  }
  return !tried_within(interval) && now - listed_at >= 2 * interval;
}

DatabaseVisitor::State::Found DatabaseVisitor::State::List(
    Held& conn, Clock::time_point start) {
  Found found;
  const Clock::time_point deadline = start + options.visit_timeout;
  if (!conn.database) conn.database = options.open("");
  try {
    conn.database->Open(deadline);
    QueryResult r;
    conn.database->Run({{kListDatabasesQuery}}, deadline,
                       [&](size_t, QueryResult got) { r = std::move(got); });
    if (!r.ok) throw std::runtime_error(r.error);
    for (size_t i = 0; i < r.rows.size(); ++i) {
      const RowView row(r.rows, i);
      found.databases.push_back(row.Text("datname"));
      if (row.Number("here") == 1) found.here = found.databases.back();
    }
    found.listed = true;
  } catch (const std::exception& e) {
    found.error = std::string("listing databases: ") + e.what();
  }
  return found;
}

DatabaseVisitor::State::Found DatabaseVisitor::State::Visit(
    const VisitSchedule::Visit& visit, Held& conn, Clock::time_point start) {
  Found found;
  found.results.resize(jobs.size());
  const Clock::time_point deadline = start + options.visit_timeout;
  auto fail = [&](size_t j, const std::string& why) {
    DatabaseResult& r = found.results[j].emplace();
    r.database = visit.database;
    r.error = why;
    r.fetched = start;
    if (found.error.empty()) found.error = why;
  };
  if (!conn.database) conn.database = options.open(visit.database);
  ServerInfo server;
  try {
    server = conn.database->Open(deadline);
  } catch (const std::exception& e) {
    for (size_t j : visit.jobs) fail(j, e.what());
    return found;
  }
  std::vector<Statement> statements = {{kListDatabasesQuery}};
  std::vector<size_t> asked;  // statement k + 1 is job asked[k]
  // The rows of job j: parsed here (the worker's time, not a scrape's),
  // or kept for a collector with state.
  auto succeed = [&](size_t j, Rows rows, double seconds) {
    DatabaseResult r;
    r.database = visit.database;
    r.ok = true;
    r.fetched = start;
    const auto parse_start = Clock::now();
    if (stateful[j]) {
      r.rows = std::make_shared<const Rows>(std::move(rows));
    } else {
      try {
        Families families;
        jobs[j].collector->Parse(server, rows, families);
        for (auto& f : families) {
          // Moved, not copied (a braced list would copy the family).
          auto part = std::make_shared<Families>();
          part->push_back(std::move(f));
          r.parts.push_back(std::move(part));
        }
      } catch (const std::exception& e) {
        return fail(j, std::string("parse: ") + e.what());
      }
    }
    r.seconds = seconds + Seconds(Clock::now() - parse_start);
    found.results[j] = std::move(r);
  };
  for (size_t j : visit.jobs) {
    std::string sql = jobs[j].collector->Query(server);
    if (sql.empty()) {  // nothing to ask this server: no rows
      succeed(j, Rows(), 0);
      continue;
    }
    statements.push_back({std::move(sql), jobs[j].collector->TimeoutMs()});
    asked.push_back(j);
  }
  const bool alive =
      conn.database->Run(statements, deadline, [&](size_t k, QueryResult got) {
        if (k == 0) {
          if (!got.ok) return;  // the next visit lists them
          found.listed = true;
          for (size_t i = 0; i < got.rows.size(); ++i) {
            found.databases.push_back(RowView(got.rows, i).Text("datname"));
          }
          return;
        }
        const size_t j = asked[k - 1];
        if (!got.ok) return fail(j, got.error);
        succeed(j, std::move(got.rows), got.seconds);
      });
  for (size_t j : asked) {
    if (!found.results[j]) fail(j, "connection lost");
  }
  if (!alive) conn.database.reset();  // the next visit connects again
  return found;
}

void DatabaseVisitor::State::Count(Held& conn) {
  if (!conn.database) return;
  const uint64_t now = conn.database->ConnectionsOpened();
  opened += now - std::min(now, conn.counted);
  conn.counted = now;
}

DatabaseVisitor::State::Held DatabaseVisitor::State::Take(
    const std::string& database) {
  Held conn;
  auto it = idle.find(database);
  if (it != idle.end()) {
    conn = std::move(it->second);
    idle.erase(it);
  }
  ++in_use;
  return conn;
}

std::vector<DatabaseVisitor::State::Held> DatabaseVisitor::State::Give(
    const std::string& database, Held conn, bool healthy) {
  --in_use;
  Count(conn);
  std::vector<Held> close;
  if (!conn.database) return close;
  if (!options.keep_connections || !healthy || !schedule.Has(database)) {
    close.push_back(std::move(conn));
    return close;
  }
  conn.used = ++use_counter;
  auto old = idle.find(database);
  if (old != idle.end()) {
    close.push_back(std::move(old->second));
    idle.erase(old);
  }
  idle.emplace(database, std::move(conn));
  // At most `workers` connections, in visits and kept together.
  while (!idle.empty() && idle.size() + in_use > workers) {
    auto lru = std::min_element(idle.begin(), idle.end(),
                                [](const auto& a, const auto& b) {
                                  return a.second.used < b.second.used;
                                });
    close.push_back(std::move(lru->second));
    idle.erase(lru);
  }
  return close;
}

std::vector<DatabaseVisitor::State::Held> DatabaseVisitor::State::ApplyListing(
    const Found& found, Clock::time_point now) {
  std::vector<Held> close;
  if (!found.listed) return close;
  std::vector<std::string> names;
  for (const auto& db : found.databases) {
    if (!options.include.empty() && !Listed(options.include, db)) continue;
    if (!Listed(options.exclude, db)) names.push_back(db);
  }
  listed_at = now;
  // Every visit lists them: most listings change nothing.
  if (names == last_listing) return close;
  last_listing = names;
  for (const auto& gone : schedule.SetDatabases(names, now)) {
    if (results.erase(gone)) {
      for (auto& g : generations) ++g;
    }
    errors.erase(gone);
    last_errors.erase(gone);
    auto it = idle.find(gone);
    if (it != idle.end()) {
      close.push_back(std::move(it->second));
      idle.erase(it);
    }
    Log(LogLevel::kInfo, "database \"" + gone + "\" of " + name +
                             " is no longer visited (dropped, renamed or "
                             "no longer allowed)");
  }
  return close;
}

std::vector<DatabaseVisitor::State::Held> DatabaseVisitor::State::Apply(
    const std::string& database, Found found, Clock::time_point start) {
  ++visits;
  visit_seconds += Seconds(Clock::now() - start);
  std::vector<Held> close = ApplyListing(found, Clock::now());
  if (!schedule.Has(database)) return close;  // forgotten meanwhile
  auto& mine = results[database];
  mine.resize(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (!found.results[j]) continue;
    mine[j] = std::move(found.results[j]);
    ++generations[j];
  }
  std::string& logged = last_errors[database];
  if (!found.error.empty()) ++errors[database];
  if (found.error != logged) {
    if (!found.error.empty()) {
      Log(LogLevel::kError, "visit of database \"" + database + "\" of " +
                                name + " failed: " + found.error);
    } else {
      Log(LogLevel::kInfo,
          "visit of database \"" + database + "\" of " + name + " recovered");
    }
    logged = found.error;
  }
  return close;
}

void DatabaseVisitor::State::Work() {
  std::unique_lock<std::mutex> lock(mu);
  while (!stop) {
    const Clock::time_point now = Clock::now();
    std::vector<Held> close;
    if (NeedListing(now)) {
      listing = true;
      listing_tried = now;
      Held conn = Take("");
      lock.unlock();
      Found found = List(conn, now);
      lock.lock();
      listing = false;
      // Once per change, like a visit's: a down server is retried every
      // interval.
      if (found.error != listing_error) {
        if (!found.error.empty()) {
          Log(LogLevel::kError,
              "per-database collectors of " + name + ": " + found.error);
        } else {
          Log(LogLevel::kInfo,
              "per-database collectors of " + name + ": listing recovered");
        }
        listing_error = found.error;
      }
      close = ApplyListing(found, Clock::now());
      auto more = Give(found.here, std::move(conn), found.listed);
      for (auto& c : more) close.push_back(std::move(c));
    } else {
      Clock::time_point wake_at;
      const std::optional<VisitSchedule::Visit> visit =
          schedule.Next(now, wake_at);
      if (!visit) {
        // Also wakes to check the listing, and never sleeps on max().
        wake.wait_until(lock, std::min(wake_at, now + std::chrono::seconds(1)));
        continue;
      }
      Held conn = Take(visit->database);
      lock.unlock();
      Found found = Visit(*visit, conn, now);
      lock.lock();
      const bool healthy = found.error.empty() || conn.database != nullptr;
      close = Apply(visit->database, std::move(found), now);
      schedule.Done(*visit, now);
      auto more = Give(visit->database, std::move(conn), healthy);
      for (auto& c : more) close.push_back(std::move(c));
    }
    lock.unlock();
    close.clear();  // closes connections without the lock
    lock.lock();
    wake.notify_all();
  }
}

DatabaseVisitor::DatabaseVisitor(std::string name, Options options,
                                 std::vector<Job> jobs)
    : state_(std::make_shared<State>(std::move(name), std::move(options),
                                     std::move(jobs))) {
  // Each worker holds its own reference: a visit stuck on a locked or
  // frozen database finishes (by its deadline) after the visitor is gone.
  for (size_t i = 0; i < state_->workers; ++i) {
    std::thread([s = state_] { s->Work(); }).detach();
  }
}

DatabaseVisitor::~DatabaseVisitor() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_all();
}

DatabaseVisitor::Results DatabaseVisitor::ResultsOf(size_t job) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  Results out;
  out.generation = state_->generations.at(job);
  for (const auto& [db, per_job] : state_->results) {
    if (per_job.size() > job && per_job[job]) {
      out.databases.push_back(*per_job[job]);
    }
  }
  return out;
}

uint64_t DatabaseVisitor::ConnectionsOpened() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->opened;
}

size_t DatabaseVisitor::OpenConnections() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->idle.size() + state_->in_use;
}

Families DatabaseVisitor::Collect() const {
  using prometheus::MetricType;
  std::lock_guard<std::mutex> lock(state_->mu);
  const State& s = *state_;
  Families out;
  FamilyBuilder("pgwarden_databases",
                "Databases the per-database collectors visit.",
                MetricType::Gauge)
      .Add(static_cast<double>(s.schedule.size()))
      .MoveTo(out);
  FamilyBuilder("pgwarden_database_visits_total",
                "Visits of the per-database collectors to a database, failed "
                "ones included.",
                MetricType::Counter)
      .Add(static_cast<double>(s.visits))
      .MoveTo(out);
  FamilyBuilder("pgwarden_database_visit_seconds_total",
                "Time spent in visits to databases (connecting and queries).",
                MetricType::Counter)
      .Add(s.visit_seconds)
      .MoveTo(out);
  FamilyBuilder("pgwarden_database_visit_spacing_seconds",
                "Least time between the starts of two visits: the shortest "
                "per-database interval over the databases, at most 1 s.",
                MetricType::Gauge)
      .Add(Seconds(s.schedule.Spacing()))
      .MoveTo(out);
  FamilyBuilder errors("pgwarden_database_visit_errors_total",
                       "Visits to a database that failed in part or whole, by "
                       "database (databases still visited).",
                       MetricType::Counter);
  for (const auto& [db, n] : s.errors) {
    errors.Add({{"datname", db}}, static_cast<double>(n));
  }
  errors.MoveTo(out);
  return out;
}

}  // namespace pgwarden
