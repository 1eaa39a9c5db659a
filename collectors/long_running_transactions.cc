// long_running_transactions: open transactions and the oldest one's age.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] = "count and age of the oldest open transaction";

// postgres_exporter's definition: every non-idle session with an open
// transaction, autovacuum excluded. The exporter's own session is left out.
constexpr char kLongRunningQuery[] = R"sql(
SELECT count(*) AS transactions,
       coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)
         AS oldest_seconds
FROM pg_stat_activity
WHERE state IS DISTINCT FROM 'idle' AND query NOT LIKE 'autovacuum:%'
  AND xact_start IS NOT NULL AND pid <> pg_backend_pid())sql";

class LongRunningTransactionsCollector final : public ColumnCollector {
 public:
  explicit LongRunningTransactionsCollector(const CollectorOptions& o)
      : ColumnCollector(
            "long_running_transactions", o, kLongRunningQuery, {},
            {{"transactions", "pg_long_running_transactions",
              "Open transactions of non-idle sessions (autovacuum excluded)."},
             {"oldest_seconds",
              "pg_long_running_transactions_oldest_timestamp_seconds",
              "Age in seconds of the oldest such transaction "
              "(postgres_exporter's name; it is an age, not a timestamp)."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(long_running_transactions, OnByDefault(),
                            ::pgwarden::LongRunningTransactionsCollector);
