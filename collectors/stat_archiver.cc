// stat_archiver: WAL archiving.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_archiver: archived and failed WAL files, archive age";

constexpr char kArchiverQuery[] = R"sql(
SELECT archived_count, failed_count,
       extract(epoch FROM now() - last_archived_time) AS last_archive_age,
       coalesce(extract(epoch FROM last_failed_time), 0) AS last_failed_time
FROM pg_stat_archiver)sql";

class StatArchiverCollector final : public ColumnCollector {
 public:
  explicit StatArchiverCollector(const CollectorOptions& o)
      : ColumnCollector(
            "stat_archiver", o, kArchiverQuery, {},
            {{"archived_count", "pg_stat_archiver_archived_count",
              "WAL files archived.", Kind::kCounter},
             {"failed_count", "pg_stat_archiver_failed_count",
              "Failed attempts to archive a WAL file.", Kind::kCounter},
             {"last_archive_age", "pg_stat_archiver_last_archive_age",
              "Seconds since the last WAL file was archived."},
             {"last_failed_time", "pg_stat_archiver_last_failed_time_seconds",
              "Unix time of the last failed archive attempt (0: none)."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_archiver, OnByDefault(),
                            ::pgwarden::StatArchiverCollector);
