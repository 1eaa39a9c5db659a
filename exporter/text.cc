#include "exporter/text.h"

#include <zlib.h>

#include <prometheus/text_serializer.h>
#include <sstream>
#include <stdexcept>

namespace pgwarden {

std::string Serialize(Families families) {
  for (auto& f : families) f.help = EscapeHelp(f.help);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper; level 1 is the usual
  // exporter trade-off (most of the gain, little CPU).
  if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  size_t pos = 0;
  while (pos < accept_encoding.size()) {
    size_t comma = accept_encoding.find(',', pos);
    if (comma == std::string_view::npos) comma = accept_encoding.size();
    std::string_view item = accept_encoding.substr(pos, comma - pos);
    pos = comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const size_t semi = item.find(';');
    std::string_view coding = item.substr(0, semi);
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (coding != "gzip" && coding != "*") continue;
    // "gzip;q=0" refuses gzip.
    if (semi != std::string_view::npos) {
      std::string_view params = item.substr(semi + 1);
      const size_t q = params.find("q=");
      if (q != std::string_view::npos) {
        const std::string value(params.substr(q + 2));
        if (std::strtod(value.c_str(), nullptr) <= 0) continue;
      }
    }
    return true;
  }
  return false;
}

}  // namespace pgwarden
