// database_wraparound: transaction ID and multixact age per database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "age(datfrozenxid) and mxid_age(datminmxid) per database";

// The ages are counts of transactions. postgres_exporter's names end in
// _seconds by mistake; they are kept for its users' rules. The _ratio
// families say how much of the 2^31 wraparound horizon is used, which is
// what an alert wants.
constexpr char kWraparoundQuery[] = R"sql(
SELECT datname::text AS datname, age(datfrozenxid) AS age_datfrozenxid,
       mxid_age(datminmxid) AS age_datminmxid,
       age(datfrozenxid) / 2147483648.0 AS xid_ratio,
       mxid_age(datminmxid) / 2147483648.0 AS mxid_ratio
FROM pg_database WHERE datallowconn)sql";

class DatabaseWraparoundCollector final : public ColumnCollector {
 public:
  explicit DatabaseWraparoundCollector(const CollectorOptions& o)
      : ColumnCollector(
            "database_wraparound", o, kWraparoundQuery,
            {{"datname", "datname"}},
            {{"age_datfrozenxid",
              "pg_database_wraparound_age_datfrozenxid_seconds",
              "Age of the oldest unfrozen transaction ID, in transactions "
              "(postgres_exporter's name)."},
             {"age_datminmxid", "pg_database_wraparound_age_datminmxid_seconds",
              "Age of the oldest multixact ID, in multixacts "
              "(postgres_exporter's name)."},
             {"xid_ratio", "pg_database_wraparound_xid_used_ratio",
              "Share of the 2^31 transaction ID horizon used by the oldest "
              "unfrozen transaction ID (1 = wraparound)."},
             {"mxid_ratio", "pg_database_wraparound_mxid_used_ratio",
              "Share of the 2^31 multixact horizon used (1 = wraparound)."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(database_wraparound, OnByDefault(),
                            ::pgwarden::DatabaseWraparoundCollector);
