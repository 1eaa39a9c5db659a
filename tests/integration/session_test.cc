// Integration: the PostgreSQL session: read-only settings, deadlines and
// cancel, prepared statements, single-flight, reconnects, refused servers.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

// Reads the exporter session's own settings through a collector.
class SessionSettingsCollector : public Collector {
 public:
  std::string_view Name() const override { return "it_session"; }
  std::string Query(const ServerInfo&) const override {
    return "SELECT current_setting('application_name') AS app, "
           "current_setting('statement_timeout') AS st, "
           "current_setting('lock_timeout') AS lt, "
           "current_setting('transaction_read_only') AS ro";
  }
  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    RowView row(rows, 0);
    FamilyBuilder("it_session", "x", prometheus::MetricType::Gauge)
        .Add({{"app", row.Text("app")},
              {"st", row.Text("st")},
              {"lt", row.Text("lt")},
              {"ro", row.Text("ro")}},
             1)
        .MoveTo(out);
  }
};

TEST_F(IntegrationTest, SessionIsReadOnlyWithTimeouts) {
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<SessionSettingsCollector>());
  auto target = MakeTarget(kDatabase, {}, std::move(extra));
  const Families out = Scrape(*target);
  EXPECT_EQ(
      Sample(out, "it_session",
             {{"app", "pgwarden"}, {"st", "5s"}, {"lt", "1s"}, {"ro", "on"}}),
      1);
}

class SleepCollector : public Collector {
 public:
  std::string_view Name() const override { return "it_sleep"; }
  std::string Query(const ServerInfo&) const override {
    return "SELECT pg_sleep(4) AS slept";
  }
  void Parse(const ServerInfo&, const Rows&, Families&) const override {}
};

TEST_F(IntegrationTest, SlowQueryIsCancelledAtTheDeadline) {
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<SleepCollector>());
  auto target = MakeTarget(kDatabase, {}, std::move(extra));
  const Families out = Scrape(*target, 800);
  EXPECT_EQ(CollectorSuccess(out, "it_sleep"), 0);
  // Collectors that ran before the slow one are served.
  EXPECT_EQ(CollectorSuccess(out, "activity"), 1);
  EXPECT_GE(SampleCount(out, "pg_stat_activity_count"), 1u);
  // The server stopped working on it (cancelled, not abandoned), and the
  // connection is still the first one.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Admin()
            .exec(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = "
                "'pgwarden' "
                "AND state = 'active' AND datname = current_database()")
            .empty();
      },
      3));
  const Families next = Scrape(*target, 800);
  EXPECT_EQ(Sample(next, "pg_up"), 1);
  EXPECT_EQ(Sample(next, "pgwarden_connections_opened_total"), 1);
}

// Reports how many prepared statements the exporter's session holds, and
// reads a test table whose shape a test changes.
class PreparedProbeCollector : public Collector {
 public:
  explicit PreparedProbeCollector(std::string name, std::string sql)
      : name_(std::move(name)), sql_(std::move(sql)) {}
  std::string_view Name() const override { return name_; }
  std::string Query(const ServerInfo&) const override { return sql_; }
  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    FamilyBuilder("it_" + name_, "x", prometheus::MetricType::Gauge)
        .Add(RowView(rows, 0).NumberOr("n", -1))
        .MoveTo(out);
  }

 private:
  std::string name_, sql_;
};

TEST_F(IntegrationTest, StatementsArePreparedOnceAndReused) {
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<PreparedProbeCollector>(
      "prepared", "SELECT count(*) AS n FROM pg_prepared_statements"));
  auto target = MakeTarget(kDatabase, {}, std::move(extra));
  std::vector<double> counts;
  for (int i = 0; i < 4; ++i) {
    counts.push_back(Sample(Scrape(*target), "it_prepared").value_or(-1));
  }
  // The server-info query, each collector with something to ask this
  // server, and the probe, from the second scrape on (per-database queries
  // run after the probe), and no growth after that.
  const Dsn dsn =
      WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), SessionSettings{});
  const ServerInfo server =
      NewPostgresDatabase(dsn)->Open(Clock::now() + std::chrono::seconds(10));
  double asking = 0;
  for (const auto& c :
       CreateCollectors(ResolveCollectors("all"), CollectorOptions{})) {
    asking += c->Query(server).empty() ? 0 : 1;
  }
  EXPECT_GT(asking, 20);
  EXPECT_EQ(counts[1], 1 + asking + 1);
  EXPECT_EQ(counts[2], counts[1]);
  EXPECT_EQ(counts[3], counts[1]);
}

// A statement whose result type changed (a column added to what it reads)
// is prepared again on the same connection, and the one that stopped
// fitting is deallocated on the server, not left behind: after the change
// the session holds as many statements as before.
TEST_F(IntegrationTest, ChangedResultShapeIsPreparedAgainAndTheOldOneFreed) {
  pqxx::nontransaction& tx = Admin();
  tx.exec(
      "DROP TABLE IF EXISTS it_stale; CREATE TABLE it_stale (n int); "
      "INSERT INTO it_stale VALUES (4)");
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<PreparedProbeCollector>(
      "held", "SELECT count(*) AS n FROM pg_prepared_statements"));
  extra.push_back(std::make_unique<PreparedProbeCollector>(
      "stale", "SELECT * FROM it_stale"));
  auto target = MakeTarget(kDatabase, {}, std::move(extra));
  Scrape(*target);
  const auto before = Sample(Scrape(*target), "it_held");
  tx.exec("ALTER TABLE it_stale ADD COLUMN extra int");
  // The scrape that meets the old plan may fail the collector once; the
  // next one prepares the statement again.
  for (int i = 0; i < 3; ++i) Scrape(*target);
  const Families out = Scrape(*target);
  EXPECT_EQ(CollectorSuccess(out, "stale"), 1);
  EXPECT_EQ(Sample(out, "it_stale"), 4);
  EXPECT_EQ(Sample(out, "pgwarden_connections_opened_total"), 1);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(Sample(out, "it_held"), *before);
}

TEST_F(IntegrationTest, SixteenConcurrentScrapesShareOneRoundOfQueries) {
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<PreparedProbeCollector>(
      "slow", "SELECT pg_sleep(0.5) AS slept, 1 AS n"));
  auto target = MakeTarget(kDatabase, {}, std::move(extra));
  Scrape(*target);  // connect and prepare first
  Admin().exec("SELECT pg_stat_statements_reset()");
  std::vector<std::thread> clients;
  std::atomic<int> served{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&] {
      if (Sample(Scrape(*target), "it_slow") == 1) ++served;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(served, 16);
  pqxx::nontransaction& tx = Admin();
  // All sixteen got their answer from one execution of each query...
  EXPECT_EQ(tx.exec("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                    "WHERE query LIKE '%pg_sleep%slept%'")[0][0]
                .as<int>(),
            1);
  EXPECT_EQ(tx.exec("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                    "WHERE query LIKE '%FROM pg_settings%vartype%'")[0][0]
                .as<int>(),
            1);
  // ...over the one connection the exporter holds.
  EXPECT_EQ(
      tx.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
              "'pgwarden' AND datname = current_database()")[0][0]
          .as<int>(),
      1);
}

TEST_F(IntegrationTest, OneConnectionReusedAndReopenedAfterTermination) {
  auto target = MakeTarget(kDatabase);
  Scrape(*target);
  Scrape(*target);
  const Families second = Scrape(*target);
  EXPECT_EQ(Sample(second, "pgwarden_connections_opened_total"), 1);
  pqxx::nontransaction& tx = Admin();
  EXPECT_EQ(
      tx.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
              "'pgwarden' AND datname = current_database()")[0][0]
          .as<int>(),
      1);
  tx.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'pgwarden' AND datname = current_database()");
  // The scrape that meets the dead connection may fail; the exporter
  // reconnects by itself within the next one.
  Scrape(*target);
  const Families recovered = Scrape(*target);
  EXPECT_EQ(Sample(recovered, "pg_up"), 1);
  EXPECT_EQ(Sample(recovered, "pgwarden_connections_opened_total"), 2);
}

TEST_F(IntegrationTest, UnreachableServerAnswersPgUpZero) {
  const Dsn dsn = WithSessionSettings(
      Dsn::Parse("host=127.0.0.1 port=1 user=x password=hunter2"),
      SessionSettings{});
  Target target(
      dsn.Redacted(), NewPostgresDatabase(dsn),
      CreateCollectors(ResolveCollectors("default"), CollectorOptions{}));
  const Families out = Scrape(target, 3000);
  EXPECT_EQ(Sample(out, "pg_up"), 0);
  EXPECT_EQ(SumSamples(out, "pg_scrape_collector_success"), 0);
  EXPECT_EQ(SampleCount(out, "pg_scrape_collector_success"),
            ResolveCollectors("default").size());
  EXPECT_THAT(target.Status().last_error,
              HasSubstr("cannot connect to host=127.0.0.1 port=1"));
  EXPECT_THAT(target.Status().last_error, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_TRUE(testing::ValidExposition(out));
}

// A server that accepts the TCP connection and never answers (a listening
// socket nobody accepts from): connecting gives up at the scrape's
// deadline, not after connect_timeout.
TEST_F(IntegrationTest, ConnectingGivesUpAtTheDeadline) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const Dsn dsn = WithSessionSettings(
      Dsn::Parse(
          "host=127.0.0.1 sslmode=disable user=x connect_timeout=30 port=" +
          std::to_string(ntohs(addr.sin_port))),
      SessionSettings{});
  auto database = NewPostgresDatabase(dsn);
  const auto start = Clock::now();
  try {
    database->Open(start + std::chrono::milliseconds(400));
    ADD_FAILURE() << "connected to a server that never answers";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("timeout expired"));
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  // Bounded by the 0.4 s deadline (plus scheduling), not the 30 s
  // connect_timeout.
  EXPECT_LT(seconds, 5);
  close(fd);
}

}  // namespace
}  // namespace pgwarden::testing
