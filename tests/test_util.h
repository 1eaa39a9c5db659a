#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "exporter/metrics.h"
#include "exporter/rows.h"

namespace pgwarden::testing {

// A server of this server_version_num (e.g. 150000), the rest default.
inline ServerInfo ServerAt(int version_num) {
  ServerInfo server;
  server.version_num = version_num;
  return server;
}

// The registered collector `name`, made with `options`.
std::unique_ptr<Collector> NewCollector(const std::string& name,
                                        const CollectorOptions& options = {});

// Rows from a header and string cells; "\\N" marks NULL.
Rows MakeRows(std::vector<std::string> columns,
              std::vector<std::vector<std::string>> cells);

const prometheus::MetricFamily* FindFamily(const Families& families,
                                           const std::string& name);

// The value of the sample in `name` whose labels include all of `labels`,
// or std::nullopt. Fails the test if more than one sample matches.
std::optional<double> Sample(
    const Families& families, const std::string& name,
    const std::map<std::string, std::string>& labels = {});

// pg_scrape_collector_success{collector="<collector>"}, or std::nullopt.
std::optional<double> CollectorSuccess(const Families& families,
                                       const std::string& collector);

// Number of samples in the family (0 if absent).
size_t SampleCount(const Families& families, const std::string& name);

// Sum of all sample values in the family whose labels include `labels`.
double SumSamples(const Families& families, const std::string& name,
                  const std::map<std::string, std::string>& labels = {});

// Number of samples in the family whose labels include `labels`.
size_t CountSamples(const Families& families, const std::string& name,
                    const std::map<std::string, std::string>& labels);

// Decompresses a gzip stream; fails the test if it is not one.
std::string Gunzip(const std::string& data);

// Runs `promtool check metrics` on `text`; returns its exit code and puts
// its output in *output. -1 when promtool is not installed.
int PromtoolCheck(const std::string& text, std::string* output);

}  // namespace pgwarden::testing

namespace pgwarden::testing {

// Strings that try to break the exposition format or a naive parser.
std::vector<std::string> HostileStrings();

// Serializes `families` and checks that promtool accepts it (exit 0; with
// `allow_lint`, also 3: parses, but a name trips a naming lint) and that no
// line starts with an injected "fake_metric". Use in EXPECT/ASSERT.
::testing::AssertionResult ValidExposition(const Families& families,
                                           bool allow_lint = false);

}  // namespace pgwarden::testing
