// stat_statements: pg_stat_statements, top N by execution time plus the rest.

#include <algorithm>
#include <set>
#include <string>

#include "collectors/collector.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_statements: top N statements by time, the rest as queryid=other";

// Rows are merged per (user, database, queryid) first: "toplevel" (14+)
// splits one statement into two rows. The top %LIMIT% by execution time keep
// their queryid; all others are summed into queryid 'other' per user and
// database, so sum() over any family equals the view's total.
// pg_stat_statements(false) skips reading the query-text file.
constexpr char kStatStatementsQuery[] = R"sql(
WITH s AS (
  SELECT userid, dbid, queryid,
         sum(calls) AS calls, sum(%EXEC%) AS exec_ms, sum(rows) AS rows,
         sum(%BLKREAD%) AS read_ms, sum(%BLKWRITE%) AS write_ms,
         sum(%PLAN%) AS plan_ms%TEXT%
  FROM %SCHEMA%.pg_stat_statements(%SHOWTEXT%)
  GROUP BY userid, dbid, queryid
), ranked AS (
  SELECT s.*,
         row_number() OVER (ORDER BY exec_ms DESC, queryid) <= %LIMIT%
           AND queryid IS NOT NULL AS top
  FROM s
)
SELECT coalesce(pg_get_userbyid(userid)::text, '') AS "user",
       coalesce(d.datname::text, '') AS datname,
       CASE WHEN top THEN queryid::text ELSE 'other' END AS queryid,
       sum(calls) AS calls,
       sum(exec_ms) / 1000 AS seconds,
       sum(rows) AS rows,
       sum(read_ms) / 1000 AS block_read_seconds,
       sum(write_ms) / 1000 AS block_write_seconds,
       sum(plan_ms) / 1000 AS plan_seconds,
       %QUERYCOL% AS query
FROM ranked LEFT JOIN pg_database d ON d.oid = ranked.dbid
GROUP BY 1, 2, 3)sql";

// Columns by extension version (not server version: an upgraded server can
// keep an older extension until ALTER EXTENSION UPDATE).
struct Columns {
  const char* exec;
  const char* plan;
  const char* blk_read;
  const char* blk_write;
};
constexpr Columns kColumns1_7 = {"total_time", "0", "blk_read_time",
                                 "blk_write_time"};
constexpr Columns kColumns1_8 = {"total_exec_time", "total_plan_time",
                                 "blk_read_time", "blk_write_time"};
constexpr Columns kColumns1_11 = {"total_exec_time", "total_plan_time",
                                  "shared_blk_read_time",
                                  "shared_blk_write_time"};

// The extension version each server major ships, for when it is unknown.
int ExtensionVersion(const ServerInfo& server) {
  if (server.pgss_version_num) return server.pgss_version_num;
  if (server.version_num >= 170000) return 11100;
  if (server.version_num >= 130000) return 10800;
  return 10700;
}

class StatStatementsCollector final : public Collector {
 public:
  explicit StatStatementsCollector(const CollectorOptions& options)
      : limit_(std::max(0, options.stat_statements_limit)),
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

  std::string Query(const ServerInfo& server) const override {
    if (!server.pgss_available) return "";
    const int ext = ExtensionVersion(server);
    const Columns& c = ext >= 11100   ? kColumns1_11
                       : ext >= 10800 ? kColumns1_8
                                      : kColumns1_7;
    std::string sql = kStatStatementsQuery;
    sql = Substitute(sql, "%EXEC%", c.exec);
    sql = Substitute(sql, "%PLAN%", c.plan);
    sql = Substitute(sql, "%BLKREAD%", c.blk_read);
    sql = Substitute(sql, "%BLKWRITE%", c.blk_write);
    sql = Substitute(
        sql, "%SCHEMA%",
        QuoteIdent(server.pgss_schema.empty() ? "public" : server.pgss_schema));
    sql = Substitute(sql, "%LIMIT%", std::to_string(limit_));
    if (include_query_) {
      sql = Substitute(sql, "%TEXT%",
                       ",\n         min(left(query, " +
                           std::to_string(query_length_) + ")) AS query");
      sql = Substitute(sql, "%SHOWTEXT%", "true");
      sql = Substitute(sql, "%QUERYCOL%",
                       "CASE WHEN bool_or(top) THEN min(query) END");
    } else {
      sql = Substitute(sql, "%TEXT%", "");
      sql = Substitute(sql, "%SHOWTEXT%", "false");
      sql = Substitute(sql, "%QUERYCOL%", "NULL::text");
    }
    return sql;
  }

  void Parse(const ServerInfo& server, const Rows& rows,
             Families& out) const override {
    using prometheus::MetricType;
    FamilyBuilder available(
        "pg_stat_statements_available",
        "1 if pg_stat_statements is installed in the connected database and "
        "preloaded.",
        MetricType::Gauge);
    available.Add(Bool(server.pgss_available)).MoveTo(out);
    if (!server.pgss_available) return;

    const bool has_plan = ExtensionVersion(server) >= 10800;
    std::set<std::string> texts_emitted;  // one text series per queryid
    FamilyBuilder calls("pg_stat_statements_calls_total",
                        "Number of times the statement was executed.",
                        MetricType::Counter);
    FamilyBuilder seconds("pg_stat_statements_seconds_total",
                          "Time spent executing the statement, in seconds.",
                          MetricType::Counter);
    FamilyBuilder rows_total("pg_stat_statements_rows_total",
                             "Rows retrieved or affected by the statement.",
                             MetricType::Counter);
    FamilyBuilder read("pg_stat_statements_block_read_seconds_total",
                       "Time the statement spent reading blocks, in seconds.",
                       MetricType::Counter);
    FamilyBuilder write("pg_stat_statements_block_write_seconds_total",
                        "Time the statement spent writing blocks, in seconds.",
                        MetricType::Counter);
    FamilyBuilder plan("pg_stat_statements_plan_seconds_total",
                       "Time spent planning the statement, in seconds.",
                       MetricType::Counter);
    FamilyBuilder query_id("pg_stat_statements_query_id",
                           "Query text of a queryid (truncated).",
                           MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      const std::string queryid = row.Text("queryid");
      if (queryid.empty()) continue;
      const Labels labels = {{"user", row.Text("user")},
                             {"datname", row.Text("datname")},
                             {"queryid", queryid}};
      calls.Add(labels, row.NumberOr("calls", 0));
      seconds.Add(labels, row.NumberOr("seconds", 0));
      rows_total.Add(labels, row.NumberOr("rows", 0));
      read.Add(labels, row.NumberOr("block_read_seconds", 0));
      write.Add(labels, row.NumberOr("block_write_seconds", 0));
      if (has_plan) plan.Add(labels, row.NumberOr("plan_seconds", 0));
      if (include_query_ && row.Get("query") &&
          texts_emitted.insert(queryid).second) {
        query_id.Add({{"queryid", queryid}, {"query", row.Text("query")}}, 1);
      }
    }
    for (FamilyBuilder* f :
         {&calls, &seconds, &rows_total, &read, &write, &plan, &query_id}) {
      f->MoveTo(out);
    }
  }

 private:
  int limit_;
  bool include_query_;
  int query_length_;
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_statements, OnByDefault(),
                            ::pgwarden::StatStatementsCollector);
