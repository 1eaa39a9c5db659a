// stat_checkpointer: pg_stat_checkpointer (PostgreSQL 17+).

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_checkpointer (17+): checkpoints, restartpoints, checkpoint I/O";

// %PG18% adds the columns PostgreSQL 18 introduced.
constexpr char kCheckpointerQuery[] = R"sql(
SELECT num_timed, num_requested, restartpoints_timed, restartpoints_req,
       restartpoints_done, write_time, sync_time, buffers_written,
       coalesce(extract(epoch FROM stats_reset), 0) AS stats_reset%PG18%
FROM pg_stat_checkpointer)sql";

std::vector<ColumnMetric> Metrics() {
  constexpr Kind C = Kind::kCounter;
  return {
      {"num_timed", "pg_stat_checkpointer_num_timed_total",
       "Scheduled checkpoints.", C},
      {"num_requested", "pg_stat_checkpointer_num_requested_total",
       "Requested checkpoints.", C},
      {"num_done", "pg_stat_checkpointer_num_done_total",
       "Checkpoints performed (18+).", C},
      {"restartpoints_timed", "pg_stat_checkpointer_restartpoints_timed_total",
       "Scheduled restartpoints.", C},
      {"restartpoints_req", "pg_stat_checkpointer_restartpoints_req_total",
       "Requested restartpoints.", C},
      {"restartpoints_done", "pg_stat_checkpointer_restartpoints_done_total",
       "Restartpoints performed.", C},
      {"write_time", "pg_stat_checkpointer_write_time_total",
       "Time spent writing files during checkpoints and restartpoints, in "
       "milliseconds.",
       C},
      {"sync_time", "pg_stat_checkpointer_sync_time_total",
       "Time spent syncing files during checkpoints and restartpoints, in "
       "milliseconds.",
       C},
      {"buffers_written", "pg_stat_checkpointer_buffers_written_total",
       "Buffers written during checkpoints and restartpoints.", C},
      {"stats_reset", "pg_stat_checkpointer_stats_reset_total",
       "Unix time these statistics were last reset (0: never).", C},
  };
}

class StatCheckpointerCollector final : public ColumnCollector {
 public:
  explicit StatCheckpointerCollector(const CollectorOptions& o)
      : ColumnCollector("stat_checkpointer", o, "", {}, Metrics()) {}
  // Before 17 the view does not exist; stat_bgwriter has these figures.
  std::string Query(const ServerInfo& server) const override {
    if (server.version_num < 170000) return "";
    return Substitute(kCheckpointerQuery, "%PG18%",
                      server.version_num >= 180000 ? ", num_done" : "");
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_checkpointer, OnByDefault(),
                            ::pgwarden::StatCheckpointerCollector);
