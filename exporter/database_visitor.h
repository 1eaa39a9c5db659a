#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "exporter/database.h"
#include "exporter/metrics.h"

namespace pgwarden {

// When each database of a server is visited, for collectors that each have
// their own interval. Pure: time is an argument, and nothing here locks.
//
// Each database is due when one of its collectors is; a visit runs the
// collectors due then (or within one spacing of it). Visits start at least
// Spacing() apart: the shortest interval divided by the number of
// databases, at most 1 s, so a round of a large server spreads over one
// interval and a small one's takes a few seconds. A database is never
// visited twice at once.
class VisitSchedule {
 public:
  explicit VisitSchedule(std::vector<Clock::duration> intervals);

  // The databases to visit from now on. New ones are due at once (in this
  // order, after those already due); returns those no longer listed, whose
  // results are to be forgotten.
  std::vector<std::string> SetDatabases(const std::vector<std::string>& names,
                                        Clock::time_point now);

  struct Visit {
    std::string database;
    std::vector<size_t> jobs;  // indices into the intervals
  };
  // The visit to start at `now`, if one is due and the pace allows it; it
  // is busy until Done(). Otherwise nothing, and `wake` says when to ask
  // again (time_point::max() when nothing can become due).
  std::optional<Visit> Next(Clock::time_point now, Clock::time_point& wake);
  // A visit that started at `started` has ended: its jobs count as run then.
  void Done(const Visit& visit, Clock::time_point started);

  Clock::duration Spacing() const;
  Clock::duration ShortestInterval() const { return shortest_; }
  size_t size() const { return databases_.size(); }
  bool Has(const std::string& database) const {
    return databases_.count(database) > 0;
  }
  std::vector<std::string> Databases() const;

 private:
  struct Entry {
    std::vector<Clock::time_point> last_run;  // min(): never
    Clock::time_point listed;
    uint64_t order = 0;  // listing order, for new databases' turn
    bool busy = false;
  };
  Clock::time_point Due(const Entry& e, size_t job) const;
  Clock::time_point NextDue(const Entry& e) const;

  const std::vector<Clock::duration> intervals_;
  const Clock::duration shortest_;
  std::map<std::string, Entry> databases_;
  uint64_t listed_ = 0;
  Clock::time_point next_start_ = Clock::time_point::min();
};

// A target's per-database collectors, run in the background: a few worker
// threads visit the server's databases on a VisitSchedule, each visit on
// the visited database's own connection, and keep the latest result of
// each collector in each database, parsed, for scrapes to read: a scrape
// never waits for a visit, and what a database's visit parsed is served
// (and its text cached) until its next visit.
//
// The list of databases comes with every visit (pg_database is shared by
// all of them), so new and dropped databases are picked up within a
// spacing; at start (and every 5 s while there is nothing to visit), or
// when no visit has listed them for two intervals, a worker lists them on a
// connection to the target's own database. A
// database that fails (refused, slow, locked, dropped) delays only its own
// results: its failure is counted under its name and logged once per
// change of error.
class DatabaseVisitor {
 public:
  struct Options {
    // Opens a connection to the named database of the target's server, ""
    // being the target's own. Without it there is no visitor.
    std::function<std::unique_ptr<Database>(const std::string& dbname)> open;
    // Databases to visit, by name (empty include = all that allow
    // connections and that the role may connect to).
    std::vector<std::string> include;
    std::vector<std::string> exclude;
    // Most connections the target holds at once, its main one included:
    // the visitor runs max_connections - 1 visits at once, one connection
    // each. 1: no visitor; the connected database only, on the main one.
    int max_connections = 5;
    // Keep each database's connection open between its visits (up to the
    // visitor's share of max_connections, least recently used closed
    // first) instead of closing it after the visit. Fewer connections in
    // the server log, but an open session blocks DROP DATABASE.
    bool keep_connections = false;
    // A visit (connecting included) gives up after this long.
    Clock::duration visit_timeout = std::chrono::seconds(10);
  };
  struct Job {
    std::shared_ptr<const Collector> collector;
    Clock::duration interval;  // > 0
  };

  // Starts visiting for `name` (a redacted DSN, for logs).
  DatabaseVisitor(std::string name, Options options, std::vector<Job> jobs);
  // Stops; a visit in flight ends on its own, by its deadline.
  ~DatabaseVisitor();
  DatabaseVisitor(const DatabaseVisitor&) = delete;
  DatabaseVisitor& operator=(const DatabaseVisitor&) = delete;

  // One database's latest result of one job.
  struct DatabaseResult {
    std::string database;
    bool ok = false;
    // Parsed in the visit, one family per part (a collector without
    // state), or the rows for the scrape to parse with the collector's
    // state; neither when failed.
    std::vector<std::shared_ptr<const Families>> parts;
    std::shared_ptr<const Rows> rows;
    std::string error;
    Clock::time_point fetched;  // when the visit started
    double seconds = 0;         // the query's and the parse's time
  };
  struct Results {
    // Changes whenever any database's result of the job changes or a
    // database is forgotten.
    uint64_t generation = 0;
    std::vector<DatabaseResult> databases;  // by name; visited ones only
  };
  Results ResultsOf(size_t job) const;

  // pgwarden_database_* families: visits, errors by database, time spent,
  // databases known.
  Families Collect() const;
  // Connections the visitor has opened, and holds now.
  uint64_t ConnectionsOpened() const;
  size_t OpenConnections() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace pgwarden
