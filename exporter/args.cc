#include "exporter/args.h"

#include <algorithm>
#include <optional>

#include "exporter/flags.h"

namespace pgwarden {
namespace {

bool IsHelp(std::string_view name) {
  return name == "help" || name == "h" || name == "helpfull" ||
         name == "helpshort";
}

std::string TypeOf(const std::string& flag) {
  gflags::CommandLineFlagInfo info;
  gflags::GetCommandLineFlagInfo(flag.c_str(), &info);
  return info.type;
}

// Applies one flag argument (without its leading dashes), taking its value
// from the next argument when it needs one; returns the error or "".
std::string Apply(std::string_view arg, int argc, char** argv, int& i) {
  const size_t eq = arg.find('=');
  const std::string_view spelled = arg.substr(0, eq);
  std::optional<std::string> value;
  if (eq != std::string_view::npos) value = std::string(arg.substr(eq + 1));
  std::string flag = FlagNamed(spelled);
  if (flag.empty() && spelled.substr(0, 2) == "no" && !value) {
    // --noname for a boolean flag.
    flag = FlagNamed(spelled.substr(2));
    if (!flag.empty() && TypeOf(flag) == "bool")
      value = "false";
    else
      flag.clear();
  }
  if (flag.empty())
    return "unknown flag --" + std::string(spelled) + " (see --help)";
  const std::string type = TypeOf(flag);
  if (!value && type == "bool") value = "true";
  if (!value && i + 1 < argc) value = argv[++i];
  if (!value) return "flag --" + std::string(spelled) + " needs a value";
  if (gflags::SetCommandLineOption(flag.c_str(), value->c_str()).empty()) {
    return "invalid value \"" + *value + "\" for --" + std::string(spelled) +
           " (a " + type + ")";
  }
  return "";
}

}  // namespace

std::string FlagNamed(std::string_view spelled) {
  const auto& names = FlagNames();
  const auto it = std::find(names.begin(), names.end(), spelled);
  return it == names.end() ? "" : *it;
}

Args ParseArgs(int argc, char** argv) {
  Args out;
  bool version = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string error;
    if (arg == "--") {
      if (i + 1 < argc) {
        error = "unexpected argument \"" + std::string(argv[i + 1]) + "\"";
      }
      i = argc;
    } else if (arg.size() < 2 || arg[0] != '-') {
      error = "unexpected argument \"" + std::string(arg) +
              "\" (flags start with --)";
    } else {
      const std::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
      if (IsHelp(body)) {
        out.action = Args::Action::kHelp;
        return out;
      }
      if (body == "version") {
        version = true;
        continue;
      }
      error = Apply(body, argc, argv, i);
    }
    if (out.error.empty()) out.error = error;
  }
  if (version) out = Args{Args::Action::kVersion, ""};
  return out;
}

}  // namespace pgwarden
