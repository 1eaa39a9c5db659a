#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "exporter/metrics.h"
#include "exporter/rows.h"

namespace pgwarden::testing {

// Rows from a header and string cells; "\\N" marks NULL.
Rows MakeRows(std::vector<std::string> columns,
              std::vector<std::vector<std::string>> cells);

const prometheus::MetricFamily* FindFamily(const Families& families,
                                           const std::string& name);

// The value of the sample in `name` whose labels include all of `labels`,
// or std::nullopt. Fails the test if more than one sample matches.
std::optional<double> Sample(const Families& families, const std::string& name,
                             const std::map<std::string, std::string>& labels = {});

// Number of samples in the family (0 if absent).
size_t SampleCount(const Families& families, const std::string& name);

// Sum of all sample values in the family whose labels include `labels`.
double SumSamples(const Families& families, const std::string& name,
                  const std::map<std::string, std::string>& labels = {});

// Runs `promtool check metrics` on `text`; returns its exit code and puts
// its output in *output. -1 when promtool is not installed.
int PromtoolCheck(const std::string& text, std::string* output);

}  // namespace pgwarden::testing
