#pragma once

#include <memory>
#include <vector>

#include "collectors/collector.h"
#include "exporter/collection.h"
#include "exporter/database.h"
#include "exporter/database_visitor.h"
#include "exporter/metrics.h"

namespace pgwarden {

// The last complete result of a collector on its target.
struct Memo {
  ServerInfo server;
  RowsDigest rows;  // what the families were parsed from; the rows are freed
  std::shared_ptr<const Families> families;  // null until the first success
  Clock::time_point fetched;                 // when `rows` were read
};

// One collector as a target runs it.
struct CollectorSlot {
  std::shared_ptr<Collector> collector;
  // Within this time of its last result, that result is served again
  // instead of querying; 0: every scrape.
  Clock::duration min_interval{};
  Memo memo;  // touched only by the target's collecting thread
  // Whether a collector queried every scrape (min_interval 0) keeps its
  // last rows and families in `memo`, so unchanged rows are not parsed
  // again: parse time saved against one result held per collector.
  bool remember_every_result = true;
  // The collector's memory of this target (Collector::NewState); null for
  // most. Touched only by the target's collecting thread.
  std::unique_ptr<CollectorState> state;
};

// Statements that run together, and the collector each belongs to.
struct Batch {
  std::vector<size_t> collectors;  // indices into the slots
  std::vector<Statement> statements;
  bool empty() const { return collectors.empty(); }
};

// What one collection does with each collector.
struct CollectionPlan {
  std::vector<size_t> reuse;        // ran within its minimum interval
  std::vector<size_t> parse_empty;  // has nothing to ask this server
  Batch server_wide;                // one round trip on the target's connection
  // Per-database collectors, when a DatabaseVisitor runs them: their
  // results come from its latest visits.
  std::vector<size_t> visited;
};

// Decides what each collector does in a collection on `server` at `now`:
// serve its memo while it is younger than the collector's minimum interval
// (and the server unchanged), else ask its query in the server-wide batch.
// Per-database collectors are `visited` when `visitor` is set, else asked
// in the batch like the others (the connected database only). Pure.
CollectionPlan PlanCollection(const std::vector<CollectorSlot>& slots,
                              const ServerInfo& server, Clock::time_point now,
                              bool visitor = false);

// The families of `slot`'s collector for `rows`: the memo's when the rows'
// digest and the server equal the memo's (Parse is pure), else a fresh
// Parse (the rows are freed on return; the memo keeps their digest), or
// ParseWithState for a collector with state (never the memo's). The
// result updates the memo, fetched at `now`, unless the slot neither has a
// minimum interval nor remember_every_result. Throws what Parse throws.
std::shared_ptr<const Families> ParseWithMemo(CollectorSlot& slot,
                                              const ServerInfo& server,
                                              Rows rows, Clock::time_point now);

// An outcome served from the memo.
Outcome Reused(const Memo& memo);

// The outcome of `slot`'s collector for `result`: its families through
// ParseWithMemo when the result is ok, else the failure. Parse and query
// time count in its seconds; a Parse that throws fails it.
Outcome ParseOutcome(CollectorSlot& slot, const ServerInfo& server,
                     QueryResult result);

// The outcome of a visited (per-database) collector from the visitor's
// latest results: each database's parts (parsed in its visit), each
// family's shares from every database in turn, so they print as one
// family; for a collector with state, the rows of every database parsed
// together here. Failed, naming the first database that failed, when any
// did (the others' are still served); fetched when the oldest of them was
// read; seconds are the visits' query and parse time. Before any
// database's visit it is kNotYet.
Outcome VisitedOutcome(CollectorSlot& slot, const ServerInfo& server,
                       const DatabaseVisitor::Results& results);

}  // namespace pgwarden
