// blocking: who blocks whom, from pg_blocking_pids().

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_blocking_pids(): blocked sessions, root blockers and their pids";

// pg_blocking_pids() takes the lock manager's partition locks, so it is
// called only for sessions that wait on a heavyweight lock. Rows: each such
// session with its blockers (kind 'session'), each blocker that is not itself
// waiting, and each database for zero-filling. Blocker pid 0 is a prepared
// transaction. %WAITSTART% is the time the session's wait began; %QUERY%
// the session's current or last statement, cut to --blocking_query_length
// characters, or NULL when that is 0.
constexpr char kBlockingQuery[] = R"sql(
WITH waiting AS (
  SELECT pid, pg_blocking_pids(pid) AS blockers
  FROM pg_stat_activity
  WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
)
SELECT 'session' AS kind, a.pid, coalesce(a.datname::text, '') AS datname,
       coalesce(a.usename::text, '') AS usename,
       coalesce(a.application_name, '') AS application_name,
       coalesce(a.state, '') AS state,
       array_to_string(w.blockers, ',') AS blockers, %QUERY% AS query,
       CASE WHEN cardinality(w.blockers) > 0
            THEN greatest(0, extract(epoch FROM now() - %WAITSTART%))
       END AS wait_seconds
FROM pg_stat_activity a
LEFT JOIN waiting w ON w.pid = a.pid
WHERE cardinality(w.blockers) > 0
   OR a.pid IN (SELECT unnest(blockers) FROM waiting)
UNION ALL
SELECT 'database', NULL, datname::text, NULL, NULL, NULL, NULL, NULL, NULL
FROM pg_database WHERE datallowconn)sql";

constexpr char kWaitStart14[] =
    "coalesce((SELECT min(l.waitstart) FROM pg_locks l "
    "WHERE l.pid = a.pid AND NOT l.granted), a.query_start)";
constexpr char kWaitStartOld[] = "a.query_start";

struct Session {
  std::string datname, usename, application_name, state, query;
  std::vector<long> blockers;
  double wait_seconds = 0;
  bool known =
      false;  // seen as a row (blocker pid 0 and vanished pids are not)
};

class BlockingCollector final : public Collector {
 public:
  explicit BlockingCollector(const CollectorOptions& options)
      : top_roots_(std::max(0, options.blocking_top_roots)),
        query_length_(std::max(0, options.blocking_query_length)) {}

  std::string_view Name() const override { return "blocking"; }

  std::string Query(const ServerInfo& server) const override {
    return Substitute(
        Substitute(kBlockingQuery, "%WAITSTART%",
                   server.version_num >= 140000 ? kWaitStart14 : kWaitStartOld),
        "%QUERY%",
        query_length_ > 0
            ? "left(a.query, " + std::to_string(query_length_) + ")"
            : std::string("NULL::text"));
  }

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    std::map<long, Session> sessions;
    std::set<std::string> databases;
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      if (row.Text("kind") == "database") {
        databases.insert(row.Text("datname"));
        continue;
      }
      const auto pid = row.Number("pid");
      if (!pid) continue;  // a session row always has a pid; skip if not
      Session& s = sessions[static_cast<long>(*pid)];
      s.known = true;
      s.datname = row.Text("datname");
      s.usename = row.Text("usename");
      s.application_name = row.Text("application_name");
      s.state = row.Text("state");
      s.query = row.Text("query");
      s.blockers = ParsePidList(row.Text("blockers"), "pg_blocking_pids");
      s.wait_seconds = row.NumberOr("wait_seconds", 0);
    }

    // Edges blocker -> blocked. A blocker we have no row for (a prepared
    // transaction, or a session that ended between the two reads) is still
    // a root: it takes the blocked session's database.
    std::map<long, std::vector<long>> blocks;
    for (auto& [pid, s] : sessions) {
      for (long b : s.blockers) blocks[b].push_back(pid);
    }
    for (const auto& [blocker, victims] : blocks) {
      Session& b = sessions[blocker];
      if (!b.known && b.datname.empty())
        b.datname = sessions[victims[0]].datname;
    }

    Aggregate blocked(Aggregate::Mode::kSum), max_wait(Aggregate::Mode::kMax),
        roots(Aggregate::Mode::kSum);
    for (const auto& db : databases) {
      blocked.Touch({db});
      max_wait.Touch({db});
      roots.Touch({db});
    }
    struct Root {
      long pid;
      size_t victims;
    };
    std::vector<Root> root_list;
    for (const auto& [pid, s] : sessions) {
      if (!s.blockers.empty()) {
        blocked.Put({s.datname}, 1);
        max_wait.Put({s.datname}, s.wait_seconds);
      } else if (blocks.count(pid)) {
        roots.Put({s.datname}, 1);
        root_list.push_back({pid, CountBlocked(pid, blocks)});
      }
    }
    std::sort(
        root_list.begin(), root_list.end(), [](const Root& a, const Root& b) {
          return a.victims != b.victims ? a.victims > b.victims : a.pid < b.pid;
        });
    if (root_list.size() > static_cast<size_t>(top_roots_)) {
      root_list.resize(static_cast<size_t>(top_roots_));
    }

    using prometheus::MetricType;
    FamilyBuilder f_blocked(
        "pg_blocked_sessions",
        "Sessions waiting on a lock held by another session.",
        MetricType::Gauge);
    blocked.EmitTo(f_blocked, {"datname"});
    f_blocked.MoveTo(out);
    FamilyBuilder f_wait("pg_blocked_max_wait_seconds",
                         "How long the longest-blocked session has waited.",
                         MetricType::Gauge);
    max_wait.EmitTo(f_wait, {"datname"});
    f_wait.MoveTo(out);
    FamilyBuilder f_roots("pg_blocking_root_sessions",
                          "Sessions that block others and are not blocked "
                          "themselves (the ones to cancel).",
                          MetricType::Gauge);
    roots.EmitTo(f_roots, {"datname"});
    f_roots.MoveTo(out);
    FamilyBuilder f_info(
        "pg_blocking_session_info",
        "Root blockers (top by sessions blocked); the value is the number of "
        "sessions each blocks directly or transitively.",
        MetricType::Gauge);
    for (const Root& r : root_list) {
      const Session& s = sessions[r.pid];
      Labels labels = {{"pid", std::to_string(r.pid)},
                       {"datname", s.datname},
                       {"usename", s.usename},
                       {"application_name", s.application_name},
                       {"state", s.known ? s.state : "prepared or gone"}};
      // The root's current (or, idle in transaction, last) statement: what
      // an on-call person needs to judge whether to cancel it.
      if (query_length_ > 0) labels.emplace_back("query", s.query);
      f_info.Add(labels, static_cast<double>(r.victims));
    }
    f_info.MoveToAlways(out);
  }

 private:
  // Sessions reachable from `root` along blocker -> blocked edges.
  static size_t CountBlocked(long root,
                             const std::map<long, std::vector<long>>& blocks) {
    std::set<long> seen{root};
    std::vector<long> stack{root};
    while (!stack.empty()) {
      const long pid = stack.back();
      stack.pop_back();
      auto it = blocks.find(pid);
      if (it == blocks.end()) continue;
      for (long victim : it->second) {
        if (seen.insert(victim).second) stack.push_back(victim);
      }
    }
    return seen.size() - 1;
  }

  int top_roots_;
  int query_length_;
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(blocking, OnByDefault(),
                            ::pgwarden::BlockingCollector);
