#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "exporter/basic_auth.h"
#include "exporter/metrics.h"
#include "exporter/tls.h"
#include "exporter/web_config.h"

namespace pgwarden {

// A token bucket: `burst` tokens, one more every `interval` seconds.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(double interval_seconds, int burst);
  // Takes a token if there is one.
  bool Allow(Clock::time_point now = Clock::now());

 private:
  std::mutex mu_;
  const double interval_;
  const double burst_;
  double tokens_;
  Clock::time_point last_;
};

// What --web.config.file decides for each request, kept current: the file
// and the certificate, key and CA files it names are checked every second
// and re-read when one changes. A broken edit is logged once and leaves the
// last good configuration in force (exporter-toolkit answers 500 to every
// request instead); pgwarden_web_config_last_reload_successful shows it.
// Whether the server speaks TLS is fixed at start: an edit that would
// switch between HTTP and HTTPS is refused until a restart.
//
// Thread-safe.
class WebAccess {
 public:
  // `path` "" means no file: plain HTTP, no authentication, no limit.
  // Throws std::invalid_argument as "file:line: reason" (exit 2 at start).
  explicit WebAccess(std::string path, bool watch = true);
  ~WebAccess();
  WebAccess(const WebAccess&) = delete;
  WebAccess& operator=(const WebAccess&) = delete;

  enum class Verdict { kAllow, kRateLimited, kUnauthorized };
  // Rate limit first (as upstream), then basic authentication.
  Verdict Admit(std::string_view authorization);

  // Extra response headers (http_server_config.headers).
  std::vector<std::pair<std::string, std::string>> Headers() const;

  // Null when the server speaks plain HTTP.
  TlsContext* tls() const { return tls_.get(); }

  // Re-reads the configuration if a file changed; true when it did and
  // the new one is in force. The watcher calls it every second.
  bool ReloadIfChanged();

  // pgwarden_web_config_last_reload_successful and
  // pgwarden_web_config_last_reload_success_timestamp_seconds (none without
  // a file).
  Families Metrics() const;

 private:
  struct State {
    WebConfig config;
    std::shared_ptr<BasicAuth> auth;
    std::shared_ptr<RateLimiter> limiter;
  };
  std::shared_ptr<State> Build(const WebConfig& config,
                               std::shared_ptr<const TlsMaterial>* material);
  std::string Fingerprint() const;

  const std::string path_;
  std::unique_ptr<TlsContext> tls_;
  mutable std::mutex mu_;
  std::shared_ptr<State> state_;
  std::string fingerprint_;
  bool last_ok_ = true;
  double last_success_ = 0;  // Unix seconds

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread watcher_;
};

}  // namespace pgwarden
