#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/dsn.h"
#include "exporter/metrics.h"

namespace pgwarden {

// postgres_exporter's --config.file, the configuration of /probe: how to
// log in to a probed target (auth_modules, the same YAML) and, pgwarden's
// addition, which targets a probe may reach (allowed_targets).
struct AuthModule {
  std::string type;  // "userpass" (postgres_exporter's one type)
  std::string username;
  std::string password;       // inline; "" when none
  std::string password_file;  // read each time the module is used
  // libpq keywords (sslmode, ...) that override the target's own.
  std::map<std::string, std::string> options;
};

struct ProbeConfig {
  std::map<std::string, AuthModule> auth_modules;
  // "host:port" patterns (* and ? in either part) and CIDR ranges
  // ("10.0.0.0/8", "fd00::/8"); empty refuses every target unless
  // --probe.allow_any_target.
  std::vector<std::string> allowed_targets;
};

// Parses the file's text; `path` names it in errors. Unknown keys, a module
// of another type, both password and password_file, and malformed
// allowed_targets are errors: std::invalid_argument "path:line: reason".
ProbeConfig ParseProbeConfig(const std::string& text, const std::string& path);

// Reads and parses the file; throws std::invalid_argument.
ProbeConfig LoadProbeConfig(const std::string& path);

// The connection string for a probe of `target` (a postgresql:// URI, a
// key=value string, or host[:port][/dbname]) logged in with `module`
// (null: the target's own credentials): the module's user and password
// (password_file read now, so a rotated secret is used) and its options,
// which override the target's. The target itself may set only where to
// connect and as whom (host, port, dbname, user, password, sslmode and a
// few more), one host and port; without a database it connects to
// "postgres" (not to libpq's default, the user's name). Throws
// std::invalid_argument with the reason a probe answers 400 with.
Dsn ProbeTarget(const std::string& target, const AuthModule* module);

// Whether `host`:`port`, resolving to `addresses` (textual IPs), matches one
// of `allowed`: a host:port pattern against the name as given (kByName), or
// a CIDR range against every address it resolves to (kByAddress: all must
// be inside, so a name cannot smuggle in a second address; the caller
// connects to those addresses, not to a second resolution of the name).
// A Unix socket is never allowed.
enum class Allowed { kNo, kByName, kByAddress };
Allowed TargetAllowed(const std::vector<std::string>& allowed,
                      const std::string& host, int port,
                      const std::vector<std::string>& addresses);

// --config.file kept current: read at start (a missing file is a warning,
// as postgres_exporter has it; a broken one an error) and again on SIGHUP,
// where a broken file keeps the last good configuration.
// Thread-safe.
class ProbeConfigFile {
 public:
  // `path` "" means none. Throws std::invalid_argument for a broken file.
  explicit ProbeConfigFile(std::string path);

  // Re-reads the file; false (logged, last good kept) when it is broken.
  bool Reload();

  std::shared_ptr<const ProbeConfig> Current() const;

  // pgwarden_config_last_reload_successful and
  // pgwarden_config_last_reload_success_timestamp_seconds (none without a
  // file).
  Families Metrics() const;

 private:
  const std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const ProbeConfig> current_;
  bool last_ok_ = true;
  double last_success_ = 0;
};

}  // namespace pgwarden
