#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgwarden {

// `text` without leading and trailing whitespace (space, tab, CR, LF).
std::string Trim(std::string_view text);

// The whole file at `path`. Throws std::invalid_argument("PATH: cannot read:
// no such file or permission denied") when it cannot be opened.
std::string ReadWholeFile(const std::string& path);

// The items of a `separator`-separated list, each trimmed; empty items are
// dropped ("a, ,b" -> {"a", "b"}).
std::vector<std::string> SplitList(std::string_view text, char separator = ',');

// `text` as a finite double, the whole of it (after trimming); std::nullopt
// for anything else ("", "1x", "nan", "inf").
std::optional<double> ParseFiniteDouble(std::string_view text);

// A PostgreSQL identifier in double quotes, embedded quotes doubled, so any
// schema or database name can be spliced into SQL.
std::string QuoteIdent(std::string_view identifier);

// "12,34" -> {12, 34} ("" -> {}): PostgreSQL's array_to_string of an int
// array. Throws std::runtime_error naming `what` for anything else.
std::vector<long> ParsePidList(std::string_view text, std::string_view what);

// Percent-encodes everything but RFC 3986's unreserved characters, for the
// user-info part of a URI.
std::string PercentEncode(std::string_view text);

// Appends `text` inside double quotes, escaped for logfmt or JSON (which
// also escapes control characters as \u00XX).
void AppendQuoted(std::string& out, std::string_view text, bool as_json);

// PostgreSQL's string literal of `text`: in single quotes, embedded quotes
// doubled (standard_conforming_strings, on since 9.1).
std::string QuoteLiteral(std::string_view text);

// An address range, "a.b.c.d/n" or "x::/n": the network bytes and prefix.
struct CidrRange {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char bytes[16] = {0};
  int prefix = 0;
};

// Parses a CIDR range; false for anything else (no slash, a bad address or
// prefix).
bool ParseCidr(const std::string& text, CidrRange& out);

// Whether `address` (an IPv4 or IPv6 address's text) is inside `range`;
// false for text that is not an address of the range's family.
bool InCidr(const CidrRange& range, const std::string& address);

}  // namespace pgwarden
