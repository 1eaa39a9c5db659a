// Integration: custom queries from queries.yaml with their own timeout.

#include "collectors/queries_yaml.h"
#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(IntegrationTest, CustomQueryTimeoutFailsOnlyThatQuery) {
  auto queries = ParseCustomQueries(R"yaml(
pg_it_fast:
  query: "SELECT 'x' AS tag, 42 AS v"
  metrics:
    - tag: {usage: LABEL, description: "tag"}
    - v: {usage: GAUGE, description: "v"}
pg_it_slow:
  query: "SELECT 1 AS v FROM pg_sleep(3)"
  timeout_seconds: 0.3
  metrics:
    - v: {usage: GAUGE, description: "v"}
)yaml",
                                    "it.yaml");
  std::vector<std::unique_ptr<Collector>> extra;
  for (auto& q : queries) extra.push_back(NewCustomCollector(q, false));
  auto target = MakeTarget(kDatabase, {}, std::move(extra));
  const auto start = Clock::now();
  const Families out = Scrape(*target);
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(Sample(out, "pg_it_fast_v", {{"tag", "x"}}), 42);
  EXPECT_EQ(CollectorSuccess(out, "pg_it_slow"), 0);
  EXPECT_EQ(CollectorSuccess(out, "activity"), 1);
  EXPECT_LT(seconds, 2.5);  // cancelled by its own timeout, not the 3 s sleep
  EXPECT_THAT(target->Status().last_error, HasSubstr("statement timeout"));
}

}  // namespace
}  // namespace pgwarden::testing
