#include "exporter/args.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <vector>

#include "exporter/compat_flags.h"
#include "exporter/flags.h"
#include "exporter/web_config.h"

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

std::optional<bool> ParseBool(const std::string& value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  return std::nullopt;
}

// One pass over the arguments; what must be combined at the end (repeated
// listen addresses, collector switches) is kept here.
class Parser {
 public:
  Parser(int argc, char** argv) : argc_(argc), argv_(argv) {}

  // Applies one flag (without its leading dashes), taking its value from
  // the next argument when it needs one; returns the error or "".
  std::string Apply(std::string_view arg, int& i) {
    const size_t eq = arg.find('=');
    const std::string spelled(arg.substr(0, eq));
    std::optional<std::string> value;
    if (eq != std::string_view::npos) value = std::string(arg.substr(eq + 1));
    return Apply(spelled, value, i);
  }

  std::string Apply(const std::string& spelled,
                    std::optional<std::string> value, int& i) {
    auto take_value = [&]() -> bool {
      if (value) return true;
      if (i + 1 >= argc_) return false;
      value = argv_[++i];
      return true;
    };
    if (spelled == "metric-prefix" && !take_value()) {
      return "flag --metric-prefix needs a value";
    }
    if (std::string why = RefusedFlag(spelled, value.value_or(""));
        !why.empty()) {
      return why;
    }
    if (spelled == "metric-prefix") return "";  // "pg", as pgwarden's
    if (std::string error; Special(spelled, value, error)) return error;
    if (spelled == "collection-timeout") {
      if (!take_value()) return "flag --collection-timeout needs a value";
      try {
        const double seconds = ParseGoDuration(*value);
        gflags::SetCommandLineOption("scrape_timeout",
                                     std::to_string(seconds).c_str());
      } catch (const std::invalid_argument& e) {
        return "--collection-timeout: " + std::string(e.what());
      }
      return "";
    }
    std::string flag = FlagNamed(spelled);
    if (flag.empty() && !value) {
      // --noname (gflags) or --no-name (postgres_exporter) for a boolean.
      for (const std::string prefix : {"no-", "no"}) {
        if (spelled.rfind(prefix, 0) != 0) continue;
        const std::string rest = spelled.substr(prefix.size());
        std::string error;
        if (Special(rest, std::string("false"), error)) return error;
        const std::string negated = FlagNamed(rest);
        if (!negated.empty() && TypeOf(negated) == "bool") {
          flag = negated;
          value = "false";
          break;
        }
      }
    }
    if (flag.empty()) return "unknown flag --" + spelled + " (see --help)";
    const std::string type = TypeOf(flag);
    if (!value && type == "bool") value = "true";
    if (!take_value()) return "flag --" + spelled + " needs a value";
    if (flag == "web_listen_address") {
      listen_.push_back(*value);
      return "";
    }
    if (flag == "collectors") {
      collectors_base_ = *value;
      return "";
    }
    if (gflags::SetCommandLineOption(flag.c_str(), value->c_str()).empty()) {
      return "invalid value \"" + *value + "\" for --" + spelled + " (a " +
             type + ")";
    }
    return "";
  }

  // Sets what was combined over the whole command line.
  void Finish() {
    if (!listen_.empty()) {
      std::string joined;
      for (const auto& a : listen_) joined += (joined.empty() ? "" : ",") + a;
      gflags::SetCommandLineOption("web_listen_address", joined.c_str());
    }
    if (collectors_base_ || !collector_changes_.empty()) {
      std::string spec = collectors_base_.value_or(
          disable_default_ ? std::string("none") : std::string("default"));
      for (const auto& change : collector_changes_) spec += "," + change;
      gflags::SetCommandLineOption("collectors", spec.c_str());
    }
  }

 private:
  // postgres_exporter's boolean switches; true when `spelled` is one (then
  // `error` says what was wrong, or stays "").
  bool Special(const std::string& spelled,
               const std::optional<std::string>& value, std::string& error) {
    std::string collector;
    bool on = true;
    if (value) {
      const auto b = ParseBool(*value);
      if (!b) {
        error = "invalid value \"" + *value + "\" for --" + spelled +
                " (true or false)";
      } else {
        on = *b;
      }
    }
    if (spelled.rfind("collector.", 0) == 0 &&
        spelled.find('.', 10) == std::string::npos) {
      collector = spelled.substr(10);
    } else if (spelled.rfind("no-collector.", 0) == 0 &&
               spelled.find('.', 13) == std::string::npos) {
      collector = spelled.substr(13);
      on = !on;
    } else if (spelled == "disable-default-metrics") {
      disable_default_ = on;
      return true;
    } else if (spelled == "disable-settings-metrics") {
      collector_changes_.push_back(on ? "-settings" : "+settings");
      return true;
    } else if (spelled == "auto-discover-databases") {
      return true;  // per-database collectors always discover databases
    } else {
      return false;
    }
    if (!error.empty()) return true;
    const std::string ours = CollectorFor(collector);
    if (ours.empty()) {
      if (on) {
        error = "--collector." + collector +
                ": pgwarden has no such collector (see --help for its "
                "collectors)";
      }
      return true;  // disabling a collector pgwarden lacks changes nothing
    }
    collector_changes_.push_back((on ? "+" : "-") + ours);
    return true;
  }

  int argc_;
  char** argv_;
  std::vector<std::string> listen_;
  std::optional<std::string> collectors_base_;
  std::vector<std::string> collector_changes_;
  bool disable_default_ = false;
};

}  // namespace

std::string FlagNamed(std::string_view spelled) {
  const auto& names = FlagNames();
  const auto it = std::find(names.begin(), names.end(), spelled);
  if (it != names.end()) return *it;
  return RenamedFlag(spelled);
}

Args ParseArgs(int argc, char** argv) {
  Args out;
  bool version = false;
  Parser parser(argc, argv);
  // postgres_exporter's PG_EXPORTER_* variables first: flags override them.
  for (const auto& [spelled, value] : PostgresExporterEnvironment()) {
    int unused = argc;
    std::string error = parser.Apply(spelled, value, unused);
    if (!error.empty() && out.error.empty()) {
      out.error = "environment: " + error;
    }
  }
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
      error = parser.Apply(body, i);
    }
    if (out.error.empty()) out.error = error;
  }
  parser.Finish();
  if (version) out = Args{Args::Action::kVersion, ""};
  return out;
}

}  // namespace pgwarden
