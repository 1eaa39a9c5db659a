#include "exporter/strings.h"

#include <arpa/inet.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pgwarden {

std::string Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t start = text.find_first_not_of(kSpace);
  if (start == std::string_view::npos) return "";
  const size_t end = text.find_last_not_of(kSpace);
  return std::string(text.substr(start, end - start + 1));
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::invalid_argument(
        path + ": cannot read: no such file or permission denied");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> SplitList(std::string_view text, char separator) {
  std::vector<std::string> out;
  while (true) {
    const size_t at = text.find(separator);
    std::string item = Trim(text.substr(0, at));
    if (!item.empty()) out.push_back(std::move(item));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

std::optional<double> ParseFiniteDouble(std::string_view text) {
  const std::string trimmed = Trim(text);
  if (trimmed.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(trimmed.c_str(), &end);
  if (*end != '\0' || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::string QuoteIdent(std::string_view identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

std::vector<long> ParsePidList(std::string_view text, std::string_view what) {
  std::vector<long> pids;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(pos, comma - pos);
    const auto n = ParseFiniteDouble(item);
    if (!n || *n < 0 || *n != std::floor(*n) || *n > 4294967295.0) {
      throw std::runtime_error("bad pid list from " + std::string(what) + ": " +
                               std::string(text.substr(0, 64)));
    }
    pids.push_back(static_cast<long>(*n));
    pos = comma + 1;
  }
  return pids;
}

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

void AppendQuoted(std::string& out, std::string_view text, bool as_json) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (as_json && static_cast<unsigned char>(c) < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

bool ParseCidr(const std::string& text, CidrRange& out) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return false;
  const std::string address = text.substr(0, slash);
  const auto prefix = ParseFiniteDouble(text.substr(slash + 1));
  out.family = address.find(':') == std::string::npos ? AF_INET : AF_INET6;
  const int bits = out.family == AF_INET ? 32 : 128;
  if (!prefix || *prefix < 0 || *prefix > bits ||
      *prefix != static_cast<int>(*prefix)) {
    return false;
  }
  out.prefix = static_cast<int>(*prefix);
  return inet_pton(out.family, address.c_str(), out.bytes) == 1;
}

bool InCidr(const CidrRange& range, const std::string& address) {
  unsigned char bytes[16] = {0};
  if (inet_pton(range.family, address.c_str(), bytes) != 1) return false;
  int left = range.prefix;
  for (int i = 0; left > 0; ++i, left -= 8) {
    const unsigned char mask =
        left >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - left));
    if ((bytes[i] & mask) != (range.bytes[i] & mask)) return false;
  }
  return true;
}

}  // namespace pgwarden
