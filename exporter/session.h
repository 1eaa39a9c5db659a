#pragma once

#include <memory>

#include "exporter/database.h"
#include "exporter/dsn.h"

namespace pgwarden {

// The Database of a PostgreSQL server: one persistent connection
// (exporter/pg_connection.h) opened with the session settings in its startup
// packet. A Run's statements go out in libpq's pipeline mode with a sync
// after each one, so a whole scrape is one round trip, and each statement is
// prepared once per connection. `dsn` must already carry the session
// settings (WithSessionSettings).
std::unique_ptr<Database> NewPostgresDatabase(Dsn dsn);

}  // namespace pgwarden
