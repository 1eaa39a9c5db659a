#pragma once

#include <string>
#include <string_view>

#include "exporter/metrics.h"

namespace pgwarden {

inline constexpr char kExpositionContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// Prometheus text exposition of `families`, with HELP escaped (the
// serializer of prometheus-cpp 1.0.1 writes it raw). Families are taken by
// value because their help text is rewritten.
std::string Serialize(Families families);

// gzip (RFC 1952) of `data`. Throws std::runtime_error if zlib fails.
std::string Gzip(std::string_view data);

// True if an Accept-Encoding header value allows gzip.
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace pgwarden
