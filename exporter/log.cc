#include "exporter/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "exporter/strings.h"

namespace pgwarden {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> json{false};

std::mutex log_mutex;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

bool SetLogLevel(std::string_view name) {
  for (LogLevel level :
       {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (name == LevelName(level)) {
      min_level = static_cast<int>(level);
      return true;
    }
  }
  return false;
}

bool SetLogFormat(std::string_view name) {
  if (name != "logfmt" && name != "json") return false;
  json = name == "json";
  return true;
}

std::string UtcTimestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                          now.time_since_epoch())
                          .count() %
                      1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(ts) + "." + std::to_string(1000 + millis).substr(1) + "Z";
}

void Log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < min_level) return;
  const std::string stamp = UtcTimestamp();
  std::string line;
  if (json) {
    line = "{\"ts\":\"" + stamp + "\",\"level\":\"" + LevelName(level) +
           "\",\"msg\":";
    AppendQuoted(line, message, true);
    line += "}\n";
  } else {
    line = "ts=" + stamp + " level=" + LevelName(level) + " msg=";
    AppendQuoted(line, message, false);
    line += "\n";
  }
  std::lock_guard<std::mutex> lock(log_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace pgwarden
