#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exporter/counters.h"
#include "exporter/metrics.h"
#include "exporter/rows.h"
#include "exporter/server_info.h"

namespace pgwarden {

// One session as the activity sampler saw it: every session that is not
// idle, and idle ones that block another (a session-level advisory lock).
struct SampledSession {
  long pid = 0;
  double backend_start = 0;  // Unix seconds; with pid, names the session
  std::string state, wait_event_type, wait_event, datname, usename,
      application_name;
  std::string query_id;        // "" when unknown (before 14, or not computed)
  std::vector<long> blockers;  // pg_blocking_pids(), for lock waits only
  std::optional<double> wait_start;  // pg_locks.waitstart (14+), Unix s
};

struct ActivitySample {
  double at = 0;  // the server's clock when it was taken, Unix seconds
  std::vector<SampledSession> sessions;
};

// When the session `pid` (an SQL expression) began waiting for the lock it
// waits on: pg_locks.waitstart on 14+, NULL before.
std::string LockWaitStartSql(const ServerInfo& server, const std::string& pid);

// The one statement a sample runs on this server.
std::string ActivitySampleQuery(const ServerInfo& server);

// Reads ActivitySampleQuery's rows. Throws std::runtime_error for rows it
// cannot read (no sample time, a bad pid list).
ActivitySample ParseActivitySample(const Rows& rows);

struct SampleLimits {
  size_t blockers = 20;  // (datname, role, application) of root blockers
  size_t queries = 50;   // (datname, query id) of active queries
};

// Upper bounds of pg_lock_wait_duration_seconds' buckets.
const std::vector<double>& LockWaitBuckets();

// Turns a sequence of samples, taken every `interval_seconds`, into counters
// and a histogram that only grow:
// - each sample stands for the time since the previous one (the interval
//   after a gap, when the samples in between failed), credited to what
//   every session was doing then: its state, its wait event (an active
//   session waiting on nothing is "CPU": on CPU or not instrumented), being
//   blocked, blocking (split between its root blockers), its query id;
// - a lock wait is one observation when a sample no longer sees it (it
//   ended, or its session did): from its start (pg_locks.waitstart, or
//   halfway between the sample before it was seen and the first that saw
//   it) to halfway between the last sample that saw it and the first that
//   did not. Halfway is the unbiased estimate; a wait that starts and ends
//   between two samples is never seen. A session is its pid and
//   backend_start, so a reused pid is a new session.
// Label sets are bounded: roles and applications of root blockers, and
// query ids, keep series of their own only in a top N by recent time
// (two-minute half-life), the rest go to "other" of their database; what is
// not seen for an hour is forgotten. A new series is shown at 0 first and
// what it counted until then joins it at the next Collect(), since
// Prometheus takes a series' first sample as its starting point.
// Not thread-safe.
class ActivityCounters {
 public:
  using Key = std::vector<std::string>;  // label values
  ActivityCounters(double interval_seconds, SampleLimits limits);

  void Add(const ActivitySample& sample);

  // The families, shown to one scrape.
  Families Collect();

 private:
  struct Counter {
    double shown = 0, held = 0;
    bool exposed = false;
    double used = 0;  // sample time of its last increase
  };
  struct Histogram {
    std::vector<double> shown, held;  // per bucket, +Inf last
    double shown_sum = 0, held_sum = 0, shown_count = 0, held_count = 0;
    bool exposed = false;
    double used = 0;
  };
  struct Wait {
    double start = 0, last_seen = 0;
    std::optional<double> wait_start;
    std::string datname;
  };
  using Counters = std::map<Key, Counter>;
  struct KeyHash {
    size_t operator()(const Key& k) const {
      size_t h = 0;
      for (const auto& s : k) h = h * 1000003 ^ std::hash<std::string>()(s);
      return h;
    }
  };

  void AddTo(Counters& counters, const Key& key, double value);
  void Observe(const std::string& datname, double seconds);
  void TrackWaits(const ActivitySample& sample, double gap);
  // Credits `increases` to their own series while in the top N, to "other"
  // of their database (`other`(key)) otherwise.
  void CreditTop(TopN<Key, KeyHash>& top,
                 const std::map<Key, double>& increases, Counters& own,
                 Key (*other)(const Key&));
  void Forget(double now);

  const double interval_;
  std::optional<double> last_at_;
  double last_forget_ = 0;
  Counters wait_events_, sessions_, blocked_, blocking_, queries_;
  std::map<Key, Histogram> lock_waits_;
  std::map<std::pair<long, double>, Wait> waits_;
  TopN<Key, KeyHash> top_blockers_, top_queries_;
};

}  // namespace pgwarden
