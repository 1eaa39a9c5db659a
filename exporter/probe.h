#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/dsn.h"
#include "exporter/metrics.h"
#include "exporter/probe_config.h"
#include "exporter/target.h"

namespace pgwarden {

struct ProbeOptions {
  // postgres_exporter's behaviour: every target any client names.
  bool allow_any_target = false;
  // Targets held at once; beyond, the least recently probed is closed.
  size_t max_targets = 1000;
  // A target not probed for this long is closed (its connections too).
  Clock::duration idle_timeout = std::chrono::minutes(5);
};

// What /probe answers: 200 with the target's exposition, or an error status
// with a one-line reason (never a password).
struct ProbeAnswer {
  int status = 200;
  std::string error;
  Exposition exposition;
};

// A held target, for the landing page.
struct ProbeTargetStatus {
  TargetStatus status;      // status.target is the redacted DSN
  std::string auth_module;  // "" when none was named
  uint64_t probes = 0;
  double idle_seconds = 0;  // since the last probe began
};

// A host name's addresses (textual IPs); empty when it does not resolve.
using Resolver = std::function<std::vector<std::string>(const std::string&)>;
std::vector<std::string> ResolveHost(const std::string& host);

// postgres_exporter's /probe on pgwarden's per-target runtimes: each
// (target, auth_module) pair is a Target of its own, created at its first
// probe and then kept, with its connection, memos and counters, so a
// target probed every 15 s costs one connection, not one per probe. A
// target that hangs delays only its own probes (each waits on its own
// Target, at most until its deadline).
//
// A probe reaches only what --config.file's allowed_targets allows, checked
// on every probe against the current file: a host:port pattern on the name,
// or a CIDR range on every address the name resolves to, in which case the
// connection goes to the checked address (hostaddr), not to a second
// resolution. Thread-safe.
class Prober {
 public:
  // Makes the runtime of a target from its full connection string.
  using TargetFactory = std::function<std::unique_ptr<Target>(const Dsn&)>;

  Prober(ProbeOptions options, const ProbeConfigFile* config,
         TargetFactory factory, Resolver resolve = ResolveHost);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // One probe of `target` logged in with `auth_module` ("" for none),
  // answered by `deadline`: 400 for a bad request (postgres_exporter's
  // messages), 403 for a target allowed_targets does not allow.
  ProbeAnswer Probe(const std::string& target, const std::string& auth_module,
                    Clock::time_point deadline);

  // Closes the targets not probed since `now` - idle_timeout. The caller
  // calls it periodically (main: every second).
  void CloseIdle(Clock::time_point now);

  std::vector<ProbeTargetStatus> Targets(Clock::time_point now) const;

  // pgwarden_probe_*: targets held, their connections, probes, refusals and
  // closes.
  Families Metrics() const;

 private:
  struct Entry {
    std::shared_ptr<Target> target;
    std::string auth_module;
    std::string connection;  // the full connection string it was made with
    std::string hostaddr;    // the checked address it connects to, if pinned
    Clock::time_point last_used;
    uint64_t probes = 0;
  };
  ProbeAnswer Refuse(int status, std::string reason);
  // The entry for `key`, made or remade for `dsn`; evicted targets go to
  // `closed` to be destroyed outside the lock.
  std::shared_ptr<Target> Acquire(const std::string& key,
                                  const std::string& auth_module,
                                  const Dsn& dsn, Clock::time_point now,
                                  std::vector<std::shared_ptr<Target>>& closed);

  const ProbeOptions options_;
  const ProbeConfigFile* const config_;
  const TargetFactory factory_;
  const Resolver resolve_;

  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, Entry> targets_;
  uint64_t probes_ = 0;
  uint64_t bad_requests_ = 0;
  uint64_t forbidden_ = 0;
  uint64_t closed_idle_ = 0;
  uint64_t closed_evicted_ = 0;
  uint64_t closed_replaced_ = 0;
};

}  // namespace pgwarden
