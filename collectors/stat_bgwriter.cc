// stat_bgwriter: pg_stat_bgwriter, with the checkpoint figures that
// PostgreSQL 17 moved to pg_stat_checkpointer and pg_stat_io.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_bgwriter: checkpoints, buffer writes (17+: from their new views)";

constexpr char kBgwriterQuery[] = R"sql(
SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time,
       checkpoint_sync_time, buffers_checkpoint, buffers_clean,
       maxwritten_clean, buffers_backend, buffers_backend_fsync, buffers_alloc,
       coalesce(extract(epoch FROM stats_reset), 0) AS stats_reset
FROM pg_stat_bgwriter)sql";

// PostgreSQL 17 keeps only the background writer's own columns in
// pg_stat_bgwriter. The same names are filled from pg_stat_checkpointer and
// (backend writes and fsyncs of relation blocks) pg_stat_io, so dashboards
// built on the old names keep working; postgres_exporter leaves them empty.
constexpr char kBgwriterQuery17[] = R"sql(
SELECT c.num_timed AS checkpoints_timed, c.num_requested AS checkpoints_req,
       c.write_time AS checkpoint_write_time,
       c.sync_time AS checkpoint_sync_time,
       c.buffers_written AS buffers_checkpoint, b.buffers_clean,
       b.maxwritten_clean, io.writes AS buffers_backend,
       io.fsyncs AS buffers_backend_fsync, b.buffers_alloc,
       coalesce(extract(epoch FROM b.stats_reset), 0) AS stats_reset
FROM pg_stat_bgwriter b, pg_stat_checkpointer c,
     (SELECT coalesce(sum(writes), 0) AS writes,
             coalesce(sum(fsyncs), 0) AS fsyncs
      FROM pg_stat_io
      WHERE object = 'relation'
        AND backend_type NOT IN ('background writer', 'checkpointer')) io)sql";

std::vector<ColumnMetric> Metrics() {
  constexpr Kind C = Kind::kCounter;
  return {
      {"checkpoints_timed", "pg_stat_bgwriter_checkpoints_timed_total",
       "Scheduled checkpoints performed.", C, 1,
       "pg_stat_bgwriter_checkpoints_timed"},
      {"checkpoints_req", "pg_stat_bgwriter_checkpoints_req_total",
       "Requested checkpoints performed.", C, 1,
       "pg_stat_bgwriter_checkpoints_req"},
      {"checkpoint_write_time", "pg_stat_bgwriter_checkpoint_write_time_total",
       "Time spent writing checkpoint files to disk, in milliseconds.", C, 1,
       "pg_stat_bgwriter_checkpoint_write_time"},
      {"checkpoint_sync_time", "pg_stat_bgwriter_checkpoint_sync_time_total",
       "Time spent syncing checkpoint files to disk, in milliseconds.", C, 1,
       "pg_stat_bgwriter_checkpoint_sync_time"},
      {"buffers_checkpoint", "pg_stat_bgwriter_buffers_checkpoint_total",
       "Buffers written during checkpoints.", C, 1,
       "pg_stat_bgwriter_buffers_checkpoint"},
      {"buffers_clean", "pg_stat_bgwriter_buffers_clean_total",
       "Buffers written by the background writer.", C, 1,
       "pg_stat_bgwriter_buffers_clean"},
      {"maxwritten_clean", "pg_stat_bgwriter_maxwritten_clean_total",
       "Times the background writer stopped a cleaning scan for writing too "
       "many buffers.",
       C, 1, "pg_stat_bgwriter_maxwritten_clean"},
      {"buffers_backend", "pg_stat_bgwriter_buffers_backend_total",
       "Buffers written directly by backends (17+: pg_stat_io relation "
       "writes).",
       C, 1, "pg_stat_bgwriter_buffers_backend"},
      {"buffers_backend_fsync", "pg_stat_bgwriter_buffers_backend_fsync_total",
       "Times a backend had to execute its own fsync call.", C, 1,
       "pg_stat_bgwriter_buffers_backend_fsync"},
      {"buffers_alloc", "pg_stat_bgwriter_buffers_alloc_total",
       "Buffers allocated.", C, 1, "pg_stat_bgwriter_buffers_alloc"},
      {"stats_reset", "pg_stat_bgwriter_stats_reset_total",
       "Unix time these statistics were last reset (0: never).", C, 1,
       "pg_stat_bgwriter_stats_reset"},
  };
}

class StatBgwriterCollector final : public ColumnCollector {
 public:
  explicit StatBgwriterCollector(const CollectorOptions& o)
      : ColumnCollector("stat_bgwriter", o, "", {}, Metrics()) {}
  std::string Query(const ServerInfo& server) const override {
    return server.version_num >= 170000 ? kBgwriterQuery17 : kBgwriterQuery;
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_bgwriter, OnByDefault(),
                            ::pgwarden::StatBgwriterCollector);
