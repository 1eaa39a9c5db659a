#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/metrics.h"

namespace pgwarden {

inline constexpr char kExpositionContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// "counter", "gauge" or "untyped", as the TYPE line spells them. Throws
// std::invalid_argument for the other types, which pgwarden never builds.
const char* TypeName(prometheus::MetricType type);

// Appends the Prometheus text exposition (format 0.0.4) of `families` to
// `out`. Help text is written as stored (FamilyBuilder stores it escaped);
// label values are escaped here. Gauges, counters and untyped families
// only. Same output as prometheus-cpp's TextSerializer except that numbers
// use the shortest exact form; written for speed, it is several times faster.
void AppendExposition(const Families& families, std::string& out);

// The exposition of `families` (or of every part, in order) as a string.
std::string Serialize(const Families& families);
std::string Serialize(const Exposition& exposition);

// gzip (RFC 1952) of `data`. Throws std::runtime_error if zlib fails.
std::string Gzip(std::string_view data);

// An answer ready to send, as pieces sent in order: pieces of parts that
// scrapes share are the same strings for every scrape that sends them,
// not copies.
struct Body {
  std::vector<std::shared_ptr<const std::string>> pieces;
  size_t text_bytes = 0;  // the uncompressed exposition's size
  size_t size() const;
  std::string Join() const;
};

// The exposition of every part, in order. A part whose first family has
// the name of the family the part before ended with continues that family:
// its HELP and TYPE are not repeated (the per-database collectors give each
// database's share of a family its own part). A part seen before (the parts of
// a collection that concurrent scrapes share, and unchanged memoized parts)
// is formatted once and its text shared by every answer that sends it.
Body SerializeBody(const Exposition& exposition);

// The same as one gzip stream: each part is compressed on its own (a part
// seen before once, shared like its text) and the stream's CRC-32 is
// combined from the parts', so concurrent answers hold no copy of the
// shared output, compressed or not. Throws std::runtime_error if zlib
// fails.
Body GzipBody(const Exposition& exposition);

// True if an Accept-Encoding header value allows gzip.
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace pgwarden
