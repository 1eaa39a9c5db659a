#pragma once

#include <string>
#include <vector>

#include "collectors/custom.h"

namespace pgwarden {

// Parses postgres_exporter's queries.yaml format (see collectors/custom.h
// for what each key means). Throws std::invalid_argument with
// "<file>:<line>: <reason>" for anything it cannot use, so a broken file
// stops start-up instead of silently dropping metrics. Unknown keys are
// logged and ignored, as postgres_exporter does.
std::vector<CustomQuery> ParseCustomQueries(const std::string& text,
                                            const std::string& file);

// Reads and parses a file; the same errors, plus an unreadable file.
std::vector<CustomQuery> LoadCustomQueries(const std::string& path);

}  // namespace pgwarden
