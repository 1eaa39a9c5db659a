#include "exporter/dsn.h"

#include <libpq-fe.h>

#include <memory>
#include <stdexcept>

namespace pgwarden {
namespace {
// Password candidates in a DSN text: after password= in key=value form, or
// between ':' and '@' in a URI's userinfo.
std::vector<std::string> PasswordCandidates(std::string_view text) {
  std::vector<std::string> out;
  size_t p = text.find("password=");
  while (p != std::string_view::npos) {
    size_t start = p + 9;
    size_t end = start;
    if (start < text.size() && text[start] == '\'') {
      ++start;
      end = text.find('\'', start);
    } else {
      end = text.find_first_of(" \t\n&", start);
    }
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    p = text.find("password=", start);
  }
  const size_t scheme = text.find("://");
  if (scheme != std::string_view::npos) {
    const size_t at = text.find('@', scheme + 3);
    if (at != std::string_view::npos) {
      const size_t colon = text.find(':', scheme + 3);
      if (colon != std::string_view::npos && colon < at) {
        out.emplace_back(text.substr(colon + 1, at - colon - 1));
      }
    }
  }
  return out;
}

}  // namespace

Dsn Dsn::Parse(std::string_view text) {
  const std::string copy(text);
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> options(
      PQconninfoParse(copy.c_str(), &error), PQconninfoFree);
  if (!options) {
    std::string reason = error ? error : "out of memory";
    PQfreemem(error);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) {
      reason.pop_back();
    }
    reason = ScrubSecrets(reason, text);
    // libpq echoes parts of the input: keep the reason on one line.
    for (char& c : reason) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
    }
    throw std::invalid_argument("invalid DSN: " + reason);
  }
  Dsn dsn;
  for (PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (o->val) dsn.params_.emplace_back(o->keyword, o->val);
  }
  return dsn;
}

std::string Dsn::Get(std::string_view key) const {
  for (const auto& [k, v] : params_) {
    if (k == key) return v;
  }
  return "";
}

std::vector<std::string> Dsn::Keys() const {
  std::vector<std::string> keys;
  for (const auto& [k, v] : params_) keys.push_back(k);
  return keys;
}

bool Dsn::Has(std::string_view key) const {
  for (const auto& [k, v] : params_) {
    if (k == key) return true;
  }
  return false;
}

void Dsn::Set(std::string key, std::string value) {
  for (auto& [k, v] : params_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  params_.emplace_back(std::move(key), std::move(value));
}

std::string Dsn::ConnectionString() const {
  std::string out;
  for (const auto& [k, v] : params_) {
    if (!out.empty()) out += ' ';
    out += k + "=" + QuoteConninfoValue(v);
  }
  return out;
}

std::string Dsn::Redacted() const {
  std::string out;
  for (const char* key :
       {"host", "hostaddr", "port", "dbname", "user", "service", "sslmode"}) {
    if (!Has(key)) continue;
    if (!out.empty()) out += ' ';
    out += std::string(key) + "=" + Get(key);
  }
  return out.empty() ? "(libpq defaults)" : out;
}

std::string QuoteConninfoValue(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

Dsn WithSessionSettings(Dsn dsn, const SessionSettings& s) {
  if (!dsn.Has("application_name"))
    dsn.Set("application_name", s.application_name);
  if (!dsn.Has("connect_timeout")) {
    dsn.Set("connect_timeout", std::to_string(s.connect_timeout_seconds));
  }
  std::string options = dsn.Get("options");
  auto add = [&](const std::string& setting) {
    if (!options.empty()) options += ' ';
    options += "-c " + setting;
  };
  add("statement_timeout=" + std::to_string(s.statement_timeout_ms));
  add("lock_timeout=" + std::to_string(s.lock_timeout_ms));
  add("idle_in_transaction_session_timeout=" +
      std::to_string(s.idle_in_transaction_session_timeout_ms));
  add("default_transaction_read_only=on");
  dsn.Set("options", options);
  return dsn;
}

std::string ScrubSecrets(std::string message, std::string_view dsn_text) {
  for (const std::string& secret : PasswordCandidates(dsn_text)) {
    if (secret.empty()) continue;  // "u:@host": nothing to hide
    for (size_t p = message.find(secret); p != std::string::npos;
         p = message.find(secret, p + 3)) {
      message.replace(p, secret.size(), "***");
    }
  }
  return message;
}

}  // namespace pgwarden
