#include "exporter/metrics.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace pgwarden {
namespace {

// True if every byte is 7-bit ASCII; the common case for database text.
bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Whether each of `items` repeats an earlier one's label values, compared in
// place (no key strings: this runs over every row or series of a custom
// query each scrape). `value(item, i)` is the item's i-th label value of
// `count(item)`.
template <typename Item, typename Count, typename Value>
std::vector<bool> MarkRepeats(const std::vector<Item>& items, Count count,
                              Value value) {
  const auto hash = [&](const Item* item) {
    size_t h = count(*item);
    for (size_t i = 0; i < count(*item); ++i) {
      h = h * 1000003 ^ std::hash<std::string_view>()(value(*item, i));
    }
    return h;
  };
  const auto equal = [&](const Item* a, const Item* b) {
    if (count(*a) != count(*b)) return false;
    for (size_t i = 0; i < count(*a); ++i) {
      if (value(*a, i) != value(*b, i)) return false;
    }
    return true;
  };
  std::unordered_set<const Item*, decltype(hash), decltype(equal)> seen(
      items.size(), hash, equal);
  std::vector<bool> repeated(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    repeated[i] = !seen.insert(&items[i]).second;
  }
  return repeated;
}

}  // namespace

Families Exposition::Flatten() const {
  Families out;
  for (const auto& part : parts) {
    if (!part || part->empty()) continue;
    auto first = part->begin();
    // A part may continue the family the one before ended with.
    if (!out.empty() && first->name == out.back().name) {
      auto& metrics = out.back().metric;
      metrics.insert(metrics.end(), first->metric.begin(), first->metric.end());
      ++first;
    }
    out.insert(out.end(), first, part->end());
  }
  return out;
}

FamilyBuilder::FamilyBuilder(std::string name, std::string help,
                             prometheus::MetricType type) {
  family_.name = std::move(name);
  family_.help = EscapeHelp(help);
  family_.type = type;
}

FamilyBuilder& FamilyBuilder::AddHistogram(
    const Labels& labels, const std::vector<double>& bounds,
    const std::vector<double>& cumulative, double count, double sum) {
  Add(labels, 0);
  prometheus::ClientMetric::Histogram& h = family_.metric.back().histogram;
  h.sample_count = static_cast<std::uint64_t>(count);
  h.sample_sum = sum;
  const size_t n = std::min(bounds.size(), cumulative.size());
  h.bucket.resize(n);
  for (size_t i = 0; i < n; ++i) {
    h.bucket[i].upper_bound = bounds[i];
    h.bucket[i].cumulative_count = static_cast<std::uint64_t>(cumulative[i]);
  }
  return *this;
}

std::string HistogramShapeError(const std::vector<double>& bounds,
                                const std::vector<double>& cumulative,
                                double count) {
  if (bounds.size() != cumulative.size()) {
    return std::to_string(bounds.size()) + " bucket bounds but " +
           std::to_string(cumulative.size()) + " bucket counts";
  }
  if (!std::isfinite(count) || count < 0) return "count is not a count";
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return "bucket bounds must be finite (+Inf is the count)";
    }
    if (i > 0 && bounds[i] <= bounds[i - 1]) {
      return "bucket bounds are not increasing";
    }
    if (!std::isfinite(cumulative[i]) || cumulative[i] < 0 ||
        (i > 0 && cumulative[i] < cumulative[i - 1])) {
      return "bucket counts are not cumulative";
    }
    if (cumulative[i] > count) return "a bucket counts more than the count";
  }
  return "";
}

std::vector<RepeatedFamilies> FindRepeatedFamilies(const Exposition& answer) {
  std::vector<RepeatedFamilies> out;
  std::unordered_map<std::string_view, size_t> first;  // name -> part
  std::string_view last;  // the family the part before ended with
  for (size_t p = 0; p < answer.parts.size(); ++p) {
    if (!answer.parts[p]) continue;
    const Families& part = *answer.parts[p];
    RepeatedFamilies repeats{p, {}};
    for (size_t f = 0; f < part.size(); ++f) {
      const std::string_view name = part[f].name;
      if (f == 0 && name == last) continue;  // a continuation
      const auto [it, inserted] = first.emplace(name, p);
      if (!inserted) repeats.families.emplace_back(f, it->second);
    }
    // What a following part may continue: the last family this one prints.
    if (repeats.families.empty()) {
      if (!part.empty()) last = part.back().name;
      continue;
    }
    std::vector<bool> left_out(part.size());
    for (const auto& repeat : repeats.families) left_out[repeat.first] = true;
    for (size_t f = part.size(); f-- > 0;) {
      if (left_out[f]) continue;
      last = part[f].name;
      break;
    }
    out.push_back(std::move(repeats));
  }
  return out;
}

RowLabels::RowLabels(std::vector<Labels> rows)
    : rows_(std::move(rows)), repeated_(rows_.size()) {
  for (Labels& labels : rows_) {
    for (auto& label : labels) {
      if (label.second.size() > kMaxLabelValueBytes || !IsAscii(label.second))
        label.second = SanitizeLabelValue(label.second);
    }
  }
  if (rows_.size() < 2) return;
  repeated_ = MarkRepeats(
      rows_, [](const Labels& labels) { return labels.size(); },
      [](const Labels& labels, size_t i) -> std::string_view {
        return labels[i].second;
      });
}

FamilyBuilder& FamilyBuilder::Add(const RowLabels& rows, size_t row,
                                  double value) {
  if (rows.repeated(row)) return *this;
  const Labels& labels = rows[row];
  family_.metric.emplace_back();
  prometheus::ClientMetric& metric = family_.metric.back();
  metric.label.reserve(labels.size());
  for (const auto& [name, label_value] : labels) {
    metric.label.push_back({name, label_value});
  }
  SetValue(metric, value);
  return *this;
}

FamilyBuilder& FamilyBuilder::Add(const Labels& labels, double value) {
  prometheus::ClientMetric metric;
  metric.label.reserve(labels.size());
  for (const auto& [name, label_value] : labels) {
    prometheus::ClientMetric::Label label;
    label.name = name;
    label.value = SanitizeLabelValue(label_value);
    metric.label.push_back(std::move(label));
  }
  SetValue(metric, value);
  family_.metric.push_back(std::move(metric));
  may_repeat_ = true;
  return *this;
}

void FamilyBuilder::AddDistinct(const std::vector<std::string>& names,
                                const std::vector<std::string>& values,
                                double value) {
  family_.metric.emplace_back();
  prometheus::ClientMetric& metric = family_.metric.back();
  const size_t n = std::min(names.size(), values.size());
  metric.label.resize(n);
  for (size_t i = 0; i < n; ++i) {
    metric.label[i].name = names[i];
    metric.label[i].value = values[i];
  }
  SetValue(metric, value);
}

void FamilyBuilder::SetValue(prometheus::ClientMetric& metric,
                             double value) const {
  switch (family_.type) {
    case prometheus::MetricType::Counter:
      metric.counter.value = value;
      break;
    case prometheus::MetricType::Gauge:
      metric.gauge.value = value;
      break;
    default:
      metric.untyped.value = value;
      break;
  }
}

FamilyBuilder& FamilyBuilder::Reserve(size_t series) {
  family_.metric.reserve(series);
  return *this;
}

void FamilyBuilder::MoveTo(std::vector<prometheus::MetricFamily>& out) {
  if (!family_.metric.empty()) MoveToAlways(out);
}

void FamilyBuilder::MoveToAlways(std::vector<prometheus::MetricFamily>& out) {
  // Distinct database text can sanitize to one label value (two invalid
  // UTF-8 names, two long strings with one prefix). A duplicate series makes
  // Prometheus reject the whole scrape, so the first one wins.
  if (may_repeat_ && family_.metric.size() > 1) {
    auto& metrics = family_.metric;
    using Metric = prometheus::ClientMetric;
    const std::vector<bool> repeated = MarkRepeats(
        metrics, [](const Metric& m) { return m.label.size(); },
        [](const Metric& m, size_t i) -> std::string_view {
          return m.label[i].value;
        });
    const bool repeats =
        std::find(repeated.begin(), repeated.end(), true) != repeated.end();
    if (repeats) {
      size_t kept = 0;
      for (size_t i = 0; i < metrics.size(); ++i) {
        if (repeated[i]) continue;
        if (kept != i) metrics[kept] = std::move(metrics[i]);
        ++kept;
      }
      metrics.resize(kept);
    }
  }
  out.push_back(std::move(family_));
}

namespace {

std::vector<std::string> SanitizedKey(const std::vector<std::string>& key) {
  std::vector<std::string> out(key);
  for (auto& v : out) {
    if (v.size() > kMaxLabelValueBytes || !IsAscii(v))
      v = SanitizeLabelValue(v);
  }
  return out;
}

}  // namespace

void Aggregate::Touch(const std::vector<std::string>& key, double initial) {
  values_.emplace(SanitizedKey(key), initial);
}

void Aggregate::Put(const std::vector<std::string>& key, double value) {
  // Keys are sanitized first so that values whose labels will print the
  // same are combined rather than emitted twice.
  auto [it, inserted] = values_.emplace(SanitizedKey(key), value);
  if (inserted) return;
  if (mode_ == Mode::kSum) {
    it->second += value;
  } else {
    it->second = std::max(it->second, value);
  }
}

void Aggregate::EmitTo(FamilyBuilder& family,
                       const std::vector<std::string>& label_names) const {
  // Keys are sanitized and unique already.
  family.family_.metric.reserve(family.family_.metric.size() + values_.size());
  for (const auto& [key, value] : values_)
    family.AddDistinct(label_names, key, value);
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned min_second = 0x80, max_second = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) min_second = 0xA0;  // overlong
    if (c == 0xED) max_second = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) min_second = 0x90;  // overlong
    if (c == 0xF4) max_second = 0x8F;  // > U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < min_second || b(i + 1) > max_second) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

}  // namespace

std::string SanitizeLabelValue(std::string_view value) {
  if (value.size() <= kMaxLabelValueBytes && IsAscii(value))
    return std::string(value);
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  static constexpr std::string_view kEllipsis = "...";
  // Idempotent: a value that is already valid and short enough comes back
  // unchanged, so sanitizing twice (keys, then labels) changes nothing.
  std::string out;
  out.reserve(std::min(value.size(), kMaxLabelValueBytes + 4));
  size_t last_fit = 0;  // longest prefix of `out` that leaves room for "..."
  size_t i = 0;
  while (i < value.size() && out.size() <= kMaxLabelValueBytes) {
    const size_t len = Utf8SequenceLength(value, i);
    out.append(len ? value.substr(i, len) : kReplacement);
    i += len ? len : 1;
    if (out.size() <= kMaxLabelValueBytes - kEllipsis.size())
      last_fit = out.size();
  }
  if (i < value.size() || out.size() > kMaxLabelValueBytes) {
    out.resize(last_fit);
    out.append(kEllipsis);
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  bool plain = help.size() <= kMaxLabelValueBytes;
  for (size_t i = 0; plain && i < help.size(); ++i) {
    const auto c = static_cast<unsigned char>(help[i]);
    plain = c < 0x80 && c != '\\' && c != '\n';
  }
  if (plain) return std::string(help);
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return SanitizeLabelValue(out);
}

bool HasReservedSuffix(std::string_view name) {
  for (std::string_view suffix : {"_count", "_sum", "_bucket"}) {
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

std::string SanitizeNameFragment(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      out += '_';
    }
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) {
    out.insert(out.begin(), '_');
  }
  return out;
}

double SampleValue(prometheus::MetricType type,
                   const prometheus::ClientMetric& m) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return m.counter.value;
    case prometheus::MetricType::Gauge:
      return m.gauge.value;
    default:
      return m.untyped.value;
  }
}

double UnixTimeSeconds() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Families ReloadFamilies(const std::string& prefix, const std::string& flag,
                        bool ok, double last_success_unix_seconds) {
  Families out;
  FamilyBuilder(prefix + "_last_reload_successful",
                "Whether the last reading of " + flag +
                    " succeeded (0: the last good configuration is in force).",
                prometheus::MetricType::Gauge)
      .Add(Bool(ok))
      .MoveTo(out);
  FamilyBuilder(prefix + "_last_reload_success_timestamp_seconds",
                "When " + flag + " was last read successfully.",
                prometheus::MetricType::Gauge)
      .Add(last_success_unix_seconds)
      .MoveTo(out);
  return out;
}

}  // namespace pgwarden
