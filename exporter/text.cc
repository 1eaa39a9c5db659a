#include "exporter/text.h"

#include <zlib.h>

#include <charconv>
#include <cmath>
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
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
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

}  // namespace

void AppendExposition(const Families& families, std::string& out) {
  for (const auto& f : families) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += f.help;
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += TypeName(f.type);
    out += '\n';
    for (const auto& m : f.metric) {
      if (f.type == prometheus::MetricType::Histogram) {
        AppendHistogram(f.name, m, out);
      } else {
        AppendSample(f.name, "", m.label, nullptr, SampleValue(f.type, m), out);
      }
    }
  }
}

std::string Serialize(const Families& families) {
  std::string out;
  out.reserve(families.size() * 160);
  AppendExposition(families, out);
  return out;
}

namespace {

// Text of the parts that scrapes share: a collector whose rows did not
// change serves the very same families object scrape after scrape (settings,
// most of all), so its text need not be formatted again. A part is cached
// the second time it is seen, so parts rebuilt on every scrape cost no
// memory; entries go when their part is freed.
class PartTextCache {
 public:
  // The cached text of `part`, or null (then formats it, maybe caching it).
  std::shared_ptr<const std::string> Get(
      const std::shared_ptr<const Families>& part) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(part.get());
    if (it == entries_.end() || it->second.owner.lock() != part) {
      if (entries_.size() >= kPruneAt) Prune();
      entries_[part.get()] = Entry{part, nullptr};
      return nullptr;
    }
    if (!it->second.text) {
      std::string text;
      AppendExposition(*part, text);
      it->second.text = std::make_shared<const std::string>(std::move(text));
    }
    return it->second.text;
  }

 private:
  static constexpr size_t kPruneAt = 256;
  struct Entry {
    std::weak_ptr<const Families> owner;
    std::shared_ptr<const std::string> text;
  };
  void Prune() {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.owner.expired() ? entries_.erase(it) : std::next(it);
    }
  }
  std::mutex mu_;
  std::unordered_map<const Families*, Entry> entries_;
};

PartTextCache& TextCache() {
  static auto* cache = new PartTextCache();
  return *cache;
}

}  // namespace

std::string Serialize(const Exposition& exposition) {
  size_t families = 0;
  for (const auto& part : exposition.parts) families += part ? part->size() : 0;
  std::string out;
  out.reserve(families * 160);
  for (const auto& part : exposition.parts) {
    if (!part) continue;
    if (auto text = TextCache().Get(part)) {
      out += *text;
    } else {
      AppendExposition(*part, out);
    }
  }
  return out;
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
