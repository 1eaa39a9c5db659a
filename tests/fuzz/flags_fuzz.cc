// libFuzzer target: values users put in flags and headers. --collectors
// resolves to registered names or throws invalid_argument; thresholds parse
// or throw; a scrape deadline from any header stays within its bounds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "collectors/collector.h"
#include "exporter/config.h"
#include "exporter/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    for (const std::string& name : pgwarden::ResolveCollectors(text)) {
      const auto& all = pgwarden::RegisteredCollectors();
      if (std::none_of(all.begin(), all.end(),
                       [&](const auto& r) { return r.name == name; })) {
        __builtin_trap();
      }
    }
  } catch (const std::invalid_argument&) {
  }
  try {
    for (double t : pgwarden::ParseThresholds(text)) {
      if (!(t >= 0)) __builtin_trap();
    }
  } catch (const std::invalid_argument&) {
  }
  pgwarden::HttpOptions options;
  const auto now = pgwarden::Clock::now();
  const auto deadline = pgwarden::ScrapeDeadline(now, text, options);
  if (deadline < now + std::chrono::milliseconds(100) ||
      deadline > now + options.scrape_timeout) {
    __builtin_trap();
  }
  return 0;
}
