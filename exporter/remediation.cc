#include "exporter/remediation.h"

#include <fnmatch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "collectors/collector.h"
#include "exporter/counters.h"
#include "exporter/log.h"
#include "exporter/samples.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

// Sessions waiting on a lock, the sessions they wait for, and (%AGED%) old
// enough for an age rule; each with what the rules and the audit need. The
// timestamps come back as the server's text, which the guarded statement
// compares exactly (a float would lose microseconds). pg_stat_activity is
// read once; pg_blocking_pids() only for sessions waiting on a lock.
// %WAITSTART% is pg_locks.waitstart (14+), %QUERY% the query text or NULL.
constexpr char kRemediationQuery[] = R"sql(
WITH s AS MATERIALIZED (
  SELECT a.pid, a.backend_start, a.xact_start, a.query_start, a.state_change,
         a.backend_type, a.state, a.wait_event_type, a.datname::text AS datname,
         a.usename::text AS usename, a.application_name,
         pg_catalog.host(a.client_addr) AS client_addr, a.query,
         coalesce(r.rolsuper, false) AS superuser
  FROM pg_catalog.pg_stat_activity AS a
  LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = a.usesysid
  WHERE a.pid <> pg_catalog.pg_backend_pid()
), w AS (
  SELECT s.pid, pg_catalog.pg_blocking_pids(s.pid) AS blockers,
         coalesce(%WAITSTART%, s.query_start) AS waiting_since
  FROM s WHERE s.wait_event_type = 'Lock'
)
SELECT s.pid, s.backend_start::text AS backend_start,
       s.xact_start::text AS xact_start, s.query_start::text AS query_start,
       s.state_change::text AS state_change, s.backend_type, s.state,
       s.datname, s.usename, s.application_name, s.client_addr, s.superuser,
       extract(epoch FROM pg_catalog.statement_timestamp() - s.query_start)::float8
         AS query_age,
       extract(epoch FROM pg_catalog.statement_timestamp() - s.xact_start)::float8
         AS xact_age,
       pg_catalog.array_to_string(w.blockers, ',') AS blockers,
       extract(epoch FROM pg_catalog.statement_timestamp() - w.waiting_since)::float8
         AS lock_wait_seconds,
       %QUERY% AS query
FROM s LEFT JOIN w ON w.pid = s.pid
WHERE w.pid IS NOT NULL
   OR s.pid IN (SELECT pg_catalog.unnest(w.blockers) FROM w)
   OR %AGED%)sql";

// Time a session stays tracked (its escalation, what was audited) after it
// stopped matching, so a flapping match does not restart its grace.
constexpr auto kForgetAfter = std::chrono::seconds(60);

constexpr auto kMinBetweenActions = std::chrono::seconds(1);

constexpr const char* kResults[] = {"done", "skipped", "would_do", "failed"};

bool AnyGlob(const std::vector<std::string>& patterns,
             const std::string& value) {
  if (patterns.empty()) return true;
  for (const std::string& p : patterns) {
    if (fnmatch(p.c_str(), value.c_str(), 0) == 0) return true;
  }
  return false;
}

// client_addr patterns: CIDR ranges ("10.0.0.0/8") or globs.
bool AnyAddress(const std::vector<std::string>& patterns,
                const std::string& address) {
  if (patterns.empty()) return true;
  for (const std::string& p : patterns) {
    CidrRange range;
    if (ParseCidr(p, range) ? InCidr(range, address)
                            : fnmatch(p.c_str(), address.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

bool Matches(const RemediationMatch& m, const RemediationSession& s, bool root,
             int blocked, double longest_wait) {
  if (m.min_blocked_sessions > 0 &&
      (!root || blocked < m.min_blocked_sessions ||
       longest_wait < m.min_blocking_seconds)) {
    return false;
  }
  if (m.min_query_age_seconds > 0 && (s.state == "idle" || !s.query_age ||
                                      *s.query_age < m.min_query_age_seconds)) {
    return false;
  }
  if (m.min_xact_age_seconds > 0 &&
      (!s.xact_age || *s.xact_age < m.min_xact_age_seconds)) {
    return false;
  }
  if (!m.state.empty() &&
      std::find(m.state.begin(), m.state.end(), s.state) == m.state.end()) {
    return false;
  }
  return AnyGlob(m.usename, s.usename) &&
         AnyGlob(m.application_name, s.application_name) &&
         AnyGlob(m.datname, s.datname) &&
         AnyAddress(m.client_addr, s.client_addr);
}

// `column` of s equals the timestamp the server showed as `text`.
std::string SameTime(const char* column, const std::string& text) {
  return text.empty() ? std::string("s.") + column + " IS NULL"
                      : std::string("s.") + column + " = " +
                            QuoteLiteral(text) + "::timestamptz";
}

}  // namespace

std::string RemediationQuery(const ServerInfo& server,
                             const RemediationPolicy& policy) {
  double age = 0;  // the smallest age a rule without blockers asks for
  for (const RemediationRule& r : policy.rules) {
    if (r.match.min_blocked_sessions > 0) continue;
    for (double a :
         {r.match.min_query_age_seconds, r.match.min_xact_age_seconds}) {
      if (a > 0 && (age == 0 || a < age)) age = a;
    }
  }
  std::string aged = "false";
  if (age > 0) {
    char interval[64];
    std::snprintf(interval, sizeof(interval), "%.3f", age);
    aged = std::string(
               "(s.state IS DISTINCT FROM 'idle' AND "
               "(s.query_start < pg_catalog.statement_timestamp() - "
               "interval '") +
           interval +
           " seconds' OR s.xact_start < pg_catalog.statement_timestamp() - "
           "interval '" +
           interval + " seconds'))";
  }
  std::string sql = Substitute(kRemediationQuery, "%WAITSTART%",
                               LockWaitStartSql(server, "s.pid"));
  sql = Substitute(sql, "%QUERY%",
                   policy.audit_query_text ? "pg_catalog.left(s.query, 1024)"
                                           : "NULL::text");
  return Substitute(sql, "%AGED%", aged);
}

std::vector<RemediationSession> ParseRemediationSessions(const Rows& rows) {
  std::vector<RemediationSession> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowView row(rows, i);
    const auto pid = row.Number("pid");
    if (!pid) throw std::runtime_error("remediation: a session without a pid");
    RemediationSession s;
    s.pid = static_cast<long>(*pid);
    s.backend_start = row.Text("backend_start");
    s.xact_start = row.Text("xact_start");
    s.query_start = row.Text("query_start");
    s.state_change = row.Text("state_change");
    s.backend_type = row.Text("backend_type");
    s.state = row.Text("state");
    s.datname = row.Text("datname");
    s.usename = row.Text("usename");
    s.application_name = row.Text("application_name");
    s.client_addr = row.Text("client_addr");
    s.query = row.Text("query");
    s.superuser = row.NumberOr("superuser", 1) != 0;
    s.query_age = row.Number("query_age");
    s.xact_age = row.Number("xact_age");
    s.blockers = ParsePidList(row.Text("blockers"), "pg_blocking_pids");
    s.lock_wait_seconds = std::max(0.0, row.NumberOr("lock_wait_seconds", 0));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<RemediationCandidate> MatchRemediationRules(
    const RemediationPolicy& policy,
    const std::vector<RemediationSession>& sessions,
    const std::set<std::string>& own_applications) {
  std::map<long, const RemediationSession*> by_pid;
  std::map<long, std::vector<long>> blocks;  // blocker -> directly blocked
  for (const RemediationSession& s : sessions) {
    by_pid[s.pid] = &s;
    for (long b : s.blockers) blocks[b].push_back(s.pid);
  }
  std::vector<RemediationCandidate> out;
  for (const RemediationSession& s : sessions) {
    // Everyone waiting behind s, directly or through others.
    std::set<long> behind;
    std::vector<long> todo = blocks[s.pid];
    while (!todo.empty()) {
      const long p = todo.back();
      todo.pop_back();
      if (!behind.insert(p).second) continue;
      for (long q : blocks[p]) todo.push_back(q);
    }
    behind.erase(s.pid);  // a cycle (deadlock detection breaks those)
    double longest = 0;
    for (long p : behind) {
      auto it = by_pid.find(p);
      if (it != by_pid.end()) {
        longest = std::max(longest, it->second->lock_wait_seconds);
      }
    }
    const bool root = !behind.empty() && s.blockers.empty();
    for (const RemediationRule& rule : policy.rules) {
      if (!Matches(rule.match, s, root, static_cast<int>(behind.size()),
                   longest)) {
        continue;
      }
      RemediationCandidate c;
      c.rule = &rule;
      c.session = s;
      c.blocked_sessions = static_cast<int>(behind.size());
      c.longest_wait_seconds = longest;
      if (s.backend_type != "client backend") {
        c.protection = "not a client backend (" + s.backend_type + ")";
      } else if (s.superuser) {
        c.protection = "a superuser's session";
      } else if (own_applications.count(s.application_name)) {
        c.protection = "pgwarden's own session";
      }
      out.push_back(std::move(c));
      break;
    }
  }
  std::sort(out.begin(), out.end(),
            [](const RemediationCandidate& a, const RemediationCandidate& b) {
              if (a.blocked_sessions != b.blocked_sessions) {
                return a.blocked_sessions > b.blocked_sessions;
              }
              if (a.longest_wait_seconds != b.longest_wait_seconds) {
                return a.longest_wait_seconds > b.longest_wait_seconds;
              }
              return a.session.pid < b.session.pid;
            });
  return out;
}

std::string GuardedActionSql(const RemediationCandidate& c, bool terminate,
                             bool signal) {
  const RemediationSession& s = c.session;
  const RemediationMatch& m = c.rule->match;
  std::string sql =
      std::string("SELECT ") +
      (!signal     ? "true"
       : terminate ? "pg_catalog.pg_terminate_backend(s.pid)"
                   : "pg_catalog.pg_cancel_backend(s.pid)") +
      " AS signalled FROM pg_catalog.pg_stat_activity AS s WHERE s.pid = " +
      std::to_string(s.pid) + " AND " +
      SameTime("backend_start", s.backend_start) +
      " AND s.backend_type = 'client backend' AND s.pid <> "
      "pg_catalog.pg_backend_pid() AND NOT coalesce((SELECT r.rolsuper FROM "
      "pg_catalog.pg_roles AS r WHERE r.oid = s.usesysid), true)";
  if (!m.state.empty()) {
    std::string states;
    for (const std::string& state : m.state) {
      states += (states.empty() ? "" : ", ") + QuoteLiteral(state);
    }
    sql += " AND s.state IN (" + states + ") AND " +
           SameTime("state_change", s.state_change);
  }
  if (m.min_query_age_seconds > 0) {
    sql += " AND " + SameTime("query_start", s.query_start);
  }
  if (m.min_xact_age_seconds > 0) {
    sql += " AND " + SameTime("xact_start", s.xact_start);
  }
  if (m.min_blocked_sessions > 0) {
    sql +=
        " AND pg_catalog.cardinality(pg_catalog.pg_blocking_pids(s.pid)) = 0"
        " AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity AS w WHERE "
        "w.wait_event_type = 'Lock' AND s.pid = ANY "
        "(pg_catalog.pg_blocking_pids(w.pid)))";
  }
  return sql;
}

RemediationEngine::RemediationEngine(
    RemediationPolicy policy, std::set<std::string> own_applications,
    std::function<void(const std::string&)> audit)
    : policy_(std::move(policy)),
      own_(std::move(own_applications)),
      audit_(std::move(audit)) {
  for (const RemediationRule& r : policy_.rules) {
    candidates_[r.name] = 0;
    std::vector<const char*> actions;
    if (r.action != RemediationAction::kTerminate) actions.push_back("cancel");
    if (r.action != RemediationAction::kCancel) actions.push_back("terminate");
    for (const char* a : actions) {
      for (const char* result : kResults) actions_[{r.name, a, result}] = 0;
    }
  }
}

std::optional<bool> RemediationEngine::NextAction(const RemediationCandidate& c,
                                                  const Tracked& t,
                                                  Clock::time_point now) const {
  const auto grace = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(c.rule->grace_seconds));
  const bool acted = t.cancels + t.terminates > 0;
  // Even with no grace, a signal gets a moment to land before the next one
  // (a terminated backend is still listed for a few milliseconds).
  if (t.finished ||
      (acted && now - t.last_action <
                    std::max<Clock::duration>(grace, kMinBetweenActions))) {
    return std::nullopt;
  }
  const bool stuck = CancelCannotEnd(c.session.state);
  switch (c.rule->action) {
    case RemediationAction::kCancel:
      if (stuck) return std::nullopt;
      return false;
    case RemediationAction::kTerminate:
      return true;
    case RemediationAction::kCancelThenTerminate:
      // A cancel cannot end a session idle in its transaction: it gets the
      // grace to end it itself, then it is terminated.
      if (stuck && !acted && now - t.first_seen < grace) return std::nullopt;
      return stuck || t.cancels > 0;
  }
  return std::nullopt;
}

void RemediationEngine::Count(const std::string& rule, const char* action,
                              const char* result) {
  actions_[{rule, action, result}] += 1;
}

void RemediationEngine::Audit(const char* event, const RemediationCandidate& c,
                              const char* action, const char* result,
                              const std::string& reason) {
  if (!audit_) return;
  const RemediationSession& s = c.session;
  std::string line = "{";
  bool first = true;
  const auto key = [&](const char* k) {
    line += first ? "\"" : ",\"";
    first = false;
    line += k;
    line += "\":";
  };
  const auto text = [&](const char* k, const std::string& v) {
    key(k);
    AppendQuoted(line, v, true);
  };
  const auto number = [&](const char* k, double v) {
    key(k);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3f", std::isfinite(v) ? v : 0.0);
    line += buf;
  };
  text("ts", UtcTimestamp());
  text("event", event);
  text("mode", policy_.enforce ? "enforce" : "dry_run");
  text("rule", c.rule->name);
  if (*action) text("action", action);
  if (*result) text("result", result);
  if (!reason.empty()) text("reason", reason);
  key("pid");
  line += std::to_string(s.pid);
  text("backend_start", s.backend_start);
  text("backend_type", s.backend_type);
  text("usename", s.usename);
  text("application_name", s.application_name);
  text("datname", s.datname);
  text("client_addr", s.client_addr);
  text("state", s.state);
  key("blocked_sessions");
  line += std::to_string(c.blocked_sessions);
  number("longest_wait_seconds", c.longest_wait_seconds);
  if (s.xact_age) number("xact_age_seconds", *s.xact_age);
  if (s.query_age) number("query_age_seconds", *s.query_age);
  if (policy_.audit_query_text) text("query", s.query);
  line += "}";
  audit_(line);
}

void RemediationEngine::Evaluate(Database& database, Clock::time_point now,
                                 Clock::time_point deadline) {
  ++evaluations_;
  std::vector<RemediationCandidate> candidates;
  try {
    const ServerInfo server = database.Open(deadline);
    QueryResult result;
    database.Run({Statement{RemediationQuery(server, policy_)}}, deadline,
                 [&](size_t, QueryResult r) { result = std::move(r); });
    if (!result.ok) {
      throw std::runtime_error(result.error.empty() ? "no result"
                                                    : result.error);
    }
    candidates = MatchRemediationRules(
        policy_, ParseRemediationSessions(result.rows), own_);
  } catch (...) {
    ++errors_;
    throw;
  }
  for (auto& [rule, n] : candidates_) n = 0;
  while (!recent_actions_.empty() &&
         now - recent_actions_.front() >= std::chrono::minutes(1)) {
    recent_actions_.pop_front();
  }
  std::vector<Due> due;
  for (const RemediationCandidate& c : candidates) {
    const SessionId id{c.session.pid, c.session.backend_start};
    auto [it, fresh] = tracked_.try_emplace(id);
    Tracked& t = it->second;
    if (fresh || t.rule != c.rule->name) {
      t = Tracked{};
      t.rule = c.rule->name;
      t.first_seen = now;
      Audit(c.protection.empty() ? "candidate" : "protected", c, "", "",
            c.protection);
    }
    t.last_seen = now;
    if (!c.protection.empty()) continue;
    candidates_[c.rule->name] += 1;
    const std::optional<bool> terminate = NextAction(c, t, now);
    if (!terminate) continue;
    const char* action = *terminate ? "terminate" : "cancel";
    if (static_cast<int>(recent_actions_.size()) >=
        policy_.max_actions_per_minute) {
      if (!t.rate_limited) {
        t.rate_limited = true;
        Count(c.rule->name, action, "skipped");
        Audit("action", c, action, "skipped",
              "max_actions_per_minute (" +
                  std::to_string(policy_.max_actions_per_minute) +
                  ") reached; retried when the limit allows");
      }
      continue;
    }
    recent_actions_.push_back(now);
    due.push_back({&c, *terminate});
  }
  EraseValuesIf(tracked_, [&](const Tracked& t) {
    return now - t.last_seen > kForgetAfter;
  });
  if (due.empty()) return;

  std::vector<Statement> statements;
  for (const Due& d : due) {
    statements.push_back(
        {GuardedActionSql(*d.candidate, d.terminate, policy_.enforce)});
  }
  std::vector<std::optional<QueryResult>> results(due.size());
  database.Run(statements, deadline,
               [&](size_t i, QueryResult r) { results[i] = std::move(r); });
  for (size_t i = 0; i < due.size(); ++i) {
    const RemediationCandidate& c = *due[i].candidate;
    const char* action = due[i].terminate ? "terminate" : "cancel";
    const char* result = "failed";
    std::string reason;
    if (!results[i]) {
      reason = "no answer from the server";
    } else if (!results[i]->ok) {
      reason = results[i]->error;
    } else if (results[i]->rows.empty()) {
      result = "skipped";
      reason = "the session changed or ended since it was seen";
    } else if (!policy_.enforce) {
      result = "would_do";
    } else if (RowView(results[i]->rows, 0).NumberOr("signalled", 0) != 0) {
      result = "done";
    } else {
      reason = "the server could not signal the process";
    }
    Tracked& t = tracked_[{c.session.pid, c.session.backend_start}];
    if (std::string(result) == "skipped") {
      recent_actions_.pop_back();  // nothing was signalled
    } else {
      t.last_action = now;
      t.rate_limited = false;
      (due[i].terminate ? t.terminates : t.cancels) += 1;
      t.finished = !policy_.enforce && due[i].terminate;
    }
    Count(c.rule->name, action, result);
    Audit("action", c, action, result, reason);
  }
}

void RemediationEngine::ContinueCounts(const RemediationEngine& old) {
  // The budget too: a reload must not be a way past max_actions_per_minute.
  recent_actions_ = old.recent_actions_;
  evaluations_ += old.evaluations_;
  errors_ += old.errors_;
  for (auto& [key, n] : actions_) {
    auto it = old.actions_.find(key);
    if (it != old.actions_.end()) n += it->second;
  }
}

Families RemediationEngine::Collect() const {
  using prometheus::MetricType;
  Families out;
  FamilyBuilder("pgwarden_remediation_enforcing",
                "1 when the remediation policy is enforced, 0 in dry_run "
                "(actions are only audited).",
                MetricType::Gauge)
      .Add(policy_.enforce ? 1 : 0)
      .MoveTo(out);
  FamilyBuilder candidates("pgwarden_remediation_candidates",
                           "Sessions a remediation rule matched at the last "
                           "evaluation (protected ones left out).",
                           MetricType::Gauge);
  for (const auto& [rule, n] : candidates_) candidates.Add({{"rule", rule}}, n);
  candidates.MoveTo(out);
  FamilyBuilder actions(
      "pgwarden_remediation_actions_total",
      "Remediation actions by rule, action (cancel, terminate) and result "
      "(done, skipped: the session changed or the rate limit held, "
      "would_do: dry_run, failed).",
      MetricType::Counter);
  for (const auto& [key, n] : actions_) {
    actions.Add({{"rule", std::get<0>(key)},
                 {"action", std::get<1>(key)},
                 {"result", std::get<2>(key)}},
                n);
  }
  actions.MoveTo(out);
  FamilyBuilder("pgwarden_remediation_evaluations_total",
                "Evaluations of the remediation policy.", MetricType::Counter)
      .Add(static_cast<double>(evaluations_))
      .MoveTo(out);
  FamilyBuilder("pgwarden_remediation_errors_total",
                "Evaluations that could not read the server.",
                MetricType::Counter)
      .Add(static_cast<double>(errors_))
      .MoveTo(out);
  return out;
}

std::function<void(const std::string&)> OpenAuditLog(const std::string& path) {
  if (path == "-") {
    auto mu = std::make_shared<std::mutex>();
    return [mu](const std::string& line) {
      std::lock_guard<std::mutex> lock(*mu);
      std::fprintf(stderr, "%s\n", line.c_str());
    };
  }
  FILE* file = std::fopen(path.c_str(), "a");
  if (!file) {
    throw std::invalid_argument("audit_log " + path +
                                ": cannot open for "
                                "appending");
  }
  auto handle = std::shared_ptr<FILE>(file, std::fclose);
  auto mu = std::make_shared<std::mutex>();
  return [handle, mu](const std::string& line) {
    std::lock_guard<std::mutex> lock(*mu);
    std::fprintf(handle.get(), "%s\n", line.c_str());
    std::fflush(handle.get());
  };
}

struct Remediator::State {
  State(Clock::duration every, std::unique_ptr<RemediationEngine> e,
        std::function<std::unique_ptr<Database>()> o)
      : interval(every),
        open(std::move(o)),
        engine(std::move(e)),
        families(engine->Collect()) {}

  void Run();
  // Takes a policy Replace() left, if any, before an evaluation.
  void TakeReplacement();

  const Clock::duration interval;
  // The thread's only, like the three below.
  std::function<std::unique_ptr<Database>()> open;
  std::unique_ptr<RemediationEngine> engine;
  std::unique_ptr<Database> database;
  std::string last_error;

  std::mutex mu;  // guards everything below
  std::condition_variable wake;
  bool stop = false;
  Families families;  // the engine's, after its last evaluation
  std::unique_ptr<RemediationEngine> replacement;
  std::function<std::unique_ptr<Database>()> replacement_open;
};

void Remediator::State::TakeReplacement() {
  std::unique_ptr<RemediationEngine> next;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!replacement) return;
    next = std::move(replacement);
    open = std::move(replacement_open);
  }
  next->ContinueCounts(*engine);
  engine = std::move(next);
  database.reset();  // the new policy's connection
  Log(engine->policy().enforce ? LogLevel::kWarn : LogLevel::kInfo,
      std::string("remediation policy replaced: mode ") +
          (engine->policy().enforce ? "enforce" : "dry_run"));
}

void Remediator::State::Run() {
  Clock::time_point next = Clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      wake.wait_until(lock, next, [&] { return stop; });
      if (stop) return;
    }
    TakeReplacement();
    const Clock::time_point start = Clock::now();
    std::string error;
    try {
      if (!database) database = open();
      engine->Evaluate(
          *database, start,
          start + std::max<Clock::duration>(interval, std::chrono::seconds(2)));
    } catch (const std::exception& e) {
      error = e.what();
    }
    {
      Families f = engine->Collect();
      std::lock_guard<std::mutex> lock(mu);
      families = std::move(f);
    }
    if (error != last_error) {
      Log(error.empty() ? LogLevel::kInfo : LogLevel::kError,
          error.empty() ? std::string("remediation recovered")
                        : "remediation: " + error);
      last_error = error;
    }
    const Clock::time_point end = Clock::now();
    next += interval;
    while (next <= end) next += interval;
  }
}

Remediator::Remediator(RemediationPolicy policy, RemediatorOptions options)
    : own_(options.own_applications) {
  if (policy.enforce) {
    Log(LogLevel::kWarn,
        "remediation enforced: sessions matching its rules are signalled");
  }
  auto audit = OpenAuditLog(policy.audit_log);
  state_ =
      std::make_shared<State>(options.interval,
                              std::make_unique<RemediationEngine>(
                                  std::move(policy), own_, std::move(audit)),
                              std::move(options.open));
  std::thread([s = state_] { s->Run(); }).detach();
}

void Remediator::Replace(RemediationPolicy policy,
                         std::function<std::unique_ptr<Database>()> open) {
  auto audit = OpenAuditLog(policy.audit_log);
  auto engine = std::make_unique<RemediationEngine>(std::move(policy), own_,
                                                    std::move(audit));
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->replacement = std::move(engine);
  state_->replacement_open = std::move(open);
}

Remediator::~Remediator() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_all();
}

Families Remediator::Collect() {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->families;
}

}  // namespace pgwarden
