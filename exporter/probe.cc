#include "exporter/probe.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

#include "exporter/log.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

// Untrusted text echoed in an error body: one line, bounded.
std::string Quoted(const std::string& text) {
  std::string out = SanitizeLabelValue(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  if (out.size() > 200) out = out.substr(0, 200) + "...";
  return out;
}

bool ParsePort(const std::string& text, int& port) {
  if (text.empty()) {
    port = 5432;
    return true;
  }
  if (text.size() > 5 || !std::all_of(text.begin(), text.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return false;
  }
  port = std::stoi(text);
  return port > 0 && port <= 65535;
}

}  // namespace

std::vector<std::string> ResolveHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return {};
  std::vector<std::string> out;
  for (addrinfo* a = result; a; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {0};
    const void* address =
        a->ai_family == AF_INET
            ? static_cast<const void*>(
                  &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    if (!inet_ntop(a->ai_family, address, text, sizeof(text))) continue;
    if (std::find(out.begin(), out.end(), text) == out.end()) {
      out.emplace_back(text);
    }
  }
  freeaddrinfo(result);
  return out;
}

Prober::Prober(ProbeOptions options, const ProbeConfigFile* config,
               TargetFactory factory, Resolver resolve)
    : options_(options),
      config_(config),
      factory_(std::move(factory)),
      resolve_(std::move(resolve)) {
  if (options_.allow_any_target) {
    Log(LogLevel::kWarn,
        "--probe.allow_any_target: /probe connects to any target a client "
        "names (allowed_targets is not checked)");
  }
}

Prober::~Prober() = default;

ProbeAnswer Prober::Refuse(int status, std::string reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++(status == 403 ? forbidden_ : bad_requests_);
  }
  ProbeAnswer answer;
  answer.status = status;
  answer.error = std::move(reason);
  return answer;
}

ProbeAnswer Prober::Probe(const std::string& target,
                          const std::string& auth_module,
                          Clock::time_point deadline) {
  // postgres_exporter's three 400 messages come first, in its order.
  if (target.empty()) return Refuse(400, "target is required");
  const std::shared_ptr<const ProbeConfig> config = config_->Current();
  const AuthModule* module = nullptr;
  if (!auth_module.empty()) {
    const auto it = config->auth_modules.find(auth_module);
    if (it == config->auth_modules.end()) {
      return Refuse(400, "auth_module " + Quoted(auth_module) + " not found");
    }
    module = &it->second;
    // Modules without a password are fine (client certificates, .pgpass);
    // one that says nothing at all is a mistake.
    if (module->username.empty() && module->password.empty() &&
        module->password_file.empty() && module->options.empty()) {
      return Refuse(400, "auth_module " + Quoted(auth_module) +
                             " has no username or password");
    }
  }
  Dsn dsn;
  try {
    dsn = ProbeTarget(target, module);
  } catch (const std::invalid_argument& e) {
    return Refuse(400, e.what());
  }
  const std::string key = target + '\n' + auth_module;
  const std::string host = dsn.Get("host");
  int port = 0;
  if (!ParsePort(dsn.Get("port"), port)) {
    return Refuse(400, "target has a bad port");
  }
  // Pinned: libpq must not fill a missing port from PGPORT after the check.
  dsn.Set("port", std::to_string(port));
  if (!options_.allow_any_target) {
    const auto& allowed = config->allowed_targets;
    Allowed verdict = TargetAllowed(allowed, host, port, {});
    std::vector<std::string> addresses;
    if (verdict == Allowed::kNo) {
      addresses = resolve_(host);
      verdict = TargetAllowed(allowed, host, port, addresses);
    }
    if (verdict == Allowed::kNo) {
      return Refuse(403, "target " + Quoted(host) + ":" + std::to_string(port) +
                             " is not in --config.file's allowed_targets" +
                             (addresses.empty() && host[0] != '/'
                                  ? " (it does not resolve to an address)"
                                  : ""));
    }
    // Connect to what was checked, not to a later answer for the name;
    // keep the address already in use while the name still resolves to it
    // (round-robin DNS must not make a new connection per probe).
    if (verdict == Allowed::kByAddress) {
      std::string pin = addresses.front();
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = targets_.find(key);
      if (it != targets_.end() &&
          std::count(addresses.begin(), addresses.end(), it->second.hostaddr)) {
        pin = it->second.hostaddr;
      }
      dsn.Set("hostaddr", pin);
    }
  }
  std::vector<std::shared_ptr<Target>> closed;
  std::shared_ptr<Target> runtime;
  {
    std::lock_guard<std::mutex> lock(mu_);
    runtime = Acquire(key, auth_module, dsn, Clock::now(), closed);
    ++probes_;
  }
  closed.clear();  // outside the lock: a closing target may wait for a query
  ProbeAnswer answer;
  answer.exposition = runtime->Scrape(deadline);
  return answer;
}

std::shared_ptr<Target> Prober::Acquire(
    const std::string& key, const std::string& auth_module, const Dsn& dsn,
    Clock::time_point now, std::vector<std::shared_ptr<Target>>& closed) {
  const std::string connection = dsn.ConnectionString();
  auto it = targets_.find(key);
  if (it != targets_.end() && it->second.connection != connection) {
    // A rotated password or a changed module: a new runtime with the new
    // credentials; the old one closes once its last probe is served.
    Log(LogLevel::kInfo, "probe target " + dsn.Redacted() +
                             ": connection settings changed, reconnecting");
    closed.push_back(std::move(it->second.target));
    targets_.erase(it);
    it = targets_.end();
    ++closed_replaced_;
  }
  if (it == targets_.end()) {
    while (!targets_.empty() && targets_.size() >= options_.max_targets) {
      auto oldest = std::min_element(
          targets_.begin(), targets_.end(), [](const auto& a, const auto& b) {
            return a.second.last_used < b.second.last_used;
          });
      Log(LogLevel::kInfo,
          "probe target " + oldest->second.target->Status().target +
              " closed: --probe.max_targets reached, it was the least "
              "recently probed");
      closed.push_back(std::move(oldest->second.target));
      targets_.erase(oldest);
      ++closed_evicted_;
    }
    Entry entry;
    entry.target = factory_(dsn);
    entry.auth_module = auth_module;
    entry.connection = connection;
    entry.hostaddr = dsn.Get("hostaddr");
    it = targets_.emplace(key, std::move(entry)).first;
  }
  it->second.last_used = now;
  ++it->second.probes;
  return it->second.target;
}

void Prober::CloseIdle(Clock::time_point now) {
  std::vector<std::shared_ptr<Target>> closed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = targets_.begin(); it != targets_.end();) {
      if (now - it->second.last_used < options_.idle_timeout) {
        ++it;
        continue;
      }
      Log(LogLevel::kInfo, "probe target " +
                               it->second.target->Status().target +
                               " closed: not probed for --probe.idle_timeout");
      closed.push_back(std::move(it->second.target));
      it = targets_.erase(it);
      ++closed_idle_;
    }
  }
}

std::vector<ProbeTargetStatus> Prober::Targets(Clock::time_point now) const {
  std::vector<ProbeTargetStatus> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, e] : targets_) {
    ProbeTargetStatus s;
    s.status = e.target->Status();
    s.auth_module = e.auth_module;
    s.probes = e.probes;
    s.idle_seconds = std::chrono::duration<double>(now - e.last_used).count();
    out.push_back(std::move(s));
  }
  return out;
}

Families Prober::Metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t connections = 0, up = 0;
  for (const auto& [key, e] : targets_) {
    const TargetStatus s = e.target->Status();
    connections += s.open_connections;
    up += s.up ? 1 : 0;
  }
  Families out;
  using prometheus::MetricType;
  FamilyBuilder targets("pgwarden_probe_targets",
                        "Targets /probe holds (each with its own connection "
                        "and state), by whether their last probe connected.",
                        MetricType::Gauge);
  targets.Add({{"state", "up"}}, static_cast<double>(up));
  targets.Add({{"state", "down"}}, static_cast<double>(targets_.size() - up));
  targets.MoveTo(out);
  FamilyBuilder("pgwarden_probe_connections",
                "Database connections held by /probe targets after their "
                "last probe.",
                MetricType::Gauge)
      .Add(static_cast<double>(connections))
      .MoveTo(out);
  FamilyBuilder("pgwarden_probes_total",
                "Probes of allowed targets (answered 200; pg_up in the answer "
                "says whether the target was reached).",
                MetricType::Counter)
      .Add(static_cast<double>(probes_))
      .MoveTo(out);
  FamilyBuilder refused("pgwarden_probes_refused_total",
                        "Probes refused: bad_request (400: no target, unknown "
                        "auth_module, malformed target) or not_allowed (403: "
                        "not in allowed_targets).",
                        MetricType::Counter);
  refused.Add({{"reason", "bad_request"}}, static_cast<double>(bad_requests_));
  refused.Add({{"reason", "not_allowed"}}, static_cast<double>(forbidden_));
  refused.MoveTo(out);
  FamilyBuilder closed("pgwarden_probe_targets_closed_total",
                       "Probe targets closed: idle (--probe.idle_timeout), "
                       "evicted (--probe.max_targets) or replaced (its "
                       "credentials changed).",
                       MetricType::Counter);
  closed.Add({{"reason", "idle"}}, static_cast<double>(closed_idle_));
  closed.Add({{"reason", "evicted"}}, static_cast<double>(closed_evicted_));
  closed.Add({{"reason", "replaced"}}, static_cast<double>(closed_replaced_));
  closed.MoveTo(out);
  return out;
}

}  // namespace pgwarden
