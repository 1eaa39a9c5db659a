// Micro-benchmarks of the per-scrape CPU work that does not involve the
// database: parsing canned rows, building families, serializing, gzip.
#include <benchmark/benchmark.h>

#include "collectors/collector.h"
#include "exporter/basic_auth.h"
#include "exporter/samples.h"
#include "exporter/text.h"
#include "tests/test_util.h"

namespace pgwarden {
namespace {

Rows ActivityRows(int sessions) {
  std::vector<std::vector<std::string>> cells;
  for (int i = 0; i < sessions; ++i) {
    cells.push_back({"session", "db" + std::to_string(i % 5),
                     i % 3 ? "idle" : "active", "user" + std::to_string(i % 7),
                     "app" + std::to_string(i), "client backend", "Client",
                     "ClientRead", "1", "12.5", "3", "4", "0", "0", "0", "0"});
  }
  for (int d = 0; d < 5; ++d) {
    cells.push_back({"database", "db" + std::to_string(d), "\\N", "\\N", "\\N",
                     "\\N", "\\N", "\\N", "0", "\\N", "\\N", "\\N", "\\N",
                     "\\N", "\\N", "\\N"});
  }
  return testing::MakeRows(
      {"kind", "datname", "state", "usename", "application_name",
       "backend_type", "wait_event_type", "wait_event", "count",
       "max_tx_duration", "max_query_duration", "max_state_duration", "long_0",
       "long_1", "long_2", "long_3"},
      cells);
}

Rows SettingsRows(int n) {
  std::vector<std::vector<std::string>> cells;
  for (int i = 0; i < n; ++i) {
    cells.push_back({"setting_" + std::to_string(i), std::to_string(i * 8),
                     i % 2 ? "kB" : "ms", "integer",
                     "A setting used by the benchmark.", "f"});
  }
  return testing::MakeRows(
      {"name", "setting", "unit", "vartype", "short_desc", "pending_restart"},
      cells);
}

void BM_ParseActivity(benchmark::State& state) {
  auto c = testing::NewCollector("activity");
  const Rows rows = ActivityRows(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Families out;
    c->Parse(ServerInfo{}, rows, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_ParseActivity)->Arg(10)->Arg(100)->Arg(1000);

// One activity sample of `sessions` non-idle sessions (a third active, a
// third waiting on a lock held by the one before, the rest idle in
// transaction) parsed and added to the counters, as the sampler does each
// second; Collect() once per 15 samples, as a 15 s scrape would.
void BM_ActivitySample(benchmark::State& state) {
  const int sessions = static_cast<int>(state.range(0));
  std::vector<std::vector<std::string>> cells;
  for (int i = 0; i < sessions; ++i) {
    const int kind = i % 3;
    cells.push_back(
        {"1700000000", std::to_string(1000 + i), "1699990000",
         kind == 0   ? "active"
         : kind == 1 ? "active"
                     : "idle in transaction",
         kind == 0   ? ""
         : kind == 1 ? "Lock"
                     : "Client",
         kind == 0   ? ""
         : kind == 1 ? "transactionid"
                     : "ClientRead",
         "db" + std::to_string(i % 5), "user" + std::to_string(i % 7),
         "app" + std::to_string(i % 40), std::to_string(i % 200 + 1),
         kind == 1 ? std::to_string(999 + i) : "", "\\N"});
  }
  const Rows rows = testing::MakeRows(
      {"sampled_at", "pid", "backend_start", "state", "wait_event_type",
       "wait_event", "datname", "usename", "application_name", "query_id",
       "blockers", "waitstart"},
      cells);
  ActivityCounters counters(1, {});
  double at = 1700000000;
  int n = 0;
  for (auto _ : state) {
    ActivitySample sample = ParseActivitySample(rows);
    sample.at = at += 1;
    counters.Add(sample);
    if (++n % 15 == 0) benchmark::DoNotOptimize(counters.Collect());
  }
}
BENCHMARK(BM_ActivitySample)->Arg(10)->Arg(100)->Arg(1000);

void BM_ParseSettings(benchmark::State& state) {
  auto c = testing::NewCollector("settings");
  const Rows rows = SettingsRows(350);
  for (auto _ : state) {
    Families out;
    c->Parse(ServerInfo{}, rows, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_ParseSettings);

Families TypicalScrape() {
  Families out;
  testing::NewCollector("activity")
      ->Parse(ServerInfo{}, ActivityRows(100), out);
  testing::NewCollector("settings")
      ->Parse(ServerInfo{}, SettingsRows(350), out);
  return out;
}

void BM_Serialize(benchmark::State& state) {
  const Families families = TypicalScrape();
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = Serialize(families);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Serialize);

void BM_Gzip(benchmark::State& state) {
  const std::string text = Serialize(TypicalScrape());
  for (auto _ : state) benchmark::DoNotOptimize(Gzip(text));
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Gzip);

// One read of a pg_stat_statements view of n entries, the second and later
// reads of a target (every entry seen before, a tenth of them busier).
Rows StatementRows(int n, int round) {
  std::vector<std::vector<std::string>> cells;
  for (int i = 0; i < n; ++i) {
    const int busier = i % 10 == 0 ? round : 0;
    cells.push_back(
        {std::to_string(10 + i % 3), "5", "user" + std::to_string(i % 3),
         "shop", std::to_string(1000003LL * i), "t",
         std::to_string(100 + busier), std::to_string(12.5 * (i + busier)),
         std::to_string(i), "0.5", "0", "0.25", "\\N", "\\N"});
  }
  return testing::MakeRows(
      {"userid", "dbid", "user", "datname", "queryid", "toplevel", "calls",
       "exec_ms", "rows", "read_ms", "write_ms", "plan_ms", "since", "query"},
      cells);
}

void BM_StatStatementsRead(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto c = testing::NewCollector("stat_statements");
  ServerInfo server;
  server.version_num = 150000;
  server.pgss_available = true;
  auto target_state = c->NewState();
  const Rows first = StatementRows(n, 0), second = StatementRows(n, 1);
  auto now = std::chrono::steady_clock::now();
  Families warm;
  c->ParseWithState(server, first, *target_state, now, warm);
  int round = 0;
  for (auto _ : state) {
    now += std::chrono::seconds(60);
    Families out;
    c->ParseWithState(server, ++round % 2 ? second : first, *target_state, now,
                      out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_StatStatementsRead)
    ->Arg(2000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

void BM_SanitizeLabelValue(benchmark::State& state) {
  const std::string value =
      "SELECT * FROM orders WHERE customer = $1 AND status <> $2";
  for (auto _ : state) benchmark::DoNotOptimize(SanitizeLabelValue(value));
}
BENCHMARK(BM_SanitizeLabelValue);

}  // namespace
}  // namespace pgwarden

// Basic auth with a cost-10 bcrypt hash (htpasswd -B's default): a cold
// check runs bcrypt, a warm one is answered from the cache.
constexpr char kCost10Hash[] =
    "$2b$10$.HO9eaMNHtx0suaFvkSxPu0TQMJ79mYZJsCpORCJOenf21sEUI7Iu";

// "Basic " and the base64 of `text`, whose length is a multiple of 3.
std::string BasicHeader(const std::string& text) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "Basic ";
  for (size_t i = 0; i + 2 < text.size(); i += 3) {
    const uint32_t n = (uint32_t(uint8_t(text[i])) << 16) |
                       (uint32_t(uint8_t(text[i + 1])) << 8) |
                       uint8_t(text[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) {
      out += kAlphabet[(n >> shift) & 63];
    }
  }
  return out;
}

void BM_BasicAuthCold(benchmark::State& state) {
  pgwarden::BasicAuth auth(
      std::map<std::string, std::string>{{"prometheus", kCost10Hash}});
  int n = 0;
  for (auto _ : state) {
    // "prometheus:" and a new 7-digit password each time: never cached.
    const std::string header =
        BasicHeader("prometheus:" + std::to_string(1000000 + n++));
    if (auth.Check(header)) state.SkipWithError("a wrong password passed");
  }
}
BENCHMARK(BM_BasicAuthCold)->Unit(benchmark::kMillisecond)->Iterations(20);

void BM_BasicAuthWarm(benchmark::State& state) {
  pgwarden::BasicAuth auth(
      std::map<std::string, std::string>{{"prometheus", kCost10Hash}});
  const std::string header = BasicHeader("prometheus:wrong!!!");
  auth.Check(header);
  for (auto _ : state) benchmark::DoNotOptimize(auth.Check(header));
}
BENCHMARK(BM_BasicAuthWarm);

BENCHMARK_MAIN();
