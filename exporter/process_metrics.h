#pragma once

#include "exporter/metrics.h"

namespace pgwarden {

// Appends the standard process_* families every Prometheus exporter has,
// read from /proc/self. Families it cannot read are left out.
void AppendProcessMetrics(Families& out);

}  // namespace pgwarden
