// stat_statements: pg_stat_statements, the statements busiest lately by
// queryid and the rest summed, as counters that only grow.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "collectors/collector.h"
#include "exporter/counters.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_statements: busiest statements lately, the rest as queryid=other";

// Every entry as it is, ranked and summed in pgwarden: the extension's own
// function builds every entry anyway, so reading them raw is the cheapest
// shape (see docs/architecture.md). One row per entry (14+ splits a
// statement by toplevel), and on 1.9+ one row with a NULL userid holding
// the evictions (dealloc, as calls) and the last full reset (as since).
// pg_stat_statements(false) skips the query-text file unless the text is
// asked for.
constexpr char kStatStatementsQuery[] = R"sql(
SELECT s.userid::int8 AS userid, s.dbid::int8 AS dbid,
       coalesce(r.rolname::text, '') AS "user",
       coalesce(d.datname::text, '') AS datname, s.queryid::text AS queryid,
       %TOPLEVEL% AS toplevel, s.calls, s.%EXEC% AS exec_ms, s.rows,
       s.%BLKREAD% AS read_ms, s.%BLKWRITE% AS write_ms, %PLAN% AS plan_ms,
       %SINCE% AS since, %TEXT% AS query
FROM %SCHEMA%.pg_stat_statements(%SHOWTEXT%) s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid%INFO%)sql";

constexpr char kInfoRow[] = R"sql(
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, dealloc, NULL, NULL, NULL, NULL,
       NULL, extract(epoch FROM stats_reset)::float8, NULL
FROM %SCHEMA%.pg_stat_statements_info)sql";

// Columns by extension version (not server version: an upgraded server can
// keep an older extension until ALTER EXTENSION UPDATE).
struct VersionColumns {
  const char* exec;
  const char* plan;
  const char* blk_read;
  const char* blk_write;
};
constexpr VersionColumns kColumns1_7 = {"total_time", "0::float8",
                                        "blk_read_time", "blk_write_time"};
constexpr VersionColumns kColumns1_8 = {"total_exec_time", "s.total_plan_time",
                                        "blk_read_time", "blk_write_time"};
constexpr VersionColumns kColumns1_11 = {"total_exec_time", "s.total_plan_time",
                                         "shared_blk_read_time",
                                         "shared_blk_write_time"};

// The extension version each server major ships, for when it is unknown.
int ExtensionVersion(const ServerInfo& server) {
  if (server.pgss_version_num) return server.pgss_version_num;
  if (server.version_num >= 170000) return 11100;
  if (server.version_num >= 140000) return 10900;
  if (server.version_num >= 130000) return 10800;
  return 10700;
}

// How the top N follows recent activity: a statement's score is its
// execution time with a half-life of kHalfLife, and a statement already in
// the top N keeps its place unless a newcomer's score beats its own by
// kIncumbentAdvantage, so that membership does not flap.
constexpr double kHalfLifeSeconds = 120;
constexpr double kIncumbentAdvantage = 1.25;
// What pgwarden remembers of an entry or a series not seen for this long
// is forgotten.
constexpr auto kForgetAfter = std::chrono::hours(1);

// calls, seconds, rows, block read s, block write s, plan s.
constexpr size_t kFields = 6;
using Values = CounterValues<kFields>;
using TimePoint = std::chrono::steady_clock::time_point;

// pg_stat_statements' own key: one entry.
struct EntryKey {
  int64_t userid = 0;
  int64_t dbid = 0;
  std::string queryid;  // "" for NULL
  bool toplevel = true;
  bool operator==(const EntryKey& o) const {
    return userid == o.userid && dbid == o.dbid && toplevel == o.toplevel &&
           queryid == o.queryid;
  }
};
struct EntryKeyHash {
  size_t operator()(const EntryKey& k) const {
    size_t h = std::hash<std::string>()(k.queryid);
    for (int64_t v : {k.userid, k.dbid, static_cast<int64_t>(k.toplevel)}) {
      h = h * 1000003 ^ std::hash<int64_t>()(v);
    }
    return h;
  }
};

// A series is what pgwarden reports: (user, datname, queryid); the two
// toplevel entries of a statement are one series.
std::string SeriesKey(const std::string& user, const std::string& datname,
                      const std::string& queryid) {
  return user + '\x1f' + datname + '\x1f' + queryid;
}

struct Series {
  std::string user, datname, queryid;  // queryid "" for NULL
  std::string other;                   // its "other": SeriesKey(user, db, "")
  double score = 0;                    // decayed execution seconds...
  TimePoint scored;                    // ...as of this time
  TimePoint seen;                      // when an entry of it was last read
  std::optional<std::string> text;
  Values increase{};    // the last read's, over its entries
  Values own{};         // what its own series reports
  bool member = false;  // in the top N
  bool joins = false;   // enters the top N at this read
};

// What each pg_stat_statements entry remembers beside its values.
struct EntryExtra {
  Series* series = nullptr;  // stable: entries go before their series
};

// One target's memory: the entries' last cumulative values, each series'
// score and counters, the top N, and "other" per user and database.
class StatStatementsState final : public CollectorState {
 public:
  DeltaTracker<EntryKey, kFields, EntryKeyHash, EntryExtra> entries;
  std::unordered_map<std::string, Series> series;
  std::vector<Series*> members;              // the top N
  Accumulators<std::string, kFields> other;  // per (user, datname)
  std::optional<TimePoint> last_read;
  TimePoint last_sweep;
  double restarts = 0;  // entries seen reset or evicted and created again
};

// The result columns, found once per read.
struct Columns {
  explicit Columns(const Rows& rows)
      : userid(rows.Column("userid")),
        dbid(rows.Column("dbid")),
        user(rows.Column("user")),
        datname(rows.Column("datname")),
        queryid(rows.Column("queryid")),
        toplevel(rows.Column("toplevel")),
        since(rows.Column("since")),
        query(rows.Column("query")),
        values{rows.Column("calls"),    rows.Column("exec_ms"),
               rows.Column("rows"),     rows.Column("read_ms"),
               rows.Column("write_ms"), rows.Column("plan_ms")} {}
  int userid, dbid, user, datname, queryid, toplevel, since, query;
  int values[kFields];
};

const Rows::Cell& Cell(const Rows::Row& row, int column) {
  static const Rows::Cell kNull;
  return column < 0 ? kNull : row[static_cast<size_t>(column)];
}

double Number(const Rows::Row& row, int column, double fallback = 0) {
  const Rows::Cell& cell = Cell(row, column);
  return cell ? ParseNumber(*cell).value_or(fallback) : fallback;
}

std::string Text(const Rows::Row& row, int column) {
  const Rows::Cell& cell = Cell(row, column);
  return cell ? *cell : "";
}

// The entry a row describes, and its cumulative values (milliseconds
// become seconds).
EntryKey KeyOf(const Rows::Row& row, const Columns& c) {
  return {static_cast<int64_t>(Number(row, c.userid)),
          static_cast<int64_t>(Number(row, c.dbid)), Text(row, c.queryid),
          Number(row, c.toplevel, 1) != 0};
}
Values ValuesOf(const Rows::Row& row, const Columns& c) {
  Values v;
  for (size_t i = 0; i < kFields; ++i) v[i] = Number(row, c.values[i]);
  for (size_t i : {1, 3, 4, 5}) v[i] /= 1000;
  return v;
}

void AddTo(Values& sum, const Values& v) {
  for (size_t i = 0; i < kFields; ++i) sum[i] += v[i];
}

class StatStatementsCollector final : public Collector {
 public:
  explicit StatStatementsCollector(const CollectorOptions& options)
      : limit_(static_cast<size_t>(std::max(0, options.stat_statements_limit))),
        include_query_(options.stat_statements_include_query),
        query_length_(std::max(1, options.stat_statements_query_length)) {}

  std::string_view Name() const override { return "stat_statements"; }

  std::string Notice(const ServerInfo& server) const override {
    if (server.pgss_available) return "";
    return "pg_stat_statements is not available in this database; "
           "stat_statements emits only pg_stat_statements_available 0. To "
           "enable: add pg_stat_statements to shared_preload_libraries "
           "(restart), then CREATE EXTENSION pg_stat_statements;";
  }

  std::string Query(const ServerInfo& server) const override;

  std::unique_ptr<CollectorState> NewState() const override {
    return std::make_unique<StatStatementsState>();
  }

  // Without a target's memory: everything read counts as new, so the top N
  // is by execution time since the last reset (what one scrape can tell).
  void Parse(const ServerInfo& server, const Rows& rows,
             Families& out) const override {
    StatStatementsState fresh;
    ParseWithState(server, rows, fresh, std::chrono::steady_clock::now(), out);
  }

  void ParseWithState(const ServerInfo& server, const Rows& rows,
                      CollectorState& state, TimePoint now,
                      Families& out) const override;

 private:
  // Observes every entry of the read into its series' increase; returns
  // the series read, and the view's dealloc and stats_reset (1.9+).
  std::vector<Series*> Observe(const Rows& rows, StatStatementsState& s,
                               TimePoint now, std::optional<double>& dealloc,
                               std::optional<double>& stats_reset) const;
  // Scores the series read and chooses the top N among them.
  void Rank(const std::vector<Series*>& read, StatStatementsState& s,
            TimePoint now) const;
  // Credits each increase to its own series (top N) or to other.
  void Credit(const std::vector<Series*>& read, StatStatementsState& s,
              TimePoint now) const;
  void Forget(StatStatementsState& s, TimePoint now) const;
  void Emit(const ServerInfo& server, const StatStatementsState& s,
            Families& out) const;

  size_t limit_;
  bool include_query_;
  int query_length_;
};

std::string StatStatementsCollector::Query(const ServerInfo& server) const {
  if (!server.pgss_available) return "";
  const int ext = ExtensionVersion(server);
  const VersionColumns& c = ext >= 11100   ? kColumns1_11
                            : ext >= 10800 ? kColumns1_8
                                           : kColumns1_7;
  std::string sql = kStatStatementsQuery;
  sql = Substitute(sql, "%INFO%", ext >= 10900 ? kInfoRow : "");
  sql = Substitute(sql, "%EXEC%", c.exec);
  sql = Substitute(sql, "%PLAN%", c.plan);
  sql = Substitute(sql, "%BLKREAD%", c.blk_read);
  sql = Substitute(sql, "%BLKWRITE%", c.blk_write);
  sql = Substitute(sql, "%TOPLEVEL%", ext >= 10900 ? "s.toplevel" : "true");
  sql = Substitute(sql, "%SINCE%",
                   ext >= 11100 ? "extract(epoch FROM s.stats_since)::float8"
                                : "NULL::float8");
  sql = Substitute(
      sql, "%SCHEMA%",
      QuoteIdent(server.pgss_schema.empty() ? "public" : server.pgss_schema));
  sql = Substitute(sql, "%SHOWTEXT%", include_query_ ? "true" : "false");
  return Substitute(sql, "%TEXT%",
                    include_query_
                        ? "left(s.query, " + std::to_string(query_length_) + ")"
                        : "NULL::text");
}

std::vector<Series*> StatStatementsCollector::Observe(
    const Rows& rows, StatStatementsState& s, TimePoint now,
    std::optional<double>& dealloc, std::optional<double>& stats_reset) const {
  const Columns c(rows);
  for (const Rows::Row& row : rows.rows()) {
    if (!Cell(row, c.userid)) {  // the info row
      dealloc = ParseNumber(Text(row, c.values[0]));
      stats_reset = ParseNumber(Text(row, c.since));
    }
  }
  std::vector<Series*> read;
  for (const Rows::Row& row : rows.rows()) {
    if (!Cell(row, c.userid)) continue;
    // Before 1.11 an entry does not say when it started; a full reset
    // (1.9+) restarts every entry.
    const double since = Number(row, c.since, stats_reset.value_or(0));
    const auto delta =
        s.entries.Observe(KeyOf(row, c), ValuesOf(row, c), now, since);
    if (delta.restarted) ++s.restarts;
    Series*& series = delta.extra->series;
    if (!series) {
      const std::string user = Text(row, c.user), db = Text(row, c.datname);
      const std::string queryid = Text(row, c.queryid);
      series = &s.series[SeriesKey(user, db, queryid)];
      if (series->other.empty()) {
        series->user = user;
        series->datname = db;
        series->queryid = queryid;
        series->other = SeriesKey(user, db, "");
      }
    }
    if (series->seen != now) {
      series->seen = now;
      series->increase = Values{};
      read.push_back(series);
    }
    AddTo(series->increase, delta.values);
    if (!series->text && Cell(row, c.query)) series->text = Text(row, c.query);
  }
  return read;
}

void StatStatementsCollector::Rank(const std::vector<Series*>& read,
                                   StatStatementsState& s,
                                   TimePoint now) const {
  std::vector<std::pair<double, Series*>> ranked;
  for (Series* series : read) {
    const double elapsed =
        s.last_read
            ? std::chrono::duration<double>(now - series->scored).count()
            : 0;
    series->score =
        series->score * std::exp2(-std::max(0.0, elapsed) / kHalfLifeSeconds) +
        series->increase[1];
    series->scored = now;
    if (series->queryid.empty()) continue;
    ranked.emplace_back(
        series->score * (series->member ? kIncumbentAdvantage : 1), series);
  }
  const size_t n = std::min(limit_, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + n, ranked.end(),
                    [](const auto& a, const auto& b) {
                      if (a.first != b.first) return a.first > b.first;
                      return a.second->queryid < b.second->queryid;
                    });
  for (Series* m : s.members) m->joins = false;
  std::vector<Series*> members;
  for (size_t i = 0; i < n; ++i) {
    Series* m = ranked[i].second;
    m->joins = !m->member;
    members.push_back(m);
  }
  for (Series* m : s.members) m->member = false;
  for (Series* m : members) m->member = true;
  s.members = std::move(members);
}

// A statement's own series counts what it did while in the top N. The read
// that brings it in credits that read's increase to "other": Prometheus
// takes a new series' first sample as its starting point, so an increase
// in it would be lost to rate(). (The first read of all is the exception:
// every series is new then, and starts from the view's totals.) For the
// same reason "other" of every user and database read exists from the first
// read, and one that appears later is emitted at 0 first, its first
// increase held until the next read.
void StatStatementsCollector::Credit(const std::vector<Series*>& read,
                                     StatStatementsState& s,
                                     TimePoint now) const {
  const bool first_read = !s.last_read;
  using First = decltype(s.other)::FirstIncrease;
  for (Series* series : read) {
    const bool own = series->member && (first_read || !series->joins);
    if (own) AddTo(series->own, series->increase);
    s.other.Add(series->other, own ? Values{} : series->increase, now,
                first_read ? First::kCounted : First::kHeld);
  }
}

// What pgwarden keeps follows the view: what has not been read for an hour
// is forgotten (entries first: they point at their series).
void StatStatementsCollector::Forget(StatStatementsState& s,
                                     TimePoint now) const {
  if (now - s.last_sweep < std::chrono::minutes(5)) return;
  s.last_sweep = now;
  const auto cutoff = now - kForgetAfter;
  s.entries.ForgetUnseenSince(cutoff);
  s.other.ForgetUnusedSince(cutoff);
  for (auto it = s.series.begin(); it != s.series.end();) {
    it = it->second.seen < cutoff ? s.series.erase(it) : std::next(it);
  }
}

void StatStatementsCollector::ParseWithState(const ServerInfo& server,
                                             const Rows& rows,
                                             CollectorState& state,
                                             TimePoint now,
                                             Families& out) const {
  auto& s = static_cast<StatStatementsState&>(state);
  std::optional<double> dealloc, stats_reset;
  if (server.pgss_available) {
    const std::vector<Series*> read =
        Observe(rows, s, now, dealloc, stats_reset);
    Rank(read, s, now);
    Credit(read, s, now);
    s.last_read = now;
    Forget(s, now);
  }
  Emit(server, s, out);
  using prometheus::MetricType;
  if (dealloc) {
    FamilyBuilder("pg_stat_statements_deallocations_total",
                  "Entries pg_stat_statements evicted to make room "
                  "(pg_stat_statements_info.dealloc).",
                  MetricType::Counter)
        .Add(*dealloc)
        .MoveTo(out);
  }
  if (stats_reset) {
    FamilyBuilder("pg_stat_statements_stats_reset_timestamp_seconds",
                  "Unix time of pg_stat_statements' last full reset.",
                  MetricType::Gauge)
        .Add(*stats_reset)
        .MoveTo(out);
  }
}

void StatStatementsCollector::Emit(const ServerInfo& server,
                                   const StatStatementsState& s,
                                   Families& out) const {
  using prometheus::MetricType;
  FamilyBuilder("pg_stat_statements_available",
                "1 if pg_stat_statements is installed in the connected "
                "database and preloaded.",
                MetricType::Gauge)
      .Add(Bool(server.pgss_available))
      .MoveTo(out);
  if (!server.pgss_available) return;
  const bool has_plan = ExtensionVersion(server) >= 10800;
  struct Field {
    const char* name;
    const char* help;
  };
  static constexpr Field kNames[kFields] = {
      {"pg_stat_statements_calls_total",
       "Number of times the statement was executed."},
      {"pg_stat_statements_seconds_total",
       "Time spent executing the statement, in seconds."},
      {"pg_stat_statements_rows_total",
       "Rows retrieved or affected by the statement."},
      {"pg_stat_statements_block_read_seconds_total",
       "Time the statement spent reading blocks, in seconds."},
      {"pg_stat_statements_block_write_seconds_total",
       "Time the statement spent writing blocks, in seconds."},
      {"pg_stat_statements_plan_seconds_total",
       "Time spent planning the statement, in seconds."}};
  std::vector<FamilyBuilder> families;
  for (const Field& f : kNames) {
    families.emplace_back(f.name, f.help, MetricType::Counter);
  }
  FamilyBuilder text("pg_stat_statements_query_id",
                     "Query text of a queryid (truncated).", MetricType::Gauge);
  auto add = [&](const Labels& labels, const Values& v) {
    for (size_t i = 0; i < kFields; ++i) {
      if (i != 5 || has_plan) families[i].Add(labels, v[i]);
    }
  };
  // Sorted, so that the output does not change order between scrapes.
  std::vector<const Series*> members(s.members.begin(), s.members.end());
  std::sort(members.begin(), members.end(),
            [](const Series* a, const Series* b) {
              return std::tie(a->user, a->datname, a->queryid) <
                     std::tie(b->user, b->datname, b->queryid);
            });
  for (const Series* series : members) {
    add({{"user", series->user},
         {"datname", series->datname},
         {"queryid", series->queryid}},
        series->own);
    if (include_query_ && series->text) {
      text.Add({{"queryid", series->queryid}, {"query", *series->text}}, 1);
    }
  }
  std::vector<std::pair<std::string, Values>> others;
  s.other.ForEach([&](const std::string& key, const Values& v) {
    others.emplace_back(key, v);
  });
  std::sort(others.begin(), others.end());
  for (const auto& [key, v] : others) {
    const size_t a = key.find('\x1f'), b = key.find('\x1f', a + 1);
    add({{"user", key.substr(0, a)},
         {"datname", key.substr(a + 1, b - a - 1)},
         {"queryid", "other"}},
        v);
  }
  for (auto& f : families) f.MoveTo(out);
  text.MoveTo(out);
  FamilyBuilder("pgwarden_stat_statements_entries_restarted_total",
                "pg_stat_statements entries pgwarden saw start over (a "
                "reset, or an evicted statement coming back).",
                MetricType::Counter)
      .Add(s.restarts)
      .MoveTo(out);
  FamilyBuilder("pgwarden_stat_statements_tracked_entries",
                "pg_stat_statements entries whose last values pgwarden keeps.",
                MetricType::Gauge)
      .Add(static_cast<double>(s.entries.size()))
      .MoveTo(out);
}

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_statements, OnByDefault(120),
                            ::pgwarden::StatStatementsCollector);
