#include "exporter/web_access.h"

#include <sys/stat.h>

#include <algorithm>
#include <stdexcept>

#include "exporter/log.h"

namespace pgwarden {
RateLimiter::RateLimiter(double interval_seconds, int burst)
    : interval_(interval_seconds),
      burst_(burst),
      tokens_(burst),
      last_(Clock::now()) {}

bool RateLimiter::Allow(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (now > last_) {
    tokens_ = std::min(
        burst_, tokens_ + std::chrono::duration<double>(now - last_).count() /
                              interval_);
    last_ = now;
  }
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

WebAccess::WebAccess(std::string path, bool watch) : path_(std::move(path)) {
  if (path_.empty()) {
    state_ = std::make_shared<State>();
    state_->auth =
        std::make_shared<BasicAuth>(std::map<std::string, std::string>{});
    return;
  }
  const WebConfig config = LoadWebConfig(path_);
  std::shared_ptr<const TlsMaterial> material;
  state_ = Build(config, &material);
  fingerprint_ = Fingerprint();
  if (material) tls_ = std::make_unique<TlsContext>(material);
  last_success_ = UnixTimeSeconds();
  if (watch) {
    watcher_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(stop_mu_);
      while (!stop_cv_.wait_for(lock, std::chrono::seconds(1),
                                [this] { return stop_; })) {
        lock.unlock();
        ReloadIfChanged();
        lock.lock();
      }
    });
  }
}

WebAccess::~WebAccess() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::shared_ptr<WebAccess::State> WebAccess::Build(
    const WebConfig& config, std::shared_ptr<const TlsMaterial>* material) {
  auto state = std::make_shared<State>();
  state->config = config;
  state->auth = std::make_shared<BasicAuth>(config.basic_auth_users);
  if (config.rate_limit_interval_seconds > 0) {
    state->limiter = std::make_shared<RateLimiter>(
        config.rate_limit_interval_seconds, config.rate_limit_burst);
  }
  if (config.tls.Enabled()) {
    try {
      *material = TlsMaterial::Load(config.tls);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(path_ + ": tls_server_config: " + e.what());
    }
  }
  return state;
}

std::string WebAccess::Fingerprint() const {
  std::vector<std::string> files = {path_};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_) {
      for (const auto& f : WebConfigFiles(state_->config)) files.push_back(f);
    }
  }
  std::string out;
  for (const auto& f : files) {
    struct stat st;
    if (stat(f.c_str(), &st) != 0) {
      out += f + ":missing;";
      continue;
    }
    out += f + ":" + std::to_string(st.st_dev) + "," +
           std::to_string(st.st_ino) + "," + std::to_string(st.st_size) + "," +
           std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

bool WebAccess::ReloadIfChanged() {
  if (path_.empty()) return false;
  const std::string fingerprint = Fingerprint();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fingerprint == fingerprint_) return false;
    fingerprint_ = fingerprint;
  }
  std::string error;
  std::shared_ptr<State> state;
  std::shared_ptr<const TlsMaterial> material;
  try {
    state = Build(LoadWebConfig(path_), &material);
    if (static_cast<bool>(material) != static_cast<bool>(tls_)) {
      error = path_ +
              ": switching between HTTP and HTTPS needs a restart; keeping "
              "the running configuration";
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!error.empty()) {
    if (last_ok_) {
      Log(LogLevel::kError,
          "web config reload failed, keeping the last good "
          "configuration: " +
              error);
    }
    last_ok_ = false;
    return false;
  }
  // The file names may have changed: watch the new ones from now on.
  state_ = state;
  if (tls_) tls_->Use(material);
  if (!last_ok_) Log(LogLevel::kInfo, "web config reloaded: " + path_);
  last_ok_ = true;
  last_success_ = UnixTimeSeconds();
  return true;
}

WebAccess::Verdict WebAccess::Admit(std::string_view authorization) {
  std::shared_ptr<State> state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state = state_;
  }
  if (state->limiter && !state->limiter->Allow()) return Verdict::kRateLimited;
  if (state->auth->Enabled() && !state->auth->Check(authorization)) {
    return Verdict::kUnauthorized;
  }
  return Verdict::kAllow;
}

std::vector<std::pair<std::string, std::string>> WebAccess::Headers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_->config.headers;
}

Families WebAccess::Metrics() const {
  if (path_.empty()) return {};
  std::lock_guard<std::mutex> lock(mu_);
  return ReloadFamilies("pgwarden_web_config", "--web.config.file", last_ok_,
                        last_success_);
}

}  // namespace pgwarden
