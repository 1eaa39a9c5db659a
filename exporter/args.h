#pragma once

#include <string>
#include <string_view>

namespace pgwarden {

// What the command line asks for.
struct Args {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  // Why the command line cannot be used, in one line; "" when it can.
  // --help and --version win over an error elsewhere on the line.
  std::string error;
};

// Reads postgres_exporter's PG_EXPORTER_* variables, then argv, in one
// pass, and sets pgwarden's flags (exporter/flags.h) from them. Accepted:
// --name=value, --name value, -name for either, --name, --noname and
// --no-name for booleans, "--" ending the flags (nothing may follow), and
// postgres_exporter's flags (exporter/compat_flags.h). --web_listen_address
// may repeat (the addresses add up); --collector.NAME switches apply after
// --collectors. Unknown flags, bad values and positional arguments are
// errors.
Args ParseArgs(int argc, char** argv);

// The flag an argument names, by either spelling on the command line
// (web_listen_address or postgres_exporter's web.listen-address); "" when
// none.
std::string FlagNamed(std::string_view spelled);

}  // namespace pgwarden
