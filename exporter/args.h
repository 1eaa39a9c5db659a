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

// Reads argv in one pass and sets pgwarden's flags (exporter/flags.h) from
// it. Accepted: --name=value, --name value, -name for either, --name and
// --noname for booleans, and "--" ending the flags (nothing may follow).
// Unknown flags, bad values and positional arguments are errors.
Args ParseArgs(int argc, char** argv);

// The flag an argument names, by the spelling on the command line; "" when
// none. Today the one spelling is the flag's own name; a second spelling of
// a flag (postgres_exporter's --web.listen-address, say) maps here.
std::string FlagNamed(std::string_view spelled);

}  // namespace pgwarden
