#include "exporter/collection_plan.h"

#include <algorithm>
#include <string_view>

namespace pgwarden {

CollectionPlan PlanCollection(const std::vector<CollectorSlot>& slots,
                              const ServerInfo& server, Clock::time_point now,
                              bool visitor) {
  CollectionPlan plan;
  for (size_t i = 0; i < slots.size(); ++i) {
    const CollectorSlot& slot = slots[i];
    if (visitor && slot.collector->PerDatabase()) {
      plan.visited.push_back(i);
      continue;
    }
    const Memo& memo = slot.memo;
    if (slot.min_interval.count() > 0 && memo.families &&
        memo.server == server && now - memo.fetched < slot.min_interval) {
      plan.reuse.push_back(i);
      continue;
    }
    std::string sql = slot.collector->Query(server);
    if (sql.empty()) {
      plan.parse_empty.push_back(i);
      continue;
    }
    plan.server_wide.collectors.push_back(i);
    plan.server_wide.statements.push_back(
        {std::move(sql), slot.collector->TimeoutMs()});
  }
  return plan;
}

std::shared_ptr<const Families> ParseWithMemo(CollectorSlot& slot,
                                              const ServerInfo& server,
                                              Rows rows,
                                              Clock::time_point now) {
  Memo& memo = slot.memo;
  auto families = std::make_shared<Families>();
  const bool remember =
      slot.min_interval.count() > 0 || slot.remember_every_result;
  if (slot.state) {
    slot.collector->ParseWithState(server, rows, *slot.state, now, *families);
    if (remember) memo = Memo{server, RowsDigest{}, families, now};
    return families;
  }
  // The rows go when this returns: only their digest is remembered.
  const RowsDigest digest = remember ? Digest(rows) : RowsDigest{};
  if (remember && memo.families && memo.rows == digest &&
      memo.server == server) {
    memo.fetched = now;  // same rows as last time: same families
    return memo.families;
  }
  slot.collector->Parse(server, rows, *families);
  if (remember) memo = Memo{server, digest, families, now};
  return families;
}

Outcome Reused(const Memo& memo) {
  Outcome o;
  o.state = Outcome::State::kOk;
  o.families = memo.families;
  o.fetched = memo.fetched;
  return o;
}

Outcome ParseOutcome(CollectorSlot& slot, const ServerInfo& server,
                     QueryResult result) {
  Outcome o;
  o.state = result.ok ? Outcome::State::kOk : Outcome::State::kFailed;
  o.error = result.error;
  o.seconds = result.seconds;
  if (!result.ok) return o;
  const auto start = Clock::now();
  o.fetched = start;
  try {
    o.families = ParseWithMemo(slot, server, std::move(result.rows), start);
  } catch (const std::exception& e) {
    o.state = Outcome::State::kFailed;
    o.error = std::string("parse: ") + e.what();
  }
  o.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  return o;
}

namespace {

// Each family's parts from every database, in turn: the families in the
// order they first appear, the databases in the results' order (by name).
// Databases mostly list the same families in the same order, so a part's
// family is looked for at its own position first; no name is copied.
std::vector<std::shared_ptr<const Families>> Interleave(
    const DatabaseVisitor::Results& results) {
  std::vector<std::string_view> names;
  std::vector<std::vector<const std::shared_ptr<const Families>*>> by_family;
  size_t total = 0;
  for (const auto& db : results.databases) {
    for (size_t i = 0; i < db.parts.size(); ++i) {
      const std::string_view name = db.parts[i]->front().name;
      size_t k = i;
      if (k >= names.size() || names[k] != name) {
        k = std::find(names.begin(), names.end(), name) - names.begin();
      }
      if (k == names.size()) {
        names.push_back(name);
        by_family.emplace_back();
      }
      by_family[k].push_back(&db.parts[i]);
      ++total;
    }
  }
  std::vector<std::shared_ptr<const Families>> out;
  out.reserve(total);
  for (const auto& parts : by_family) {
    for (const auto* part : parts) out.push_back(*part);
  }
  return out;
}

}  // namespace

Outcome VisitedOutcome(CollectorSlot& slot, const ServerInfo& server,
                       const DatabaseVisitor::Results& results) {
  Outcome o;
  if (results.databases.empty()) {
    o.state = Outcome::State::kNotYet;
    return o;
  }
  QueryResult merged{true, {}, "", 0};
  o.fetched = Clock::time_point::max();
  bool rows = false;  // a collector with state: parsed here, together
  for (const auto& db : results.databases) {
    merged.seconds += db.seconds;
    const char* why = nullptr;
    if (!db.ok) {
      why = db.error.c_str();
    } else if (db.rows && !db.rows->columns().empty()) {
      rows = true;
      if (merged.rows.columns().empty()) merged.rows = Rows(db.rows->columns());
      if (db.rows->columns() != merged.rows.columns()) {
        why = "columns differ";
      } else {
        for (const auto& row : db.rows->rows()) merged.rows.Add(row);
      }
    }
    if (why) {
      if (merged.ok) merged.error = "database \"" + db.database + "\": " + why;
      merged.ok = false;
    } else {
      o.fetched = std::min(o.fetched, db.fetched);
    }
  }
  o.state = merged.ok ? Outcome::State::kOk : Outcome::State::kFailed;
  o.error = std::move(merged.error);
  o.seconds = merged.seconds;
  if (!rows && !slot.state) {
    o.parts = Interleave(results);
    return o;
  }
  const auto start = Clock::now();
  try {
    auto families = std::make_shared<Families>();
    if (slot.state) {
      slot.collector->ParseWithState(server, merged.rows, *slot.state, start,
                                     *families);
    } else {
      slot.collector->Parse(server, merged.rows, *families);
    }
    o.families = std::move(families);
  } catch (const std::exception& e) {
    o.state = Outcome::State::kFailed;
    o.error = std::string("parse: ") + e.what();
  }
  o.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  return o;
}

}  // namespace pgwarden
