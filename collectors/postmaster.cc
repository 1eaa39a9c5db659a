// postmaster: when the server started.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kPostmasterQuery[] = R"sql(
SELECT extract(epoch FROM pg_postmaster_start_time()) AS start_time)sql";

class PostmasterCollector final : public ColumnCollector {
 public:
  explicit PostmasterCollector(const CollectorOptions& o)
      : ColumnCollector(o, {},
                        {{"start_time", "pg_postmaster_start_time_seconds",
                          "Unix time the postmaster started."}}) {}
  std::string_view Name() const override { return "postmaster"; }
  std::string Query(const ServerInfo&) const override {
    return kPostmasterQuery;
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(postmaster, true, "pg_postmaster_start_time()",
                            ::pgwarden::PostmasterCollector);
