#include "tests/integration/fixture.h"

#include <cstdlib>

namespace pgwarden {

std::string BaseDsn() {
  const char* dsn = std::getenv("PGWARDEN_TEST_DSN");
  return dsn ? dsn : "";
}

std::string DsnFor(const std::string& dbname, const std::string& extra) {
  return BaseDsn() + " dbname=" + dbname + (extra.empty() ? "" : " " + extra);
}

bool WaitFor(const std::function<bool()>& condition, double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

}  // namespace pgwarden
