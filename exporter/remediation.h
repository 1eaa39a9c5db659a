#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "exporter/database.h"
#include "exporter/metrics.h"
#include "exporter/remediation_policy.h"

namespace pgwarden {

// A session as the remediation connection saw it: those waiting on a lock,
// those they wait for, and (when a rule has an age) those whose query or
// transaction is old enough for it.
struct RemediationSession {
  long pid = 0;
  // The server's text of these timestamps, matched exactly by the guarded
  // statement ("" when NULL).
  std::string backend_start, xact_start, query_start, state_change;
  std::string backend_type, state, datname, usename, application_name,
      client_addr, query;
  bool superuser = false;
  std::optional<double> query_age, xact_age;  // seconds
  std::vector<long> blockers;                 // pg_blocking_pids()
  double lock_wait_seconds = 0;  // how long it has waited on a lock
};

// The one statement an evaluation reads the server with. Sessions idle
// longer than the smallest age in the policy come back only if the policy
// has an age rule.
std::string RemediationQuery(const ServerInfo& server,
                             const RemediationPolicy& policy);

// Reads RemediationQuery's rows; throws std::runtime_error for rows it
// cannot read.
std::vector<RemediationSession> ParseRemediationSessions(const Rows& rows);

// A session a rule matched.
struct RemediationCandidate {
  const RemediationRule* rule = nullptr;
  RemediationSession session;
  int blocked_sessions = 0;  // directly or transitively
  double longest_wait_seconds = 0;
  // Why no rule may act on it ("superuser", "not a client backend
  // (autovacuum worker)", "pgwarden's own session"); "" when one may.
  std::string protection;
};

// Every session a rule matches, the first matching rule each, most blocked
// sessions first. `own_applications` are pgwarden's application_names:
// their sessions are protected, like superusers' and every backend that is
// not a client's (autovacuum, WAL senders, background workers).
std::vector<RemediationCandidate> MatchRemediationRules(
    const RemediationPolicy& policy,
    const std::vector<RemediationSession>& sessions,
    const std::set<std::string>& own_applications);

// The one statement that signals a candidate, or (`signal` false, for
// dry_run) only checks that it would. It returns a row only if the session
// is still the one seen: the same pid and backend_start (a reused pid is
// another session), a client backend of a non-superuser, and still what
// the rule matched (its state and state_change when the rule names states,
// its query_start or xact_start when the rule has that age, still a root
// blocker blocking someone when the rule asks for blocked sessions).
std::string GuardedActionSql(const RemediationCandidate& candidate,
                             bool terminate, bool signal);

// Evaluates a policy against one server and acts on it: the state between
// evaluations (escalations, the rate limit, what was audited), the audit
// log and the pgwarden_remediation_* families. Not thread-safe.
class RemediationEngine {
 public:
  // `audit` receives one JSON object per line (no newline).
  RemediationEngine(RemediationPolicy policy,
                    std::set<std::string> own_applications,
                    std::function<void(const std::string&)> audit);

  // One evaluation at `now`: reads the server, matches the rules, takes the
  // actions that are due (or, in dry_run, records that it would). Throws
  // std::runtime_error when the server cannot be read.
  void Evaluate(Database& database, Clock::time_point now,
                Clock::time_point deadline);

  Families Collect() const;

  // Continues `old`'s counts (evaluations, errors, and the actions of
  // rules, actions and results this policy has too) and its last minute's
  // actions (the budget), for a policy that replaces another.
  void ContinueCounts(const RemediationEngine& old);

  const RemediationPolicy& policy() const { return policy_; }

 private:
  using SessionId = std::pair<long, std::string>;  // pid, backend_start
  struct Tracked {
    std::string rule;
    Clock::time_point first_seen, last_action, last_seen;
    int cancels = 0, terminates = 0;
    bool rate_limited = false;  // reported as such until it acts
    bool finished = false;      // dry_run: terminate would have ended it
  };
  struct Due {
    const RemediationCandidate* candidate;
    bool terminate;
  };

  // The action due now for `c`, if any.
  std::optional<bool> NextAction(const RemediationCandidate& c,
                                 const Tracked& t, Clock::time_point now) const;
  void Audit(const char* event, const RemediationCandidate& c,
             const char* action, const char* result, const std::string& reason);
  void Count(const std::string& rule, const char* action, const char* result);

  const RemediationPolicy policy_;
  const std::set<std::string> own_;
  const std::function<void(const std::string&)> audit_;
  std::map<SessionId, Tracked> tracked_;
  std::deque<Clock::time_point> recent_actions_;  // within the last minute
  // (rule, action, result) -> count; every combination a rule can produce
  // starts at 0, so that increase() sees the first action.
  std::map<std::tuple<std::string, std::string, std::string>, double> actions_;
  std::map<std::string, double> candidates_;  // rule -> now
  uint64_t evaluations_ = 0, errors_ = 0;
  friend class Remediator;
};

struct RemediatorOptions {
  Clock::duration interval = std::chrono::seconds(1);
  // Opens the remediation role's connection.
  std::function<std::unique_ptr<Database>()> open;
  std::set<std::string> own_applications;
};

// A RemediationEngine on its own thread and connection, evaluating every
// interval (the activity sampler's): a failed evaluation is counted and
// logged once per change of error; the next one connects again.
class Remediator {
 public:
  // Throws std::invalid_argument when the audit log cannot be opened.
  Remediator(RemediationPolicy policy, RemediatorOptions options);
  ~Remediator();
  Remediator(const Remediator&) = delete;
  Remediator& operator=(const Remediator&) = delete;

  Families Collect();

  // Evaluates `policy` on the connection `open` makes from the next
  // evaluation on (SIGHUP): the counts continue, what was decided about
  // sessions starts anew. Throws std::invalid_argument when the new audit
  // log cannot be opened; the current policy then stays.
  void Replace(RemediationPolicy policy,
               std::function<std::unique_ptr<Database>()> open);

 private:
  struct State;
  const std::set<std::string> own_;
  std::shared_ptr<State> state_;
};

// An audit sink writing lines to `path` (appending) or stderr ("-").
// Throws std::invalid_argument when the file cannot be opened.
std::function<void(const std::string&)> OpenAuditLog(const std::string& path);

}  // namespace pgwarden
