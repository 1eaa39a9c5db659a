#include "exporter/text.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace pgwarden {

namespace {

void AppendNumber(double v, std::string& out) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  // Counts and sizes are whole numbers; print them without an exponent.
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<long long>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), v);
  }
  out.append(buf, r.ptr);
}

void AppendLabelValue(const std::string& value, std::string& out) {
  // Runs without a character to escape (most values are one) go in whole.
  size_t from = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(value, from, i - from);
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    from = i + 1;
  }
  out.append(value, from, std::string::npos);
}

}  // namespace

const char* TypeName(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Untyped:
      return "untyped";
    case prometheus::MetricType::Histogram:
      return "histogram";
    default:
      throw std::invalid_argument(
          "only counters, gauges, histograms and untyped are written");
  }
}

namespace {

// name{labels[,le="bound"]} value
void AppendSample(const std::string& name, const char* suffix,
                  const std::vector<prometheus::ClientMetric::Label>& labels,
                  const char* le, double value, std::string& out) {
  out += name;
  out += suffix;
  if (!labels.empty() || le) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out += ',';
      out += labels[i].name;
      out += "=\"";
      AppendLabelValue(labels[i].value, out);
      out += '"';
    }
    if (le) {
      if (!labels.empty()) out += ',';
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  AppendNumber(value, out);
  out += '\n';
}

// In prometheus-cpp's order: count, sum, the buckets, +Inf.
void AppendHistogram(const std::string& name, const prometheus::ClientMetric& m,
                     std::string& out) {
  AppendSample(name, "_count", m.label, nullptr,
               static_cast<double>(m.histogram.sample_count), out);
  AppendSample(name, "_sum", m.label, nullptr, m.histogram.sample_sum, out);
  std::string bound;
  for (const auto& b : m.histogram.bucket) {
    bound.clear();
    AppendNumber(b.upper_bound, bound);
    AppendSample(name, "_bucket", m.label, bound.c_str(),
                 static_cast<double>(b.cumulative_count), out);
  }
  AppendSample(name, "_bucket", m.label, "+Inf",
               static_cast<double>(m.histogram.sample_count), out);
}

// A family's HELP and TYPE lines.
void AppendHeader(const prometheus::MetricFamily& f, std::string& out) {
  out += "# HELP ";
  out += f.name;
  out += ' ';
  out += f.help;
  out += "\n# TYPE ";
  out += f.name;
  out += ' ';
  out += TypeName(f.type);
  out += '\n';
}

// AppendExposition, without the first family's HELP and TYPE when
// `continues` (its samples continue the family the part before ended with).
void AppendFamilies(const Families& families, bool continues,
                    std::string& out) {
  for (const auto& f : families) {
    if (continues) {
      continues = false;
    } else {
      AppendHeader(f, out);
    }
    for (const auto& m : f.metric) {
      if (f.type == prometheus::MetricType::Histogram) {
        AppendHistogram(f.name, m, out);
      } else {
        AppendSample(f.name, "", m.label, nullptr, SampleValue(f.type, m), out);
      }
    }
  }
}

}  // namespace

void AppendExposition(const Families& families, std::string& out) {
  AppendFamilies(families, false, out);
}

std::string Serialize(const Families& families) {
  std::string out;
  out.reserve(families.size() * 160);
  AppendExposition(families, out);
  return out;
}

namespace {

// The encodings of the parts that scrapes share: the scrapes that join one
// collection serve the very same parts, and a collector whose rows did not
// change serves the same families scrape after scrape (settings, most of
// all). A part is cached the second time it is seen, so parts made for one
// answer (the self-metrics) cost no memory; entries go when their part is
// freed. Each entry has its own lock, so formatting one part never waits
// for another's.
class PartCache {
 public:
  // One encoding of a part: as it stands, or continuing the part before.
  struct Encoding {
    std::shared_ptr<const std::string> text, deflated;
    uLong crc = 0;
  };
  struct Slot {
    std::weak_ptr<const Families> owner;
    std::mutex mu;          // guards the encodings below, made on first use
    Encoding encodings[2];  // [continues]
  };

  // The slot of `part`, or null the first time it is seen.
  std::shared_ptr<Slot> Find(const std::shared_ptr<const Families>& part) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(part.get());
    if (it == entries_.end() || it->second->owner.lock() != part) {
      // Amortized: a target with many databases shares thousands of parts.
      if (entries_.size() >= prune_at_) {
        Prune();
        prune_at_ = std::max(kPruneAt, 2 * entries_.size());
      }
      auto slot = std::make_shared<Slot>();
      slot->owner = part;
      entries_[part.get()] = std::move(slot);
      return nullptr;
    }
    return it->second;
  }

 private:
  static constexpr size_t kPruneAt = 64;
  void Prune() {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second->owner.expired() ? entries_.erase(it) : std::next(it);
    }
  }
  std::mutex mu_;
  std::unordered_map<const Families*, std::shared_ptr<Slot>> entries_;
  size_t prune_at_ = kPruneAt;
};

PartCache& Cache() {
  static auto* cache = new PartCache();
  return *cache;
}

// About the size of `families`' text, a little more unless label values
// need escapes or vary much in length: room made once instead of regrowing
// (a copy each time) to twice what a large part needs. A family's series
// are taken to be as long as the longer of its first and last.
size_t EstimateSize(const Families& families) {
  constexpr size_t kValue = 16;  // " " value "\n", most values
  const auto series_size = [](const prometheus::ClientMetric& m, size_t name) {
    size_t labels = 2;  // {}
    for (const auto& l : m.label) {
      labels += l.name.size() + l.value.size() + 4;  // ="",
    }
    const size_t samples = m.histogram.bucket.empty()
                               ? 1
                               : 3 + m.histogram.bucket.size();  // le=""
    return samples * (name + 8 + labels + kValue + 6);
  };
  size_t size = 0;
  for (const auto& f : families) {
    size += 2 * f.name.size() + f.help.size() + 24;
    if (f.metric.empty()) continue;
    const size_t name = f.name.size();
    size += f.metric.size() * std::max(series_size(f.metric.front(), name),
                                       series_size(f.metric.back(), name));
  }
  return size;
}

std::shared_ptr<const std::string> Text(const Families& part, bool continues) {
  auto text = std::make_shared<std::string>();
  text->reserve(EstimateSize(part));
  AppendFamilies(part, continues, *text);
  return text;
}

// Whether `part` continues the family the parts before it ended with
// (`last`, updated): consecutive parts may each hold a share of one
// family's samples, as the per-database collectors' parts do.
bool Continues(const Families& part, std::string& last) {
  const bool continues = !part.empty() && part.front().name == last;
  if (!part.empty()) last = part.back().name;
  return continues;
}

// Raw deflate (no header) of `data` at level 1 (the usual exporter
// trade-off: most of the gain, little CPU), ending in a sync flush and not
// final, so that such pieces can follow one another in one stream.
std::shared_ptr<const std::string> DeflatePiece(std::string_view data) {
  // A small piece (one database's share of a family) gets a window and hash
  // its size: zlib's defaults allocate and clear some 256 KiB per stream,
  // which thousands of such pieces would pay each.
  int window_bits = 9;
  while (window_bits < 15 && (size_t{1} << window_bits) < data.size()) {
    ++window_bits;
  }
  const int mem_level = std::max(1, window_bits - 7);
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, -window_bits, mem_level,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  auto out = std::make_shared<std::string>(
      deflateBound(&zs, static_cast<uLong>(data.size())) + 16, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out->size());
  const int rc = deflate(&zs, Z_SYNC_FLUSH);
  const bool done = rc == Z_OK && zs.avail_in == 0 && zs.avail_out > 0;
  out->resize(zs.total_out);
  deflateEnd(&zs);
  if (!done) throw std::runtime_error("deflate failed");
  return out;
}

uLong Crc(std::string_view data) {
  return crc32(crc32(0, Z_NULL, 0), reinterpret_cast<const Bytef*>(data.data()),
               static_cast<uInt>(data.size()));
}

void AppendLittleEndian32(uint32_t v, std::string& out) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

size_t Body::size() const {
  size_t n = 0;
  for (const auto& p : pieces) n += p->size();
  return n;
}

std::string Body::Join() const {
  std::string out;
  out.reserve(size());
  for (const auto& p : pieces) out += *p;
  return out;
}

Body SerializeBody(const Exposition& exposition) {
  Body body;
  std::string last;
  for (const auto& part : exposition.parts) {
    if (!part) continue;
    const bool continues = Continues(*part, last);
    std::shared_ptr<const std::string> text;
    if (auto slot = Cache().Find(part)) {
      std::lock_guard<std::mutex> lock(slot->mu);
      auto& e = slot->encodings[continues];
      if (!e.text) e.text = Text(*part, continues);
      text = e.text;
    } else {
      text = Text(*part, continues);
    }
    body.text_bytes += text->size();
    body.pieces.push_back(std::move(text));
  }
  return body;
}

Body GzipBody(const Exposition& exposition) {
  Body body;
  // The gzip header: deflate, no flags, no time, unknown OS.
  body.pieces.push_back(std::make_shared<const std::string>(
      "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10));
  uLong crc = crc32(0, Z_NULL, 0);
  std::string last;
  for (const auto& part : exposition.parts) {
    if (!part) continue;
    const bool continues = Continues(*part, last);
    std::shared_ptr<const std::string> text, deflated;
    uLong part_crc = 0;
    if (auto slot = Cache().Find(part)) {
      std::lock_guard<std::mutex> lock(slot->mu);
      auto& e = slot->encodings[continues];
      if (!e.text) e.text = Text(*part, continues);
      if (!e.deflated) {
        e.deflated = DeflatePiece(*e.text);
        e.crc = Crc(*e.text);
      }
      text = e.text;
      deflated = e.deflated;
      part_crc = e.crc;
    } else {
      text = Text(*part, continues);
      deflated = DeflatePiece(*text);
      part_crc = Crc(*text);
    }
    crc = crc32_combine(crc, part_crc, static_cast<z_off_t>(text->size()));
    body.text_bytes += text->size();
    body.pieces.push_back(std::move(deflated));
  }
  // An empty final block, then CRC-32 and length (mod 2^32), both LSB first.
  auto tail = std::make_shared<std::string>("\x03\x00", 2);
  AppendLittleEndian32(static_cast<uint32_t>(crc), *tail);
  AppendLittleEndian32(static_cast<uint32_t>(body.text_bytes & 0xffffffffu),
                       *tail);
  body.pieces.push_back(std::move(tail));
  return body;
}

std::string Serialize(const Exposition& exposition) {
  return SerializeBody(exposition).Join();
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper; level 1 is the usual
  // exporter trade-off (most of the gain, little CPU).
  if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
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
