#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgwarden {

// postgres_exporter 0.20's command line, so that its unit files, Debian
// defaults and Helm values start pgwarden unchanged. Each of its flags is
// either another spelling of a pgwarden flag, handled by ParseArgs
// (collector switches, --disable-*-metrics, --collection-timeout,
// --auto-discover-databases), or refused with the reason and pgwarden's
// equivalent.

// pgwarden's flag for postgres_exporter's spelling ("web.listen-address" ->
// "web_listen_address"); "" when it is not a plain rename.
std::string RenamedFlag(std::string_view spelled);

// postgres_exporter's spelling of a pgwarden flag, "" when none (--help).
std::string PostgresExporterSpelling(std::string_view flag);

// Why a postgres_exporter flag is refused, naming what to use instead; ""
// when it is not refused. `value` is the flag's value when given.
std::string RefusedFlag(std::string_view spelled, std::string_view value);

// The pgwarden collector for postgres_exporter's collector name
// ("stat_activity" -> "activity"); "" when pgwarden has no such collector.
std::string CollectorFor(std::string_view postgres_exporter_name);

// postgres_exporter's PG_EXPORTER_* environment variables that are set, as
// (flag spelling, value) pairs; command-line flags override them.
std::vector<std::pair<std::string, std::string>> PostgresExporterEnvironment();

}  // namespace pgwarden
