#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collectors/collector.h"

namespace pgwarden {

// One entry of a postgres_exporter queries.yaml file
// (collectors/queries_yaml.h reads them):
//
//   pg_replication:                  # namespace: metric name prefix
//     query: "SELECT ... AS lag"
//     master: true                   # accepted; pgwarden runs it once anyway
//     cache_seconds: 30              # serve the last result in between
//     metrics:
//       - lag:
//           usage: "GAUGE"           # LABEL, GAUGE, COUNTER, MAPPEDMETRIC,
//           description: "..."       # DURATION, HISTOGRAM or DISCARD
//
// A HISTOGRAM column `x` holds the buckets' upper bounds as an array, and
// the query returns beside it x_bucket (the cumulative counts, an array of
// the same length), x_sum and x_count: one Prometheus histogram per row,
// as postgres_exporter has it. A row whose arrays do not make a histogram
// fails the query with the reason.
//
// pgwarden's own optional keys: timeout_seconds (the query's
// statement_timeout), min_server_version / max_server_version
// (server_version_num bounds, inclusive) and per_database (run it in every
// database; it then needs a LABEL column named datname).
struct CustomMetric {
  enum class Usage {
    kLabel,
    kGauge,
    kCounter,
    kMappedMetric,
    kDuration,
    kHistogram,
    kDiscard
  };
  std::string column;
  Usage usage = Usage::kGauge;
  std::string description;
  std::map<std::string, double> mapping;  // MAPPEDMETRIC: text -> value
};

struct CustomQuery {
  std::string name;  // the namespace; also the collector's name
  std::string sql;
  std::vector<CustomMetric> metrics;
  double cache_seconds = 0;
  double timeout_seconds = 0;
  int min_server_version = 0;
  int max_server_version = 0;  // 0: no bound
  bool per_database = false;
};

// The collector of one custom query. legacy_names: also emit DURATION
// columns as *_milliseconds. series_limit: more series than this (0: no
// limit) fail the query, so one query cannot explode the exposition.
std::unique_ptr<Collector> NewCustomCollector(CustomQuery query,
                                              bool legacy_names,
                                              int series_limit = 0);

}  // namespace pgwarden
