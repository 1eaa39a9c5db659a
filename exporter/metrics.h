#pragma once

#include <prometheus/metric_family.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgwarden {

using Families = std::vector<prometheus::MetricFamily>;

// One scrape's output as read-only parts (each collector's families and the
// self-metrics), shared with other scrapes of the same collection instead of
// copied.
struct Exposition {
  std::vector<std::shared_ptr<const Families>> parts;
  // All families in one vector (a copy; for tests and tools), a part that
  // continues the family the one before ended with merged into it.
  Families Flatten() const;
};
// Families that a part of an answer repeats from an earlier part. A part
// continues the family the part before it ended with when its first family
// has that name (text.h), which is not a repeat. Any other repeat (a custom
// query that makes a built-in collector's family) would print HELP and
// TYPE twice, and Prometheus would reject the whole scrape.
struct RepeatedFamilies {
  size_t part = 0;
  // (index of the family in `part`, index of the part that has it first)
  std::vector<std::pair<size_t, size_t>> families;
};
// Every part with a repeat, in order; empty when there is none (the rule).
std::vector<RepeatedFamilies> FindRepeatedFamilies(const Exposition& answer);

using Labels = std::vector<std::pair<std::string, std::string>>;

// Label values longer than this are cut (at a UTF-8 boundary) and end in "...".
inline constexpr size_t kMaxLabelValueBytes = 1024;

// The label sets of a result's rows, each sanitized once, for a query whose
// rows go on many families. A row whose sanitized labels repeat an earlier
// row's is marked repeated: a duplicate series makes Prometheus reject the
// whole scrape, so the first row wins, in every family alike.
class RowLabels {
 public:
  explicit RowLabels(std::vector<Labels> rows);
  size_t size() const { return rows_.size(); }
  const Labels& operator[](size_t row) const { return rows_[row]; }
  bool repeated(size_t row) const { return repeated_[row]; }

 private:
  std::vector<Labels> rows_;
  std::vector<bool> repeated_;
};

// Builds one metric family. Every label value passes through
// SanitizeLabelValue and the help through EscapeHelp (the family then holds
// help in its escaped, ready-to-print form), so database text (names,
// application_name, query text, setting descriptions) can never produce
// invalid exposition output.
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help,
                prometheus::MetricType type);

  FamilyBuilder& Add(const Labels& labels, double value);
  // Row `row`'s series, unless that row is repeated (then nothing). Its
  // labels are neither sanitized nor compared again.
  FamilyBuilder& Add(const RowLabels& rows, size_t row, double value);
  FamilyBuilder& Add(double value) { return Add(Labels{}, value); }
  // One series of a Histogram family: `bounds` (finite, increasing upper
  // bounds) with their cumulative counts, then +Inf as `count`, and `sum`.
  // The caller checks the shape (HistogramShapeError).
  FamilyBuilder& AddHistogram(const Labels& labels,
                              const std::vector<double>& bounds,
                              const std::vector<double>& cumulative,
                              double count, double sum);

  // Room for `series` series (one per row, typically): no regrowth.
  FamilyBuilder& Reserve(size_t series);

  // Moves the family into `out` unless it has no samples.
  void MoveTo(std::vector<prometheus::MetricFamily>& out);
  // Moves the family into `out` even when empty (it then prints HELP/TYPE).
  void MoveToAlways(std::vector<prometheus::MetricFamily>& out);

 private:
  friend class Aggregate;
  // For label values that are already sanitized and series known to be
  // distinct (Aggregate's keys).
  void AddDistinct(const std::vector<std::string>& names,
                   const std::vector<std::string>& values, double value);
  void SetValue(prometheus::ClientMetric& metric, double value) const;

  prometheus::MetricFamily family_;
  bool may_repeat_ = false;  // Add() was used: MoveTo must drop repeats
};

// Why `bounds` and `cumulative` are not one histogram's buckets, or "":
// equal lengths, finite bounds strictly increasing, counts non-negative,
// never decreasing and at most `count`.
std::string HistogramShapeError(const std::vector<double>& bounds,
                                const std::vector<double>& cumulative,
                                double count);

// Accumulates gauge samples keyed by label values, keeping the maximum or the
// sum per key. Output order is the key order, so it is stable across scrapes.
class Aggregate {
 public:
  enum class Mode { kSum, kMax };
  explicit Aggregate(Mode mode) : mode_(mode) {}
  // Ensures the key exists (a zero-filled series) without changing its value.
  void Touch(const std::vector<std::string>& key, double initial = 0);
  void Put(const std::vector<std::string>& key, double value);
  // Emits one sample per key, with `label_names` paired to the key's values.
  void EmitTo(FamilyBuilder& family,
              const std::vector<std::string>& label_names) const;

 private:
  Mode mode_;
  std::map<std::vector<std::string>, double> values_;
};

// Valid UTF-8, at most kMaxLabelValueBytes: invalid sequences become U+FFFD.
// Quote, backslash and newline stay; the serializer escapes them.
std::string SanitizeLabelValue(std::string_view value);

// Escapes HELP text as the exposition format requires (\\ and \n).
// prometheus-cpp 1.0.1 writes HELP raw.
std::string EscapeHelp(std::string_view help);

// Turns arbitrary text into a valid metric-name fragment: [a-zA-Z0-9_],
// lowercased, never starting with a digit.
std::string SanitizeNameFragment(std::string_view text);

// True when `name` ends in _count, _sum or _bucket, which promtool's lint
// reserves for histograms and summaries. Such names, kept for
// compatibility, are emitted untyped: that lint exempts untyped families,
// and PromQL does not look at the type.
bool HasReservedSuffix(std::string_view name);

// The value of sample `m` of a family of `type` (counter, gauge, untyped).
double SampleValue(prometheus::MetricType type,
                   const prometheus::ClientMetric& m);

// Seconds since the Unix epoch, now.
double UnixTimeSeconds();

// The two gauges of a file re-read while running (`flag` names it in the
// help): <prefix>_last_reload_successful (0: the last good configuration is
// in force) and <prefix>_last_reload_success_timestamp_seconds.
Families ReloadFamilies(const std::string& prefix, const std::string& flag,
                        bool ok, double last_success_unix_seconds);

// Gauge 1.0/0.0 for a boolean.
inline double Bool(bool b) { return b ? 1.0 : 0.0; }

}  // namespace pgwarden
