#include "exporter/probe_config.h"

#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>

#include "exporter/log.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

[[noreturn]] void Fail(const std::string& path, const YAML::Mark& mark,
                       const std::string& reason) {
  const std::string line =
      mark.line >= 0 ? ":" + std::to_string(mark.line + 1) : "";
  throw std::invalid_argument(path + line + ": " + reason);
}

std::string Scalar(const std::string& path, const YAML::Node& v,
                   const std::string& key) {
  if (!v || v.IsNull()) return "";
  if (!v.IsScalar()) Fail(path, v.Mark(), key + " must be a string");
  return v.as<std::string>();
}

void CheckKeys(const std::string& path, const YAML::Node& node,
               const std::string& where, const std::set<std::string>& known) {
  if (!node || node.IsNull()) return;
  if (!node.IsMap()) Fail(path, node.Mark(), where + " must be a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!known.count(key)) {
      Fail(path, kv.first.Mark(), "unknown key \"" + key + "\" in " + where);
    }
  }
}

bool IsHostPortPattern(const std::string& text) {
  const size_t colon = text.rfind(':');
  return colon != std::string::npos && colon > 0 && colon + 1 < text.size() &&
         text.find('/') == std::string::npos;
}

}  // namespace

ProbeConfig ParseProbeConfig(const std::string& text, const std::string& path) {
  ProbeConfig config;
  try {
    const YAML::Node root = YAML::Load(text);
    CheckKeys(path, root, "the configuration",
              {"auth_modules", "allowed_targets"});
    if (!root || root.IsNull()) return config;
    const YAML::Node modules = root["auth_modules"];
    if (modules && !modules.IsNull()) {
      if (!modules.IsMap()) {
        Fail(path, modules.Mark(), "auth_modules must be a mapping");
      }
      for (const auto& kv : modules) {
        const std::string name = kv.first.as<std::string>();
        const YAML::Node m = kv.second;
        const std::string where = "auth_modules." + name;
        CheckKeys(path, m, where, {"type", "userpass", "options"});
        AuthModule module;
        module.type = Scalar(path, m["type"], where + ".type");
        if (module.type != "userpass") {
          Fail(path, kv.first.Mark(),
               where + ": type must be userpass (got \"" + module.type + "\")");
        }
        const YAML::Node up = m["userpass"];
        CheckKeys(path, up, where + ".userpass",
                  {"username", "password", "password_file"});
        if (up && up.IsMap()) {
          module.username = Scalar(path, up["username"], "username");
          module.password = Scalar(path, up["password"], "password");
          module.password_file =
              Scalar(path, up["password_file"], "password_file");
          if (!module.password.empty() && !module.password_file.empty()) {
            Fail(path, up.Mark(),
                 where + ": give password or password_file, not both");
          }
          if (!module.password_file.empty() && module.password_file[0] != '/') {
            const size_t slash = path.rfind('/');
            module.password_file =
                (slash == std::string::npos ? "." : path.substr(0, slash)) +
                "/" + module.password_file;
          }
        }
        const YAML::Node options = m["options"];
        if (options && !options.IsNull()) {
          if (!options.IsMap()) {
            Fail(path, options.Mark(), where + ".options must be a mapping");
          }
          for (const auto& o : options) {
            module.options[o.first.as<std::string>()] =
                Scalar(path, o.second, o.first.as<std::string>());
          }
        }
        config.auth_modules[name] = module;
      }
    }
    const YAML::Node allowed = root["allowed_targets"];
    if (allowed && !allowed.IsNull()) {
      if (!allowed.IsSequence()) {
        Fail(path, allowed.Mark(), "allowed_targets must be a list");
      }
      for (const auto& item : allowed) {
        const std::string entry = Scalar(path, item, "allowed_targets");
        CidrRange cidr;
        if (!ParseCidr(entry, cidr) && !IsHostPortPattern(entry)) {
          Fail(path, item.Mark(),
               "allowed_targets: \"" + entry +
                   "\" is neither host:port (with * or ?) nor a CIDR range");
        }
        config.allowed_targets.push_back(entry);
      }
    }
  } catch (const YAML::Exception& e) {
    Fail(path, e.mark, "yaml: " + e.msg);
  }
  return config;
}

ProbeConfig LoadProbeConfig(const std::string& path) {
  return ParseProbeConfig(ReadWholeFile(path), path);
}

Dsn ProbeTarget(const std::string& target, const AuthModule* module) {
  if (target.empty()) throw std::invalid_argument("target is required");
  std::string text = target;
  const bool uri = target.rfind("postgres://", 0) == 0 ||
                   target.rfind("postgresql://", 0) == 0;
  if (!uri && target.find('=') == std::string::npos) {
    // host[:port][/dbname], as postgres_exporter accepts it.
    text = "postgresql://" + target;
  }
  Dsn dsn = Dsn::Parse(text);
  // A target comes from an HTTP request: it may say where to connect and
  // as whom, not which local files libpq reads (sslkey, passfile, service,
  // ...), which address to really use (hostaddr) or what the session runs
  // (options). A module's options are the operator's and may set anything.
  static const std::set<std::string> kTargetKeys = {"host",
                                                    "port",
                                                    "dbname",
                                                    "user",
                                                    "password",
                                                    "sslmode",
                                                    "connect_timeout",
                                                    "application_name",
                                                    "target_session_attrs",
                                                    "channel_binding",
                                                    "gssencmode"};
  for (const std::string& key : dsn.Keys()) {
    if (!kTargetKeys.count(key)) {
      throw std::invalid_argument("target may not set " + key +
                                  " (an auth_module's options may)");
    }
  }
  const std::string host = dsn.Get("host");
  if (host.empty()) throw std::invalid_argument("target names no host");
  if (host.find(',') != std::string::npos ||
      dsn.Get("port").find(',') != std::string::npos) {
    throw std::invalid_argument("target must name one host and port");
  }
  if (module) {
    if (!module->username.empty()) dsn.Set("user", module->username);
    std::string password = module->password;
    if (!module->password_file.empty()) {
      std::ifstream in(module->password_file);
      if (!in) {
        throw std::invalid_argument(
            "cannot read the password_file of the "
            "auth_module");
      }
      std::getline(in, password);
      password = Trim(password);
    }
    if (!password.empty()) dsn.Set("password", password);
    for (const auto& [key, value] : module->options) dsn.Set(key, value);
  }
  // libpq would default to a database named after the user, which a
  // monitoring role rarely has.
  if (!dsn.Has("dbname")) dsn.Set("dbname", "postgres");
  return dsn;
}

Allowed TargetAllowed(const std::vector<std::string>& allowed,
                      const std::string& host, int port,
                      const std::vector<std::string>& addresses) {
  // A Unix-socket directory ("/run/postgresql") or abstract socket ("@x")
  // is local: no pattern or range may allow it.
  if (host.empty() || host[0] == '/' || host[0] == '@') return Allowed::kNo;
  const std::string host_port = host + ":" + std::to_string(port);
  for (const std::string& entry : allowed) {
    CidrRange cidr;
    if (ParseCidr(entry, cidr)) {
      if (addresses.empty()) continue;
      bool all = true;
      for (const auto& a : addresses) all = all && InCidr(cidr, a);
      if (all) return Allowed::kByAddress;
    } else if (fnmatch(entry.c_str(), host_port.c_str(), 0) == 0) {
      return Allowed::kByName;
    }
  }
  return Allowed::kNo;
}

ProbeConfigFile::ProbeConfigFile(std::string path)
    : path_(std::move(path)), current_(std::make_shared<ProbeConfig>()) {
  if (path_.empty()) return;
  if (!std::ifstream(path_)) {
    Log(LogLevel::kWarn, "--config.file " + path_ +
                             " cannot be read; /probe has no auth_modules "
                             "(as postgres_exporter, this is not an error)");
    last_success_ = UnixTimeSeconds();
    return;
  }
  current_ = std::make_shared<ProbeConfig>(LoadProbeConfig(path_));
  last_success_ = UnixTimeSeconds();
}

bool ProbeConfigFile::Reload() {
  if (path_.empty()) return true;
  try {
    auto fresh = std::make_shared<ProbeConfig>(LoadProbeConfig(path_));
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(fresh);
    last_ok_ = true;
    last_success_ = UnixTimeSeconds();
    Log(LogLevel::kInfo, "--config.file reloaded: " + path_);
    return true;
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mu_);
    last_ok_ = false;
    Log(LogLevel::kError,
        std::string("--config.file reload failed, keeping the last good "
                    "configuration: ") +
            e.what());
    return false;
  }
}

std::shared_ptr<const ProbeConfig> ProbeConfigFile::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Families ProbeConfigFile::Metrics() const {
  if (path_.empty()) return {};
  std::lock_guard<std::mutex> lock(mu_);
  return ReloadFamilies("pgwarden_config", "--config.file", last_ok_,
                        last_success_);
}

}  // namespace pgwarden
