#pragma once

#include <string>
#include <string_view>

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

// True if an Accept-Encoding header value allows gzip.
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace pgwarden
