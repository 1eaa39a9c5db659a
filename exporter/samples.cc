#include "exporter/samples.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "collectors/collector.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

// One row per session that is not idle, plus idle sessions that block
// another (the root of a session-level advisory lock), and always one row
// with the sample's time, so an idle server still ends the waits it saw.
// pg_stat_activity is read once (the CTE is materialized: it is used
// twice); pg_blocking_pids() and pg_locks, which take the lock manager's
// partition locks, only for sessions waiting on a heavyweight lock. WAL
// senders are left out: their "active" is streaming, not work.
// %QUERYID% is query_id (14+), %WAITSTART% pg_locks.waitstart (14+).
constexpr char kActivitySampleQuery[] = R"sql(
WITH s AS (
  SELECT pid, backend_start, state, wait_event_type, wait_event, datname,
         usename, application_name, %QUERYID% AS query_id
  FROM pg_catalog.pg_stat_activity
  WHERE pid <> pg_catalog.pg_backend_pid()
    AND backend_type IS DISTINCT FROM 'walsender'
), w AS (
  SELECT pid, pg_catalog.pg_blocking_pids(pid) AS blockers,
         %WAITSTART% AS waitstart
  FROM s WHERE wait_event_type = 'Lock'
)
SELECT extract(epoch FROM pg_catalog.clock_timestamp())::float8 AS sampled_at,
       b.*
FROM (SELECT 1) AS one
LEFT JOIN (
  SELECT s.pid, extract(epoch FROM s.backend_start)::float8 AS backend_start,
         s.state, s.wait_event_type, s.wait_event, s.datname::text AS datname,
         s.usename::text AS usename, s.application_name,
         s.query_id::text AS query_id,
         pg_catalog.array_to_string(w.blockers, ',') AS blockers,
         extract(epoch FROM w.waitstart)::float8 AS waitstart
  FROM s LEFT JOIN w ON w.pid = s.pid
  WHERE (s.state IS NOT NULL AND s.state <> 'idle')
     OR s.pid IN (SELECT pg_catalog.unnest(blockers) FROM w)
) AS b ON true)sql";

// Time a top N member's score halves in, and how long what is not seen is
// remembered.
constexpr double kHalfLifeSeconds = 120;
constexpr double kForgetAfterSeconds = 3600;
constexpr double kForgetEverySeconds = 300;
// A new waitstart this much later than the one seen is a new wait.
constexpr double kNewWaitSeconds = 0.001;

const char kOther[] = "other";

ActivityCounters::Key OtherBlocker(const ActivityCounters::Key& k) {
  return {k[0], kOther, kOther};
}
ActivityCounters::Key OtherQuery(const ActivityCounters::Key& k) {
  return {k[0], kOther};
}

}  // namespace

std::string ActivitySampleQuery(const ServerInfo& server) {
  const bool v14 = server.version_num >= 140000;
  return Substitute(Substitute(kActivitySampleQuery, "%QUERYID%",
                               v14 ? "query_id" : "NULL::bigint"),
                    "%WAITSTART%", LockWaitStartSql(server, "s.pid"));
}

std::string LockWaitStartSql(const ServerInfo& server, const std::string& pid) {
  if (server.version_num < 140000) return "NULL::timestamptz";
  return "(SELECT min(l.waitstart) FROM pg_catalog.pg_locks l WHERE l.pid = " +
         pid + " AND NOT l.granted)";
}

ActivitySample ParseActivitySample(const Rows& rows) {
  ActivitySample sample;
  bool timed = false;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowView row(rows, i);
    const auto at = row.Number("sampled_at");
    if (!at || !std::isfinite(*at)) {
      throw std::runtime_error("activity sample without a time");
    }
    sample.at = *at;
    timed = true;
    const auto pid = row.Number("pid");
    if (!pid) continue;  // the time row of an idle server
    SampledSession s;
    s.pid = static_cast<long>(*pid);
    s.backend_start = row.NumberOr("backend_start", 0);
    s.state = row.Text("state");
    s.wait_event_type = row.Text("wait_event_type");
    s.wait_event = row.Text("wait_event");
    s.datname = row.Text("datname");
    s.usename = row.Text("usename");
    s.application_name = row.Text("application_name");
    s.query_id = row.Text("query_id");
    if (s.query_id == "0") s.query_id.clear();
    s.blockers = ParsePidList(row.Text("blockers"), "pg_blocking_pids");
    s.wait_start = row.Number("waitstart");
    sample.sessions.push_back(std::move(s));
  }
  if (!timed) throw std::runtime_error("activity sample without a time");
  return sample;
}

const std::vector<double>& LockWaitBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return *buckets;
}

ActivityCounters::ActivityCounters(double interval_seconds, SampleLimits limits)
    : interval_(interval_seconds),
      top_blockers_(limits.blockers, kHalfLifeSeconds),
      top_queries_(limits.queries, kHalfLifeSeconds) {}

void ActivityCounters::AddTo(Counters& counters, const Key& key, double value) {
  Counter& c = counters[key];
  (c.exposed ? c.shown : c.held) += value;
  c.used = last_at_.value_or(0);
}

void ActivityCounters::Observe(const std::string& datname, double seconds) {
  Histogram& h = lock_waits_[{datname}];
  const auto& bounds = LockWaitBuckets();
  if (h.shown.empty()) {
    h.shown.assign(bounds.size() + 1, 0);
    h.held.assign(bounds.size() + 1, 0);
  }
  const size_t bucket =
      std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  (h.exposed ? h.shown : h.held)[bucket] += 1;
  (h.exposed ? h.shown_sum : h.held_sum) += seconds;
  (h.exposed ? h.shown_count : h.held_count) += 1;
  h.used = last_at_.value_or(0);
}

void ActivityCounters::TrackWaits(const ActivitySample& sample, double gap) {
  const double at = sample.at;
  std::set<std::pair<long, double>> seen;
  for (const SampledSession& s : sample.sessions) {
    if (s.wait_event_type != "Lock") continue;
    const std::pair<long, double> id{s.pid, s.backend_start};
    seen.insert(id);
    auto it = waits_.find(id);
    if (it != waits_.end() && it->second.wait_start && s.wait_start &&
        *s.wait_start > *it->second.wait_start + kNewWaitSeconds) {
      // The wait seen before ended and this session waits again.
      const Wait& w = it->second;
      const double end =
          std::min(w.last_seen + (at - w.last_seen) / 2, *s.wait_start);
      Observe(w.datname, std::max(0.0, end - w.start));
      waits_.erase(it);
      it = waits_.end();
    }
    if (it == waits_.end()) {
      Wait w;
      w.start = at - gap / 2;
      w.datname = s.datname;
      it = waits_.emplace(id, w).first;
    }
    Wait& w = it->second;
    if (s.wait_start && !w.wait_start && *s.wait_start <= at) {
      w.start = *s.wait_start;  // exact from the first sample that has it
    }
    if (s.wait_start) w.wait_start = s.wait_start;
    w.last_seen = at;
  }
  for (auto it = waits_.begin(); it != waits_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    const Wait& w = it->second;
    const double since = std::clamp(at - w.last_seen, 0.0, interval_);
    Observe(w.datname, std::max(0.0, w.last_seen + since / 2 - w.start));
    it = waits_.erase(it);
  }
}

void ActivityCounters::CreditTop(TopN<Key, KeyHash>& top,
                                 const std::map<Key, double>& increases,
                                 Counters& own, Key (*other)(const Key&)) {
  const double at = last_at_.value_or(0);
  for (const auto& [key, v] : increases) top.Score(key, v, at);
  top.Choose(at);
  for (const auto& [key, v] : increases) {
    const Key into_other = other(key);
    // A real key that looks like "other" is credited to it. A member's new
    // series needs no care: it is shown at 0 first, like every new one.
    const bool member = key != into_other &&
                        top.PlaceOf(key) != TopN<Key, KeyHash>::Place::kOut;
    AddTo(own, member ? key : into_other, v);
  }
}

void ActivityCounters::Add(const ActivitySample& sample) {
  const double at = sample.at;
  const double since = last_at_ ? at - *last_at_ : 0;
  // The time this sample stands for: since the previous one, unless that
  // was long ago (samples failed in between: what happened then is
  // unknown) or the server's clock went back.
  const double weight =
      (last_at_ && since > 0 && since <= 2 * interval_) ? since : interval_;
  last_at_ = at;
  TrackWaits(sample, weight);

  std::map<long, const SampledSession*> by_pid;
  for (const SampledSession& s : sample.sessions) by_pid[s.pid] = &s;
  std::map<Key, double> blocking, queries;
  for (const SampledSession& s : sample.sessions) {
    if (s.state.empty() || s.state == "idle") continue;  // a blocker only
    AddTo(sessions_, {s.datname, s.state}, weight);
    if (s.state == "active" && s.wait_event_type.empty()) {
      AddTo(wait_events_, {s.datname, "CPU", "CPU"}, weight);
    } else if (!s.wait_event_type.empty()) {
      AddTo(wait_events_, {s.datname, s.wait_event_type, s.wait_event}, weight);
    }
    if (s.state == "active" && !s.query_id.empty()) {
      queries[{s.datname, s.query_id}] += weight;
    }
    if (s.blockers.empty()) continue;
    AddTo(blocked_, {s.datname}, weight);
    // The root blockers: up the chain of blockers to those not blocked
    // themselves (or, in a cycle a deadlock check has yet to break, the
    // direct ones).
    std::vector<long> roots, todo = s.blockers;
    std::set<long> visited{s.pid};
    while (!todo.empty()) {
      const long b = todo.back();
      todo.pop_back();
      if (!visited.insert(b).second) continue;
      auto it = by_pid.find(b);
      if (it != by_pid.end() && !it->second->blockers.empty()) {
        for (long up : it->second->blockers) todo.push_back(up);
      } else {
        roots.push_back(b);
      }
    }
    if (roots.empty()) roots = s.blockers;
    for (long r : roots) {
      auto it = by_pid.find(r);
      // A prepared transaction (pid 0) or a session gone since: the
      // blocked session's database, no role or application.
      Key key = it == by_pid.end()
                    ? Key{s.datname, "", r == 0 ? "prepared transaction" : ""}
                    : Key{it->second->datname, it->second->usename,
                          it->second->application_name};
      blocking[key] += weight / roots.size();
    }
  }
  CreditTop(top_blockers_, blocking, blocking_, OtherBlocker);
  CreditTop(top_queries_, queries, queries_, OtherQuery);
  Forget(at);
}

void ActivityCounters::Forget(double now) {
  if (now - last_forget_ < kForgetEverySeconds) return;
  last_forget_ = now;
  const double cutoff = now - kForgetAfterSeconds;
  const auto unused = [cutoff](const auto& v) { return v.used < cutoff; };
  for (Counters* c :
       {&wait_events_, &sessions_, &blocked_, &blocking_, &queries_}) {
    EraseValuesIf(*c, unused);
  }
  EraseValuesIf(lock_waits_, unused);
  top_blockers_.ForgetScoredBefore(cutoff);
  top_queries_.ForgetScoredBefore(cutoff);
}

Families ActivityCounters::Collect() {
  using prometheus::MetricType;
  Families out;
  using Top = TopN<Key, KeyHash>;
  // With `top`, only its members' series and "other" are shown: a key that
  // left the top N keeps its sum (and continues it if it comes back), its
  // series goes stale.
  const auto emit = [&out](Counters& counters, const char* name,
                           const char* help,
                           const std::vector<std::string>& label_names,
                           const Top* top = nullptr,
                           Key(*other)(const Key&) = nullptr) {
    FamilyBuilder f(name, help, MetricType::Counter);
    for (auto& [key, c] : counters) {
      if (top && key != other(key) && top->PlaceOf(key) == Top::Place::kOut) {
        continue;
      }
      if (c.exposed) {
        c.shown += c.held;
        c.held = 0;
      }
      c.exposed = true;
      Labels labels;
      for (size_t i = 0; i < label_names.size(); ++i) {
        labels.emplace_back(label_names[i], key[i]);
      }
      f.Add(labels, c.shown);
    }
    f.MoveTo(out);
  };
  emit(wait_events_, "pg_wait_event_seconds_total",
       "Sampled session time by wait event; wait_event_type=\"CPU\" is an "
       "active session waiting on nothing (on CPU or not instrumented).",
       {"datname", "wait_event_type", "wait_event"});
  emit(sessions_, "pg_session_seconds_total",
       "Sampled session time by state (sessions that are not idle).",
       {"datname", "state"});
  emit(blocked_, "pg_blocked_seconds_total",
       "Sampled session time spent waiting on a lock another session holds.",
       {"datname"});
  emit(blocking_, "pg_blocking_seconds_total",
       "The time of pg_blocked_seconds_total, attributed to the root "
       "blockers' database, role and application (top N by recent time; "
       "the rest as \"other\").",
       {"datname", "usename", "application_name"}, &top_blockers_,
       OtherBlocker);
  emit(queries_, "pg_query_active_seconds_total",
       "Sampled active time by query id (PostgreSQL 14+ with "
       "compute_query_id; top N by recent time, the rest as "
       "queryid=\"other\").",
       {"datname", "queryid"}, &top_queries_, OtherQuery);
  FamilyBuilder f("pg_lock_wait_duration_seconds",
                  "Lock waits by duration, one observation per wait the "
                  "sampler saw end.",
                  MetricType::Histogram);
  const auto& bounds = LockWaitBuckets();
  for (auto& [key, h] : lock_waits_) {
    if (h.exposed) {
      for (size_t i = 0; i < h.shown.size(); ++i) h.shown[i] += h.held[i];
      std::fill(h.held.begin(), h.held.end(), 0);
      h.shown_sum += h.held_sum;
      h.shown_count += h.held_count;
      h.held_sum = h.held_count = 0;
    }
    h.exposed = true;
    std::vector<double> cumulative;
    double running = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      running += h.shown[i];
      cumulative.push_back(running);
    }
    f.AddHistogram({{"datname", key[0]}}, bounds, cumulative, h.shown_count,
                   h.shown_sum);
  }
  f.MoveTo(out);
  return out;
}

}  // namespace pgwarden
