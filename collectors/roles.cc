// roles: connection limit per role.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] = "pg_roles: connection limit per role";

constexpr char kRolesQuery[] = R"sql(
SELECT rolname::text AS rolname, rolconnlimit AS connection_limit FROM pg_roles)sql";

class RolesCollector final : public ColumnCollector {
 public:
  explicit RolesCollector(const CollectorOptions& o)
      : ColumnCollector("roles", o, kRolesQuery, {{"rolname", "rolname"}},
                        {{"connection_limit", "pg_roles_connection_limit",
                          "Connection limit of the role (-1: none)."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(roles, OnByDefault(), ::pgwarden::RolesCollector);
