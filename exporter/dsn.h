#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgwarden {

// A parsed libpq connection string (URI or key=value). Keys are libpq's.
class Dsn {
 public:
  // Parses `text` with libpq's own parser, so every form libpq accepts works
  // and libpq's environment (PGHOST, PGPASSFILE, PGSERVICE, ...) still fills
  // what `text` leaves out. Throws std::invalid_argument with a reason that
  // never contains the password.
  static Dsn Parse(std::string_view text);

  // Value of `key`, or "" when not set.
  std::string Get(std::string_view key) const;
  bool Has(std::string_view key) const;
  // The keys set, in order.
  std::vector<std::string> Keys() const;
  // Sets `key`, replacing any earlier value.
  void Set(std::string key, std::string value);

  // key=value form with libpq quoting, for PQconnectdb. Contains the password.
  std::string ConnectionString() const;

  // Where this DSN points, for logs, the landing page and errors: host, port,
  // dbname, user; never the password or other secrets.
  std::string Redacted() const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// `value` quoted for libpq's key=value syntax: in single quotes, with quotes
// and backslashes escaped.
std::string QuoteConninfoValue(std::string_view value);

// Session settings applied at connect time through the startup packet, so
// they cost no round trip and hold from the first statement.
struct SessionSettings {
  int statement_timeout_ms = 5000;
  int lock_timeout_ms = 1000;
  int idle_in_transaction_session_timeout_ms = 60000;
  int connect_timeout_seconds = 5;
  std::string application_name = "pgwarden";
};

// The DSN with the session settings added: application_name (unless the DSN
// names one), connect_timeout (unless set), and -c options appended to any
// the DSN already has, including default_transaction_read_only=on.
Dsn WithSessionSettings(Dsn dsn, const SessionSettings& settings);

// Removes anything in `message` that looks like the password of `dsn_text`
// (libpq error text can echo parts of the connection string).
std::string ScrubSecrets(std::string message, std::string_view dsn_text);

}  // namespace pgwarden
