// Integration: the remediation engine against a live server, as the role
// deploy/sql/remediation-role.sql makes: blocking chains built by the test,
// then what a dry run records, what enforce does (and does not) signal,
// the guarded statement, the rate limit and the role's privileges.

#include "exporter/remediation.h"

#include <fstream>
#include <sstream>

#include "exporter/strings.h"
#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

constexpr char kRole[] = "pgwarden_remediation";

class RemediationTest : public IntegrationTest {
 protected:
  static void SetUpTestSuite() {
    IntegrationTest::SetUpTestSuite();
    std::ifstream in(PGWARDEN_SOURCE_DIR "/deploy/sql/remediation-role.sql");
    std::ostringstream sql;
    sql << in.rdbuf();
    ASSERT_FALSE(sql.str().empty());
    pqxx::connection admin(DsnFor("postgres"));
    pqxx::nontransaction tx(admin);
    tx.exec(sql.str());
    tx.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
        "'it_replicator') THEN CREATE ROLE it_replicator LOGIN REPLICATION; "
        "END IF; END $$");
  }

  void SetUp() override {
    Admin().exec(
        "DROP TABLE IF EXISTS lockme; CREATE TABLE lockme (id int PRIMARY "
        "KEY, v int); INSERT INTO lockme SELECT g, 0 FROM "
        "generate_series(1, 200) g; GRANT ALL ON lockme TO workload");
  }

  // A policy from YAML (the loader is part of what is tested).
  static RemediationPolicy Policy(const std::string& yaml) {
    return ParseRemediationPolicy("dsn_file: /dev/null\n" + yaml, "it.yml");
  }

  // The remediation role's connection, with pgwarden's session settings.
  static std::unique_ptr<Database> RemediationDatabase() {
    return NewPostgresDatabase(WithSessionSettings(
        Dsn::Parse(DsnFor(kDatabase, std::string("user=") + kRole +
                                         " application_name=pgwarden_"
                                         "remediation")),
        SessionSettings{}));
  }

  // A session of `user` idle in a transaction that holds row `id`.
  Client& IdleRoot(const std::string& name, int id,
                   const std::string& user = "workload") {
    Client& root = NewClient(name, user);
    root.Exec("BEGIN; UPDATE lockme SET v = v + 1 WHERE id = " +
              std::to_string(id));
    return root;
  }

  // `n` sessions waiting for row `id`; waits until they all do.
  void Waiters(const std::string& name, int id, int n) {
    const int before = WaitingOnLocks();
    for (int i = 0; i < n; ++i) {
      NewClient(name + std::to_string(i), "workload")
          .Start("UPDATE lockme SET v = v + 1 WHERE id = " +
                 std::to_string(id));
    }
    ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == before + n; }));
  }

  bool Alive(int pid) {
    return !Admin()
                .exec("SELECT 1 FROM pg_stat_activity WHERE pid = " +
                      std::to_string(pid))
                .empty();
  }

  // Evaluates every 200 ms for `seconds`, or until `done`.
  void EvaluateFor(RemediationEngine& engine, Database& db, double seconds,
                   const std::function<bool()>& done = nullptr) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      const auto now = Clock::now();
      engine.Evaluate(db, now, now + std::chrono::seconds(5));
      if (done && done()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Audit lines that contain every one of `parts`.
  size_t AuditLines(const std::vector<std::string>& parts) const {
    size_t n = 0;
    for (const std::string& line : audit_) {
      bool all = true;
      for (const std::string& p : parts) {
        all = all && line.find(p) != std::string::npos;
      }
      n += all;
    }
    return n;
  }

  RemediationEngine Engine(const std::string& yaml) {
    return RemediationEngine(
        Policy(yaml), {"pgwarden", "pgwarden_sampler", "pgwarden_remediation"},
        [this](const std::string& line) { audit_.push_back(line); });
  }

  static double Actions(const RemediationEngine& engine,
                        const std::map<std::string, std::string>& labels) {
    return SumSamples(engine.Collect(), "pgwarden_remediation_actions_total",
                      labels);
  }

  std::vector<std::string> audit_;
};

constexpr char kIdleBlockers[] = R"(
rules:
  - name: idle-blockers
    match:
      state: ["idle in transaction"]
      min_blocked_sessions: 2
      usename: [workload]
      application_name: ["it-root*"]
      datname: [pgwarden_it]
    action: cancel_then_terminate
    grace_seconds: 1
)";

TEST_F(RemediationTest, DryRunRecordsWouldDoAndSignalsNothing) {
  Client& root = IdleRoot("root", 1);
  Waiters("waiter", 1, 3);
  auto db = RemediationDatabase();
  RemediationEngine engine =
      Engine(std::string("mode: dry_run\n") + kIdleBlockers);
  EvaluateFor(engine, *db, 1.6);
  const std::string pid = "\"pid\":" + std::to_string(root.pid()) + ",";
  EXPECT_EQ(AuditLines({"\"event\":\"candidate\"", pid,
                        "\"blocked_sessions\":3", "\"mode\":\"dry_run\""}),
            1);
  EXPECT_EQ(AuditLines({"\"event\":\"action\"", pid, "\"action\":\"terminate\"",
                        "\"result\":\"would_do\""}),
            1);
  EXPECT_EQ(Actions(engine, {{"result", "would_do"}}), 1);
  EXPECT_EQ(Actions(engine, {{"result", "done"}}), 0);
  EXPECT_EQ(SumSamples(engine.Collect(), "pgwarden_remediation_candidates",
                       {{"rule", "idle-blockers"}}),
            1);
  EXPECT_TRUE(Alive(root.pid()));
  EXPECT_EQ(WaitingOnLocks(), 3);
}

TEST_F(RemediationTest, EnforceTerminatesAnIdleRootAfterItsGrace) {
  const std::string postmaster_started =
      Admin().exec("SELECT pg_postmaster_start_time()::text")[0][0].c_str();
  Client& root = IdleRoot("root", 1);
  Waiters("waiter", 1, 3);
  auto db = RemediationDatabase();
  RemediationEngine engine =
      Engine(std::string("mode: enforce\n") + kIdleBlockers);
  const auto start = Clock::now();
  engine.Evaluate(*db, start, start + std::chrono::seconds(5));
  EXPECT_TRUE(Alive(root.pid())) << "terminated before its grace";
  EvaluateFor(engine, *db, 10, [&] { return !Alive(root.pid()); });
  EXPECT_FALSE(Alive(root.pid()));
  EXPECT_GE(Clock::now() - start, std::chrono::seconds(1));
  // The waiters get the row one after another and finish.
  EXPECT_TRUE(WaitFor([&] { return WaitingOnLocks() == 0; }, 10));
  EvaluateFor(engine, *db, 1.5);
  EXPECT_EQ(Actions(engine, {{"result", "done"}}), 1);
  EXPECT_EQ(Actions(engine, {{"action", "terminate"}, {"result", "done"}}), 1);
  EXPECT_EQ(Actions(engine, {{"result", "failed"}}), 0);
  EXPECT_EQ(
      Admin().exec("SELECT pg_postmaster_start_time()::text")[0][0].c_str(),
      postmaster_started)
      << "the server restarted (crash recovery)";
  EXPECT_EQ(Admin().exec("SELECT v FROM lockme WHERE id = 1")[0][0].as<int>(),
            3)
      << "the root's update is rolled back, the three waiters' committed";
}

TEST_F(RemediationTest, AnActiveRootIsCancelledNotTerminated) {
  Client& root = NewClient("root-active", "workload");
  // One implicit transaction: the row stays locked while it sleeps.
  root.Start("UPDATE lockme SET v = v + 1 WHERE id = 2; SELECT pg_sleep(60)");
  ASSERT_TRUE(WaitFor([&] {
    return !Admin()
                .exec("SELECT 1 FROM pg_stat_activity WHERE pid = " +
                      std::to_string(root.pid()) +
                      " AND wait_event = 'PgSleep'")
                .empty();
  }));
  Waiters("waiter", 2, 2);
  auto db = RemediationDatabase();
  RemediationEngine engine = Engine(R"(
mode: enforce
rules:
  - name: active-blockers
    match:
      state: [active]
      min_blocked_sessions: 2
      application_name: ["it-root*"]
    action: cancel_then_terminate
    grace_seconds: 1
)");
  EvaluateFor(engine, *db, 10, [&] { return WaitingOnLocks() == 0; });
  EXPECT_EQ(WaitingOnLocks(), 0);
  EvaluateFor(engine, *db, 1.2);  // past the grace: nothing to escalate
  EXPECT_EQ(Actions(engine, {{"action", "cancel"}, {"result", "done"}}), 1);
  EXPECT_EQ(Actions(engine, {{"action", "terminate"}}), 0);
  EXPECT_TRUE(Alive(root.pid())) << "a cancel keeps the session";
}

TEST_F(RemediationTest, SuperusersAndNonClientBackendsAreNeverTouched) {
  Client& root = IdleRoot("root-super", 3, "postgres");
  Waiters("waiter", 3, 2);
  // A WAL sender (a logical one runs SQL): old enough for any age rule.
  Client& walsender =
      NewClient("walsender", "it_replicator replication=database");
  walsender.Start("SELECT pg_sleep(60)");
  ASSERT_TRUE(WaitFor([&] {
    return !Admin()
                .exec("SELECT 1 FROM pg_stat_activity WHERE pid = " +
                      std::to_string(walsender.pid()) +
                      " AND backend_type = 'walsender' AND state = 'active' "
                      "AND now() - query_start > interval '0.6 s'")
                .empty();
  }));
  auto db = RemediationDatabase();
  RemediationEngine engine = Engine(R"(
mode: enforce
max_actions_per_minute: 60
rules:
  - name: any-blocker
    match:
      min_blocked_sessions: 1
    action: terminate
    grace_seconds: 0
  - name: any-old-query
    match:
      min_query_age_seconds: 0.5
      usename: [it_replicator, postgres]
    action: terminate
    grace_seconds: 0
)");
  EvaluateFor(engine, *db, 1);
  EXPECT_EQ(AuditLines({"\"event\":\"protected\"",
                        "\"pid\":" + std::to_string(root.pid()) + ",",
                        "a superuser's session"}),
            1);
  EXPECT_EQ(AuditLines({"\"event\":\"protected\"",
                        "\"pid\":" + std::to_string(walsender.pid()) + ",",
                        "not a client backend (walsender)"}),
            1);
  EXPECT_EQ(Actions(engine, {}), 0);
  EXPECT_EQ(AuditLines({"\"event\":\"action\""}), 0);
  EXPECT_TRUE(Alive(root.pid()));
  EXPECT_TRUE(Alive(walsender.pid()));
  EXPECT_EQ(WaitingOnLocks(), 2);
}

TEST_F(RemediationTest, AnAutovacuumWorkerThatBlocksIsNeverTouched) {
  // A vacuum throttled to a crawl, which autovacuum starts within a second.
  pqxx::nontransaction& admin = Admin();
  admin.exec(
      "DROP TABLE IF EXISTS it_crawl; CREATE TABLE it_crawl (i int) WITH "
      "(autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, "
      "autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1);"
      "INSERT INTO it_crawl SELECT generate_series(1, 200000); "
      "DELETE FROM it_crawl");
  admin.exec("ALTER SYSTEM SET autovacuum_naptime = 1");
  admin.exec("SELECT pg_reload_conf()");
  std::string worker;
  WaitFor(
      [&] {
        const auto r = admin.exec(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = "
            "'autovacuum worker' AND query LIKE '%it_crawl%'");
        if (!r.empty()) worker = r[0][0].c_str();
        return !r.empty();
      },
      30);
  admin.exec("ALTER SYSTEM RESET autovacuum_naptime");
  admin.exec("SELECT pg_reload_conf()");
  ASSERT_FALSE(worker.empty()) << "no autovacuum worker on it_crawl in 30 s";
  // A session that needs the vacuum's lock, and lets it run (a waiter
  // cancels autovacuum after deadlock_timeout).
  NewClient("waiter-av")
      .Start(
          "SET deadlock_timeout = '60s'; "
          "LOCK TABLE it_crawl IN SHARE UPDATE EXCLUSIVE MODE");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == 1; }));
  auto db = RemediationDatabase();
  RemediationEngine engine = Engine(R"(
mode: enforce
rules:
  - {name: any-blocker, match: {min_blocked_sessions: 1}, action: terminate}
)");
  EvaluateFor(engine, *db, 1);
  EXPECT_EQ(AuditLines({"\"event\":\"protected\"", "\"pid\":" + worker + ",",
                        "not a client backend (autovacuum worker)"}),
            1);
  EXPECT_EQ(Actions(engine, {}), 0);
  EXPECT_TRUE(Alive(std::stoi(worker)));
  admin.exec("SELECT pg_terminate_backend(" + worker + ")");
  admin.exec("DROP TABLE it_crawl");
}

TEST_F(RemediationTest, TheGuardedStatementSignalsOnlyTheSessionItSaw) {
  Client& root = IdleRoot("root", 4);
  Waiters("waiter", 4, 1);
  const RemediationPolicy policy = Policy(R"(
rules:
  - name: r
    match: {state: ["idle in transaction"], min_blocked_sessions: 1}
    action: terminate
)");
  auto db = RemediationDatabase();
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  QueryResult read;
  db->Run({Statement{RemediationQuery(db->Open(deadline), policy)}}, deadline,
          [&](size_t, QueryResult r) { read = std::move(r); });
  ASSERT_TRUE(read.ok) << read.error;
  const auto candidates = MatchRemediationRules(
      policy, ParseRemediationSessions(read.rows), {"pgwarden"});
  ASSERT_EQ(candidates.size(), 1u);
  ASSERT_EQ(candidates[0].session.pid, root.pid());

  const auto run = [&](const std::string& sql) {
    QueryResult r;
    db->Run({Statement{sql}}, Clock::now() + std::chrono::seconds(5),
            [&](size_t, QueryResult x) { r = std::move(x); });
    EXPECT_TRUE(r.ok) << r.error;
    return r.rows.size();
  };
  // The same pid with another backend_start: a reused pid, another session.
  RemediationCandidate reused = candidates[0];
  reused.session.backend_start =
      Admin()
          .exec(
              "SELECT (backend_start + interval '1 microsecond')::text FROM "
              "pg_stat_activity WHERE pid = " +
              std::to_string(root.pid()))[0][0]
          .c_str();
  EXPECT_EQ(run(GuardedActionSql(reused, true, true)), 0u);
  // The same session, but in another state than the one seen.
  RemediationCandidate changed = candidates[0];
  changed.session.state_change = reused.session.backend_start;
  EXPECT_EQ(run(GuardedActionSql(changed, true, true)), 0u);
  EXPECT_TRUE(Alive(root.pid()));
  // The session as seen: signalled.
  EXPECT_EQ(run(GuardedActionSql(candidates[0], true, true)), 1u);
  EXPECT_TRUE(WaitFor([&] { return !Alive(root.pid()); }, 5));
}

TEST_F(RemediationTest, MaxActionsPerMinuteHoldsUnderAStormOfBlockers) {
  std::vector<int> roots;
  for (int i = 0; i < 20; ++i) {
    roots.push_back(IdleRoot("root" + std::to_string(i), 100 + i).pid());
  }
  for (int i = 0; i < 20; ++i) Waiters("w" + std::to_string(i), 100 + i, 1);
  auto db = RemediationDatabase();
  RemediationEngine engine = Engine(R"(
mode: enforce
max_actions_per_minute: 5
rules:
  - name: storm
    match: {min_blocked_sessions: 1, application_name: ["it-root*"]}
    action: terminate
    grace_seconds: 0
)");
  EvaluateFor(engine, *db, 1.5);
  int alive = 0;
  for (int pid : roots) alive += Alive(pid);
  EXPECT_EQ(alive, 15);
  EXPECT_EQ(Actions(engine, {{"result", "done"}}), 5);
  EXPECT_EQ(Actions(engine, {{"result", "skipped"}}), 15)
      << "each held session is reported once";
  EXPECT_EQ(
      AuditLines({"\"result\":\"skipped\"", "max_actions_per_minute (5)"}), 15);
}

TEST_F(RemediationTest, TheRoleMaySignalAndReadActivityOnly) {
  pqxx::connection conn(DsnFor(kDatabase, std::string("user=") + kRole));
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(
      tx.exec("SHOW default_transaction_read_only")[0][0].as<std::string>(),
      "on");
  const auto row = tx.exec(
      "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, "
      "rolbypassrls FROM pg_roles WHERE rolname = current_user")[0];
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(row[i].as<bool>()) << i;
  EXPECT_EQ(tx.exec("SELECT string_agg(b.rolname, ',' ORDER BY b.rolname) "
                    "FROM pg_auth_members m JOIN pg_roles b ON b.oid = "
                    "m.roleid WHERE m.member = (SELECT oid FROM pg_roles "
                    "WHERE rolname = current_user)")[0][0]
                .as<std::string>(),
            "pg_read_all_stats,pg_signal_backend");
  EXPECT_THROW(tx.exec("SELECT * FROM lockme"), pqxx::insufficient_privilege);
  try {
    tx.exec("CREATE TABLE it_forbidden (i int)");
    ADD_FAILURE() << "the remediation role created a table";
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(e.sqlstate(), "25006")
        << "not refused as read-only: " << e.what();
  }
  // No schema right beyond what every role has through PUBLIC (before 15,
  // PUBLIC may create in schema public): the same as a role granted nothing.
  pqxx::nontransaction& admin = Admin();
  admin.exec(
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
      "'it_nobody') THEN CREATE ROLE it_nobody LOGIN; END IF; END $$");
  const std::string rights =
      "SELECT string_agg(n.nspname || ':' || has_schema_privilege(%s, n.oid, "
      "'CREATE') || has_schema_privilege(%s, n.oid, 'USAGE'), ',' ORDER BY "
      "n.nspname) FROM pg_namespace n";
  const auto of = [&](const std::string& role) {
    return admin.exec(Substitute(rights, "%s", QuoteLiteral(role)))[0][0]
        .as<std::string>();
  };
  EXPECT_EQ(of(kRole), of("it_nobody"));
  // pgwarden's monitoring session, as the scrape opens it, is read-only.
  auto monitoring = NewPostgresDatabase(
      WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), SessionSettings{}));
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  monitoring->Open(deadline);
  QueryResult r;
  monitoring->Run({Statement{"SHOW transaction_read_only"}}, deadline,
                  [&](size_t, QueryResult x) { r = std::move(x); });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(RowView(r.rows, 0).Text("transaction_read_only"), "on");
}

}  // namespace
}  // namespace pgwarden::testing
