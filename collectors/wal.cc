// wal: WAL segments on disk.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] = "pg_ls_waldir(): WAL segment count and size";

// pg_ls_waldir() needs pg_monitor (or an explicit GRANT EXECUTE); without
// it this collector fails with a permission error, logged once.
constexpr char kWalQuery[] = R"sql(
SELECT count(*) AS segments, coalesce(sum(size), 0) AS size_bytes FROM pg_ls_waldir())sql";

class WalCollector final : public ColumnCollector {
 public:
  explicit WalCollector(const CollectorOptions& o)
      : ColumnCollector(
            "wal", o, kWalQuery, {},
            {{"segments", "pg_wal_segments", "WAL segment files in pg_wal."},
             {"size_bytes", "pg_wal_size_bytes",
              "Size of the WAL files in pg_wal."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(wal, OnByDefault(), ::pgwarden::WalCollector);
