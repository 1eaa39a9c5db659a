#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/database.h"
#include "exporter/metrics.h"
#include "exporter/target.h"

namespace pgwarden {

struct HttpOptions {
  std::string listen_address = ":9187";  // [host]:port; port 0 = ephemeral
  std::string telemetry_path = "/metrics";
  std::chrono::milliseconds scrape_timeout{10000};
  // Subtracted from Prometheus' X-Prometheus-Scrape-Timeout-Seconds so the
  // answer arrives before Prometheus gives up.
  std::chrono::milliseconds scrape_timeout_offset{500};
  // Concurrent scrapes share one collection, so a few threads suffice.
  int threads = 8;
};

// What the server serves; tests pass fakes.
struct HttpHandlers {
  std::function<Exposition(Clock::time_point deadline)> scrape;
  std::function<TargetStatus()> status;
};

// The scrape deadline for a request arriving at `now`: the Prometheus header
// (seconds, may be fractional; empty when absent) minus the offset, but never
// later than now + scrape_timeout and never earlier than now + 100 ms.
Clock::time_point ScrapeDeadline(Clock::time_point now, std::string_view header,
                                 const HttpOptions& options);

// The HTML landing page. Every value from the database or the DSN is escaped.
std::string LandingPage(const TargetStatus& status,
                        const std::string& telemetry_path);

// Serves telemetry_path (Prometheus text, gzip when accepted), "/" (landing
// page), "/healthz"; 404 for anything else. Serving starts in the
// constructor and stops in the destructor.
class HttpServer {
 public:
  // Throws std::runtime_error with a one-line reason when it cannot listen.
  HttpServer(HttpOptions options, HttpHandlers handlers);
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
