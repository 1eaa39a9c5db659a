// postmaster: when the server started.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] = "pg_postmaster_start_time()";

constexpr char kPostmasterQuery[] = R"sql(
SELECT extract(epoch FROM pg_postmaster_start_time()) AS start_time)sql";

class PostmasterCollector final : public ColumnCollector {
 public:
  explicit PostmasterCollector(const CollectorOptions& o)
      : ColumnCollector("postmaster", o, kPostmasterQuery, {},
                        {{"start_time", "pg_postmaster_start_time_seconds",
                          "Unix time the postmaster started."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(postmaster, OnByDefault(),
                            ::pgwarden::PostmasterCollector);
