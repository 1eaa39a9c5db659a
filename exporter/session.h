#pragma once

#include <memory>

#include "exporter/database.h"
#include "exporter/dsn.h"

namespace pgwarden {

// The PostgreSQL Database: one persistent connection, opened by libpqxx
// with the session settings in the startup packet, and queries sent in
// libpq pipeline mode with a sync after each one, so a whole scrape is one
// round trip. `dsn` must already carry the session settings.
std::unique_ptr<Database> NewPostgresDatabase(Dsn dsn);

}  // namespace pgwarden
