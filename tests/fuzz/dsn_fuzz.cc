// libFuzzer target: connection strings. Parse either accepts (and then the
// redacted form never shows the password, and libpq reads our own
// ConnectionString back to the same values) or throws invalid_argument
// with a one-line reason.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "exporter/dsn.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find('\0') != std::string::npos) return 0;  // C strings end there
  pgwarden::Dsn dsn;
  try {
    dsn = pgwarden::Dsn::Parse(text);
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) __builtin_trap();
    return 0;
  }
  // The redacted form must not depend on the password (or other secrets).
  pgwarden::Dsn other = dsn;
  other.Set("password", dsn.Get("password") + "x");
  other.Set("sslpassword", dsn.Get("sslpassword") + "x");
  if (other.Redacted() != dsn.Redacted()) __builtin_trap();
  const pgwarden::Dsn again = pgwarden::Dsn::Parse(dsn.ConnectionString());
  for (const char* key :
       {"host", "port", "dbname", "user", "password", "options"}) {
    if (again.Get(key) != dsn.Get(key)) __builtin_trap();
  }
  return 0;
}
