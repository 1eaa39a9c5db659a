#include "exporter/remediation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/test_util.h"

namespace pgwarden {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SumSamples;

RemediationPolicy Policy(const std::string& rules, bool enforce = true,
                         int per_minute = 5) {
  return ParseRemediationPolicy(
      std::string("dsn_file: x\nmode: ") + (enforce ? "enforce" : "dry_run") +
          "\nmax_actions_per_minute: " + std::to_string(per_minute) +
          "\nrules:\n" + rules,
      "p.yml");
}

RemediationSession Session(long pid, std::string state,
                           std::vector<long> blockers = {},
                           double lock_wait = 0) {
  RemediationSession s;
  s.pid = pid;
  s.backend_start =
      "2026-12-03 05:00:00." + std::to_string(100000 + pid) + "+00";
  s.state_change = "2026-12-03 05:01:00+00";
  s.backend_type = "client backend";
  s.state = std::move(state);
  s.datname = "shop";
  s.usename = "app_rw";
  s.application_name = "billing-" + std::to_string(pid);
  s.client_addr = "10.0.0." + std::to_string(pid % 250);
  s.blockers = std::move(blockers);
  s.lock_wait_seconds = lock_wait;
  s.query_age = 1;
  s.xact_age = 1;
  return s;
}

const std::set<std::string> kOwn = {"pgwarden", "pgwarden_sampler"};

constexpr char kAnyRoot[] =
    "  - {name: root, match: {min_blocked_sessions: 1}, action: terminate}\n";

TEST(MatchRemediationRulesTest, CountsEveryoneBehindARootTransitively) {
  // 1 blocks 2 and 3; 3 blocks 4: 1 is the only root and blocks three.
  const std::vector<RemediationSession> s = {
      Session(1, "idle in transaction"), Session(2, "active", {1}, 5),
      Session(3, "active", {1}, 30), Session(4, "active", {3}, 12)};
  const auto c = MatchRemediationRules(Policy(kAnyRoot), s, kOwn);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].session.pid, 1);
  EXPECT_EQ(c[0].blocked_sessions, 3);
  EXPECT_EQ(c[0].longest_wait_seconds, 30);
  EXPECT_EQ(c[0].protection, "");
}

TEST(MatchRemediationRulesTest, ThresholdsAndFiltersMustAllHold) {
  const std::vector<RemediationSession> s = {Session(1, "idle in transaction"),
                                             Session(2, "active", {1}, 50),
                                             Session(3, "active", {1}, 150)};
  const auto matched = [&](const std::string& match) {
    return MatchRemediationRules(
               Policy("  - {name: r, action: terminate, match: {" + match +
                      "}}\n"),
               s, kOwn)
        .size();
  };
  EXPECT_EQ(matched("min_blocked_sessions: 2"), 1u);
  EXPECT_EQ(matched("min_blocked_sessions: 3"), 0u);
  EXPECT_EQ(matched("min_blocking_seconds: 120"), 1u);
  EXPECT_EQ(matched("min_blocking_seconds: 151"), 0u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, state: [active]"), 0u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, usename: [other, 'app_*']"), 1u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, usename: [app]"), 0u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, application_name: 'billing-?'"),
            1u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, application_name: 'web-*'"), 0u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, datname: [shop]"), 1u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, datname: [shop2]"), 0u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, client_addr: '10.0.0.*'"), 1u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, client_addr: '192.168.*'"), 0u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, client_addr: [10.0.0.0/24]"), 1u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, client_addr: [10.0.1.0/24]"), 0u);
  EXPECT_EQ(matched("min_blocked_sessions: 1, client_addr: ['fd00::/8']"), 0u);
}

TEST(MatchRemediationRulesTest, OnlyRootsBlockerRulesAndAgeRulesForTheRest) {
  // 2 blocks 3 but waits for 1 itself: not a root. 5 blocks nobody.
  std::vector<RemediationSession> s = {
      Session(1, "idle in transaction"), Session(2, "active", {1}, 10),
      Session(3, "active", {2}, 5), Session(5, "active"), Session(6, "idle")};
  s[3].query_age = 100;
  s[4].query_age = 100;
  const auto roots = MatchRemediationRules(Policy(kAnyRoot), s, kOwn);
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_EQ(roots[0].session.pid, 1);
  EXPECT_EQ(roots[0].blocked_sessions, 2);
  const auto old = MatchRemediationRules(
      Policy("  - {name: old, match: {min_query_age_seconds: 60}, action: "
             "cancel}\n"),
      s, kOwn);
  ASSERT_EQ(old.size(), 1u) << "an idle session's query is not running";
  EXPECT_EQ(old[0].session.pid, 5);
}

TEST(MatchRemediationRulesTest, ACycleHasNoRoot) {
  const std::vector<RemediationSession> s = {Session(1, "active", {2}, 1),
                                             Session(2, "active", {1}, 1)};
  EXPECT_TRUE(MatchRemediationRules(Policy(kAnyRoot), s, kOwn).empty());
}

TEST(MatchRemediationRulesTest, TheFirstMatchingRuleWinsAndBiggestComeFirst) {
  const std::vector<RemediationSession> s = {
      Session(1, "idle in transaction"), Session(2, "active", {1}, 1),
      Session(7, "active"), Session(8, "active", {7}, 1),
      Session(9, "active", {7}, 1)};
  // Candidates point at the policy's rules: it must outlive them.
  const RemediationPolicy policy = Policy(
      "  - {name: idle, match: {min_blocked_sessions: 1, state: ['idle "
      "in transaction']}, action: terminate}\n" +
      std::string(kAnyRoot));
  const auto c = MatchRemediationRules(policy, s, kOwn);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].session.pid, 7);
  EXPECT_EQ(c[0].rule->name, "root");
  EXPECT_EQ(c[1].session.pid, 1);
  EXPECT_EQ(c[1].rule->name, "idle");
}

TEST(MatchRemediationRulesTest, ProtectedSessionsAreReportedNotActedOn) {
  std::vector<RemediationSession> s;
  const auto root = [&](long pid) {
    s.push_back(Session(pid, "active"));
    s.push_back(Session(pid + 100, "active", {pid}, 1));
    return &s[s.size() - 2];
  };
  root(1)->backend_type = "autovacuum worker";
  root(2)->backend_type = "walsender";
  root(3)->superuser = true;
  root(4)->application_name = "pgwarden_sampler";
  root(5);
  std::map<long, std::string> protection;
  for (const auto& c : MatchRemediationRules(Policy(kAnyRoot), s, kOwn)) {
    protection[c.session.pid] = c.protection;
  }
  EXPECT_EQ(protection, (std::map<long, std::string>{
                            {1, "not a client backend (autovacuum worker)"},
                            {2, "not a client backend (walsender)"},
                            {3, "a superuser's session"},
                            {4, "pgwarden's own session"},
                            {5, ""}}));
}

TEST(ParseRemediationSessionsTest, ReadsTheQueryColumns) {
  const Rows rows = testing::MakeRows(
      {"pid", "backend_start", "xact_start", "query_start", "state_change",
       "backend_type", "state", "datname", "usename", "application_name",
       "client_addr", "superuser", "query_age", "xact_age", "blockers",
       "lock_wait_seconds", "query"},
      {{"42", "2026-12-03 05:00:00.123456+00", "\\N", "2026-12-03 05:00:01+00",
        "2026-12-03 05:00:02+00", "client backend", "active", "shop", "app",
        "web", "\\N", "f", "3.5", "\\N", "7,8", "2.25", "\\N"},
       {"7", "x", "\\N", "\\N", "\\N", "client backend", "idle in transaction",
        "shop", "root", "psql", "10.1.2.3", "t", "\\N", "9", "", "\\N",
        "\\N"}});
  const auto s = ParseRemediationSessions(rows);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].pid, 42);
  EXPECT_EQ(s[0].backend_start, "2026-12-03 05:00:00.123456+00");
  EXPECT_EQ(s[0].xact_start, "");
  EXPECT_FALSE(s[0].superuser);
  EXPECT_EQ(s[0].query_age, 3.5);
  EXPECT_FALSE(s[0].xact_age);
  EXPECT_EQ(s[0].blockers, (std::vector<long>{7, 8}));
  EXPECT_EQ(s[0].lock_wait_seconds, 2.25);
  EXPECT_TRUE(s[1].superuser);
  EXPECT_EQ(s[1].client_addr, "10.1.2.3");
  EXPECT_THROW(ParseRemediationSessions(
                   testing::MakeRows({"pid", "blockers"}, {{"1", "x"}})),
               std::runtime_error);
}

TEST(GuardedActionSqlTest, MatchesTheSessionAsSeenAndWhatTheRuleUsed) {
  const RemediationPolicy p = Policy(
      "  - {name: r, match: {min_blocked_sessions: 1, state: ['idle in "
      "transaction'], min_xact_age_seconds: 5}, action: terminate}\n");
  RemediationCandidate c;
  c.rule = &p.rules[0];
  c.session = Session(42, "idle in transaction");
  c.session.xact_start = "2026-12-03 05:00:30+00";
  const std::string sql = GuardedActionSql(c, true, true);
  EXPECT_THAT(sql, HasSubstr("pg_catalog.pg_terminate_backend(s.pid)"));
  EXPECT_THAT(sql, HasSubstr("s.pid = 42 AND s.backend_start = "
                             "'2026-12-03 05:00:00.100042+00'::timestamptz"));
  EXPECT_THAT(sql, HasSubstr("s.backend_type = 'client backend'"));
  EXPECT_THAT(sql, HasSubstr("r.rolsuper"));
  EXPECT_THAT(sql, HasSubstr("s.state IN ('idle in transaction') AND "
                             "s.state_change = '2026-12-03 05:01:00+00'"));
  EXPECT_THAT(sql, HasSubstr("s.xact_start = '2026-12-03 05:00:30+00'"));
  EXPECT_THAT(sql, Not(HasSubstr("query_start")));
  EXPECT_THAT(sql, HasSubstr("pg_blocking_pids(s.pid)) = 0"));
  EXPECT_THAT(GuardedActionSql(c, false, true),
              HasSubstr("pg_catalog.pg_cancel_backend(s.pid)"));
  const std::string dry = GuardedActionSql(c, true, false);
  EXPECT_THAT(dry, HasSubstr("SELECT true AS signalled"));
  EXPECT_THAT(dry, Not(HasSubstr("_backend(")));
  // Whatever the server sent is a literal, never SQL.
  c.session.backend_start = "x'; SELECT pg_terminate_backend(1); --";
  EXPECT_THAT(GuardedActionSql(c, true, true),
              HasSubstr("'x''; SELECT pg_terminate_backend(1); --'"));
  c.session.xact_start = "";
  EXPECT_THAT(GuardedActionSql(c, true, true),
              HasSubstr("s.xact_start IS NULL"));
}

// A server whose activity the test sets; every guarded statement answers
// with `guard` (a row "t", no row, or an error).
class ScriptedDatabase : public Database {
 public:
  enum class Guard { kSignalled, kGone, kError };
  std::vector<RemediationSession> sessions;
  Guard guard = Guard::kSignalled;
  std::vector<std::string> actions;  // the guarded statements run

  ServerInfo Open(Clock::time_point) override {
    return testing::ServerAt(150000);
  }
  bool Run(const std::vector<Statement>& statements, Clock::time_point,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    for (size_t i = 0; i < statements.size(); ++i) {
      QueryResult r;
      r.ok = true;
      if (statements[i].sql.find("AS signalled") == std::string::npos) {
        r.rows = Rows({"pid", "backend_start", "state_change", "backend_type",
                       "state", "usename", "application_name", "blockers",
                       "superuser", "lock_wait_seconds"});
        for (const auto& s : sessions) {
          std::string blockers;
          for (long b : s.blockers) {
            blockers += (blockers.empty() ? "" : ",") + std::to_string(b);
          }
          r.rows.Add({std::to_string(s.pid), s.backend_start, s.state_change,
                      s.backend_type, s.state, s.usename, s.application_name,
                      blockers, "f", std::to_string(s.lock_wait_seconds)});
        }
      } else {
        actions.push_back(statements[i].sql);
        if (guard == Guard::kError) {
          r.ok = false;
          r.error = "ERROR: permission denied to cancel";
        } else {
          r.rows = Rows({"signalled"});
          if (guard == Guard::kSignalled) r.rows.Add({"t"});
        }
      }
      on_result(i, std::move(r));
    }
    return true;
  }
  uint64_t ConnectionsOpened() const override { return 1; }
};

class RemediationEngineTest : public ::testing::Test {
 protected:
  RemediationEngine Engine(const RemediationPolicy& policy) {
    return RemediationEngine(policy, kOwn, [this](const std::string& line) {
      audit.push_back(line);
    });
  }
  void EvaluateAt(RemediationEngine& e, double seconds) {
    const auto at = t0 + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(seconds));
    e.Evaluate(db, at, at + std::chrono::seconds(1));
  }
  double Actions(const RemediationEngine& e,
                 const std::map<std::string, std::string>& labels) {
    return SumSamples(e.Collect(), "pgwarden_remediation_actions_total",
                      labels);
  }
  // A root `pid` (in `state`) with one waiter.
  void Chain(long pid, const std::string& state) {
    db.sessions.push_back(Session(pid, state));
    db.sessions.push_back(Session(pid + 1000, "active", {pid}, 1));
  }

  ScriptedDatabase db;
  std::vector<std::string> audit;
  const Clock::time_point t0 = Clock::now();
};

constexpr char kEscalate[] =
    "  - {name: esc, match: {min_blocked_sessions: 1}, action: "
    "cancel_then_terminate, grace_seconds: 10}\n";

TEST_F(RemediationEngineTest, EveryCombinationStartsAtZero) {
  RemediationEngine e = Engine(Policy(kEscalate));
  const Families f = e.Collect();
  EXPECT_EQ(testing::CountSamples(f, "pgwarden_remediation_actions_total",
                                  {{"rule", "esc"}}),
            8u);
  EXPECT_EQ(Actions(e, {}), 0);
  EXPECT_EQ(testing::Sample(f, "pgwarden_remediation_enforcing"), 1);
  EXPECT_EQ(
      testing::Sample(f, "pgwarden_remediation_candidates", {{"rule", "esc"}}),
      0);
}

TEST_F(RemediationEngineTest, AnActiveRootIsCancelledThenTerminatedAfterGrace) {
  RemediationEngine e = Engine(Policy(kEscalate));
  Chain(1, "active");
  EvaluateAt(e, 0);
  EXPECT_EQ(Actions(e, {{"action", "cancel"}, {"result", "done"}}), 1);
  EvaluateAt(e, 9);  // still blocking, within the grace: nothing
  EXPECT_EQ(db.actions.size(), 1u);
  EvaluateAt(e, 10.5);
  EXPECT_EQ(Actions(e, {{"action", "terminate"}, {"result", "done"}}), 1);
  ASSERT_EQ(db.actions.size(), 2u);
  EXPECT_THAT(db.actions[0], HasSubstr("pg_cancel_backend"));
  EXPECT_THAT(db.actions[1], HasSubstr("pg_terminate_backend"));
  EXPECT_EQ(testing::Sample(e.Collect(), "pgwarden_remediation_candidates",
                            {{"rule", "esc"}}),
            1);
}

TEST_F(RemediationEngineTest, AnIdleInTransactionRootGetsItsGraceThenOneEnd) {
  RemediationEngine e = Engine(Policy(kEscalate));
  Chain(1, "idle in transaction");
  EvaluateAt(e, 0);
  EvaluateAt(e, 9.9);
  EXPECT_TRUE(db.actions.empty()) << "a cancel would not end it";
  EvaluateAt(e, 10);
  EvaluateAt(e, 11);
  EXPECT_EQ(Actions(e, {{"result", "done"}}), 1);
  EXPECT_EQ(Actions(e, {{"action", "terminate"}, {"result", "done"}}), 1);
}

TEST_F(RemediationEngineTest, DryRunOnlyChecksAndStopsAfterAWouldBeTerminate) {
  RemediationEngine e = Engine(Policy(kEscalate, false));
  Chain(1, "active");
  for (double at : {0.0, 10.0, 20.0, 30.0}) EvaluateAt(e, at);
  EXPECT_EQ(Actions(e, {{"action", "cancel"}, {"result", "would_do"}}), 1);
  EXPECT_EQ(Actions(e, {{"action", "terminate"}, {"result", "would_do"}}), 1);
  EXPECT_EQ(Actions(e, {{"result", "done"}}), 0);
  for (const auto& sql : db.actions) {
    EXPECT_THAT(sql, HasSubstr("SELECT true AS signalled"));
  }
  EXPECT_EQ(testing::Sample(e.Collect(), "pgwarden_remediation_enforcing"), 0);
}

TEST_F(RemediationEngineTest, TheRateLimitHoldsAndReportsOncePerSession) {
  RemediationEngine e = Engine(Policy(kAnyRoot, true, 2));
  for (long pid : {1, 2, 3}) Chain(pid, "active");
  EvaluateAt(e, 0);
  EXPECT_EQ(Actions(e, {{"result", "done"}}), 2);
  EXPECT_EQ(Actions(e, {{"result", "skipped"}}), 1);
  // The two terminated sessions are gone; the third waits for the budget.
  db.sessions.erase(db.sessions.begin(), db.sessions.begin() + 4);
  EvaluateAt(e, 1);
  EvaluateAt(e, 30);
  EXPECT_EQ(db.actions.size(), 2u);
  EXPECT_EQ(Actions(e, {{"result", "skipped"}}), 1);
  EvaluateAt(e, 60.5);  // a minute after the first two
  EXPECT_EQ(Actions(e, {{"result", "done"}}), 3);
  int skipped_lines = 0;
  for (const auto& line : audit) {
    skipped_lines += line.find("\"result\":\"skipped\"") != std::string::npos;
  }
  EXPECT_EQ(skipped_lines, 1);
}

TEST_F(RemediationEngineTest, AChangedSessionIsSkippedAndCostsNoBudget) {
  RemediationEngine e = Engine(Policy(kAnyRoot, true, 1));
  Chain(1, "active");
  db.guard = ScriptedDatabase::Guard::kGone;
  EvaluateAt(e, 0);
  EXPECT_EQ(Actions(e, {{"result", "skipped"}}), 1);
  db.guard = ScriptedDatabase::Guard::kSignalled;
  EvaluateAt(e, 0.5);
  EXPECT_EQ(Actions(e, {{"result", "done"}}), 1);
}

TEST_F(RemediationEngineTest, WithoutGraceASignalStillGetsASecondToLand) {
  RemediationEngine e = Engine(Policy(
      "  - {name: now, match: {min_blocked_sessions: 1}, action: terminate, "
      "grace_seconds: 0}\n"));
  Chain(1, "active");
  EvaluateAt(e, 0);
  EvaluateAt(e, 0.5);  // still listed while it exits
  EXPECT_EQ(db.actions.size(), 1u);
  EvaluateAt(e, 1.5);  // still there a second later: try again
  EXPECT_EQ(db.actions.size(), 2u);
}

TEST_F(RemediationEngineTest, AReplacementKeepsTheBudgetAndTheCounts) {
  RemediationEngine first = Engine(Policy(kAnyRoot, true, 1));
  Chain(1, "active");
  EvaluateAt(first, 0);
  RemediationEngine second = Engine(Policy(kAnyRoot, true, 1));
  second.ContinueCounts(first);
  Chain(2, "active");
  EvaluateAt(second, 1);  // session 1 anew: but the budget is spent
  EXPECT_EQ(db.actions.size(), 1u);
  EXPECT_EQ(Actions(second, {{"result", "done"}}), 1);
  EXPECT_EQ(Actions(second, {{"result", "skipped"}}), 2);
  EXPECT_EQ(testing::Sample(second.Collect(),
                            "pgwarden_remediation_evaluations_total"),
            2);
}

TEST_F(RemediationEngineTest, AFailedSignalIsCountedAndAudited) {
  RemediationEngine e = Engine(Policy(kAnyRoot));
  Chain(1, "active");
  db.guard = ScriptedDatabase::Guard::kError;
  EvaluateAt(e, 0);
  EXPECT_EQ(Actions(e, {{"result", "failed"}}), 1);
  ASSERT_FALSE(audit.empty());
  EXPECT_THAT(audit.back(), HasSubstr("\"result\":\"failed\""));
  EXPECT_THAT(audit.back(), HasSubstr("permission denied to cancel"));
  EXPECT_THAT(audit.back(), HasSubstr("\"pid\":1,"));
  EXPECT_THAT(audit.back(), HasSubstr("\"application_name\":\"billing-1\""));
}

}  // namespace
}  // namespace pgwarden

namespace pgwarden {
namespace {

// The thread around the engine: it evaluates on its schedule, scrapes read
// its families meanwhile, and stopping it does not wait for an evaluation.
TEST(RemediatorTest, EvaluatesOnItsScheduleWhileScrapesRead) {
  auto opened = std::make_shared<std::atomic<int>>(0);
  RemediatorOptions options;
  options.interval = std::chrono::milliseconds(10);
  options.own_applications = kOwn;
  options.open = [opened]() -> std::unique_ptr<Database> {
    ++*opened;
    auto db = std::make_unique<ScriptedDatabase>();
    db->sessions.push_back(Session(1, "active"));
    db->sessions.push_back(Session(2, "active", {1}, 1));
    return db;
  };
  RemediationPolicy policy = Policy(kAnyRoot, false);
  policy.audit_log = "-";
  auto remediator = std::make_unique<Remediator>(policy, std::move(options));
  double evaluations = 0, would_do = 0;
  for (int i = 0; i < 500 && (evaluations < 5 || would_do < 1); ++i) {
    const Families f = remediator->Collect();
    evaluations = *testing::Sample(f, "pgwarden_remediation_evaluations_total");
    would_do = SumSamples(f, "pgwarden_remediation_actions_total",
                          {{"result", "would_do"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(evaluations, 5);
  EXPECT_EQ(would_do, 1) << "one would-be terminate, then its grace";
  EXPECT_EQ(*opened, 1) << "one connection, kept";
  remediator.reset();
}

// SIGHUP's path: a new policy from the next evaluation on, the counts
// continued, what was decided about sessions started anew.
TEST(RemediatorTest, AReplacedPolicyContinuesTheCounts) {
  const auto open = []() -> std::unique_ptr<Database> {
    auto db = std::make_unique<ScriptedDatabase>();
    db->sessions.push_back(Session(1, "active"));
    db->sessions.push_back(Session(2, "active", {1}, 1));
    return db;
  };
  RemediatorOptions options;
  options.interval = std::chrono::milliseconds(10);
  options.own_applications = kOwn;
  options.open = open;
  RemediationPolicy dry = Policy(kAnyRoot, false);
  Remediator remediator(dry, options);
  const auto value = [&](const std::string& name,
                         const std::map<std::string, std::string>& labels) {
    return SumSamples(remediator.Collect(), name, labels);
  };
  for (int i = 0; i < 500 && value("pgwarden_remediation_actions_total",
                                   {{"result", "would_do"}}) < 1;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(
      value("pgwarden_remediation_actions_total", {{"result", "would_do"}}), 1);
  EXPECT_THROW(remediator.Replace(
                   [] {
                     RemediationPolicy p = Policy(kAnyRoot, true);
                     p.audit_log = "/nonexistent/dir/audit.jsonl";
                     return p;
                   }(),
                   open),
               std::invalid_argument);
  remediator.Replace(Policy(kAnyRoot, true), open);
  for (int i = 0; i < 500 && value("pgwarden_remediation_actions_total",
                                   {{"result", "done"}}) < 1;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(value("pgwarden_remediation_enforcing", {}), 1);
  EXPECT_EQ(value("pgwarden_remediation_actions_total", {{"result", "done"}}),
            1);
  EXPECT_EQ(
      value("pgwarden_remediation_actions_total", {{"result", "would_do"}}), 1)
      << "the dry run's count continues";
}

TEST(RemediatorTest, AnAuditLogThatCannotBeOpenedIsAnError) {
  RemediationPolicy policy = Policy(kAnyRoot);
  policy.audit_log = "/nonexistent/dir/audit.jsonl";
  EXPECT_THROW(Remediator(policy, RemediatorOptions{}), std::invalid_argument);
}

}  // namespace
}  // namespace pgwarden
