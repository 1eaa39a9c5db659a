#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/database.h"
#include "exporter/metrics.h"
#include "exporter/probe.h"
#include "exporter/target.h"

namespace pgwarden {

struct HttpOptions {
  // Each [host]:port (port 0 = ephemeral); ":port" is every IPv4 address.
  std::vector<std::string> listen_addresses = {":9187"};
  std::string telemetry_path = "/metrics";
  std::chrono::milliseconds scrape_timeout{10000};
  // Subtracted from Prometheus' X-Prometheus-Scrape-Timeout-Seconds so the
  // answer arrives before Prometheus gives up.
  std::chrono::milliseconds scrape_timeout_offset{500};
  // CivetWeb serves each connection on a thread of its own from the moment
  // it is accepted, so this is also the most connections served at once:
  // idle or slow clients hold one each for at most request_timeout_ms.
  // About 24 KiB of resident memory per thread.
  int max_connections = 512;
  // Scrapes of telemetry_path in flight at once; 503 beyond (0: no cap).
  // They share one collection, so this bounds memory, not database load.
  int max_requests = 40;
  // A request's line and headers must arrive within this time.
  int request_timeout_ms = 5000;
  // An idle kept-alive connection is closed after this time.
  int keep_alive_timeout_ms = 2000;
};

// What the server serves; tests pass fakes.
struct HttpHandlers {
  // telemetry_path's target; absent: the exposition has pgwarden's own
  // families only (a pure /probe exporter).
  std::function<Exposition(Clock::time_point deadline)> scrape;
  std::function<TargetStatus()> status;  // absent with scrape
  // /probe (absent: 404), given the query string's target and auth_module.
  std::function<ProbeAnswer(const std::string& target,
                            const std::string& auth_module,
                            Clock::time_point deadline)>
      probe;
  std::function<std::vector<ProbeTargetStatus>()> probe_targets;
  // More of pgwarden's own families for telemetry_path; may be empty.
  std::function<Families()> extra_metrics;
};

// "[host]:port" -> CivetWeb's listening_ports entries ("9187",
// "127.0.0.1:9187", a host name's IPv4 addresses), with "s" for TLS.
// Throws std::invalid_argument for IPv6 (Debian's CivetWeb 1.15 is built
// without it), a bad port or a name that does not resolve.
std::vector<std::string> CivetListeningPorts(const std::string& address,
                                             bool tls);

// The scrape deadline for a request arriving at `now`: the Prometheus header
// (seconds, may be fractional; empty when absent) minus the offset, but never
// later than now + scrape_timeout and never earlier than now + 100 ms.
Clock::time_point ScrapeDeadline(Clock::time_point now, std::string_view header,
                                 const HttpOptions& options);

// The HTML landing page: the /metrics target (`status`, null when none)
// and, with `probe`, the targets /probe holds. Every value from the
// database, the DSN or a probe's request is escaped.
std::string LandingPage(const TargetStatus* status,
                        const std::string& telemetry_path, bool probe,
                        const std::vector<ProbeTargetStatus>& probe_targets);

// Serves telemetry_path (Prometheus text, gzip when accepted), "/probe"
// (likewise, when a probe handler is given), "/" (landing page),
// "/healthz"; 404 for any other path (no file is ever read), 405 for
// methods other than GET and HEAD, 414 for a request target over 4 KiB, 400
// for a request line and headers over 8 KiB or not arriving within
// request_timeout_ms. `access` (may be null: everything allowed, plain
// HTTP) applies --web.config.file: TLS, rate limit (429), basic
// authentication (401) and extra headers, to every path. Serving starts in
// the constructor and stops in the destructor.
class WebAccess;
class HttpServer {
 public:
  // Throws std::runtime_error with a one-line reason when it cannot listen.
  HttpServer(HttpOptions options, HttpHandlers handlers,
             WebAccess* access = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound ports (useful with port 0).
  std::vector<int> Ports() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgwarden
