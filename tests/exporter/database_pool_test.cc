#include "exporter/database_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "tests/fake_server.h"

namespace pgwarden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class DatabasePoolTest : public ::testing::Test {
 protected:
  DatabasePool::Options Options(int max_connections = 5) {
    DatabasePool::Options o;
    o.max_connections = max_connections;
    o.open = [this](const std::string& name) {
      return std::make_unique<FakeServerDatabase>(server_, name);
    };
    return o;
  }

  std::vector<QueryResult> Run(DatabasePool& pool, bool keep_open = true,
                               size_t statements = 1) {
    info_.database = "main";
    return pool.RunEverywhere(
        main_, info_, std::vector<Statement>(statements, {"SELECT x"}),
        Clock::now() + std::chrono::seconds(5), keep_open);
  }

  static std::vector<std::string> Datnames(const QueryResult& r) {
    std::vector<std::string> out;
    for (size_t i = 0; i < r.rows.size(); ++i) {
      out.push_back(RowView(r.rows, i).Text("datname"));
    }
    return out;
  }

  std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
  FakeServerDatabase main_{server_, "main"};
  ServerInfo info_ = testing::ServerAt(150000);
};

TEST_F(DatabasePoolTest, VisitsEveryListedDatabaseAndReusesTheMainConnection) {
  server_->databases = {"app", "main", "scratch"};
  auto options = Options();
  options.exclude = {"scratch"};
  DatabasePool pool(options);
  const auto results = Run(pool, true, 2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok) << results[0].error;
  EXPECT_THAT(Datnames(results[0]), ElementsAre("app", "main"));
  EXPECT_EQ(RowView(results[1].rows, 0).Text("n"), "1");  // statement order
  EXPECT_DOUBLE_EQ(results[0].seconds, 1.0);  // both databases' time
  EXPECT_EQ(server_->opens["main"], 1);       // its own connection only
  EXPECT_EQ(server_->alive["main"], 1);
  EXPECT_EQ(server_->opens.count("scratch"), 0u);
  EXPECT_EQ(pool.Open(), 1u);
}

TEST_F(DatabasePoolTest, IncludeListNarrowsTheVisit) {
  server_->databases = {"app", "billing", "main"};
  auto options = Options();
  options.include = {"billing"};
  DatabasePool pool(options);
  EXPECT_THAT(Datnames(Run(pool)[0]), ElementsAre("billing"));
}

TEST_F(DatabasePoolTest, AFailingDatabaseIsNamedAndTheOthersRowsKept) {
  server_->databases = {"app", "broken", "main", "worse"};
  server_->refusing = "broken";
  server_->failing = "worse";
  DatabasePool pool(Options());
  const QueryResult r = Run(pool)[0];
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("database \"broken\": FATAL"));
  EXPECT_THAT(Datnames(r), ElementsAre("app", "main"));
}

TEST_F(DatabasePoolTest, LeastRecentlyUsedConnectionMakesRoom) {
  server_->databases = {"a", "b", "c", "main"};
  DatabasePool pool(Options(3));  // main + 2 others
  Run(pool);
  EXPECT_EQ(pool.Open(), 2u);
  EXPECT_EQ(server_->alive["a"] + server_->alive["b"] + server_->alive["c"], 2);
  // a, b, c were each opened once; the rotation reopens as needed.
  Run(pool);
  EXPECT_EQ(pool.ConnectionsOpened(), 6u);
}

TEST_F(DatabasePoolTest,
       ClosesAfterTheVisitUnlessKeptAndForgetsDroppedDatabases) {
  server_->databases = {"app", "main", "old"};
  DatabasePool pool(Options());
  Run(pool, /*keep_open=*/true);
  EXPECT_EQ(server_->alive["old"], 1);
  server_->databases = {"app", "main"};  // DROP DATABASE old
  Run(pool, true);
  EXPECT_EQ(server_->alive["old"], 0);
  EXPECT_EQ(server_->alive["app"], 1);
  Run(pool, /*keep_open=*/false);
  EXPECT_EQ(server_->alive["app"], 0);
  EXPECT_EQ(pool.Open(), 0u);
  // Closed connections still count as opened.
  EXPECT_EQ(pool.ConnectionsOpened(), 2u);
}

TEST_F(DatabasePoolTest, OneConnectionMeansTheConnectedDatabaseOnly) {
  server_->databases = {"app", "main"};
  DatabasePool pool(Options(1));
  EXPECT_THAT(Datnames(Run(pool)[0]), ElementsAre("main"));
  EXPECT_EQ(server_->opens.count("app"), 0u);
}

TEST_F(DatabasePoolTest, NoWayToOpenOthersMeansTheConnectedDatabaseOnly) {
  server_->databases = {"app", "main"};
  DatabasePool pool(DatabasePool::Options{});
  EXPECT_THAT(Datnames(Run(pool)[0]), ElementsAre("main"));
}

TEST_F(DatabasePoolTest, PastTheDeadlineNoDatabaseIsVisited) {
  server_->databases = {"app", "main"};
  DatabasePool pool(Options());
  info_.database = "main";
  const auto results =
      pool.RunEverywhere(main_, info_, {{"SELECT x"}},
                         Clock::now() - std::chrono::seconds(1), true);
  EXPECT_FALSE(results[0].ok);
  EXPECT_THAT(results[0].error, HasSubstr("deadline exceeded before its turn"));
  EXPECT_EQ(results[0].rows.size(), 0u);
}

}  // namespace
}  // namespace pgwarden::testing
