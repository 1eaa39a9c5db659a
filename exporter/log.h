#pragma once

#include <string>
#include <string_view>

namespace pgwarden {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Sets the lowest level written; "debug", "info", "warn" or "error".
// Returns false for any other name.
bool SetLogLevel(std::string_view name);

// "logfmt" (the default) or "json"; false for any other name.
bool SetLogFormat(std::string_view name);

// Now, as "2026-12-03T05:07:19.522Z" (UTC, milliseconds): every line's ts.
std::string UtcTimestamp();

// Writes one line to stderr, logfmt or JSON: ts=... level=... msg="..." or
// {"ts":...,"level":...,"msg":...}. Thread-safe.
// Callers must never pass a password: log Dsn::Redacted(), never the DSN.
void Log(LogLevel level, std::string_view message);

}  // namespace pgwarden
