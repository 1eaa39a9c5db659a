#include "exporter/collection_plan.h"

#include <map>

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
                                              Rows rows, Clock::time_point now,
                                              bool complete) {
  Memo& memo = slot.memo;
  auto families = std::make_shared<Families>();
  complete =
      complete && (slot.min_interval.count() > 0 || slot.remember_every_result);
  if (slot.state) {
    slot.collector->ParseWithState(server, rows, *slot.state, now, *families);
    if (complete) memo = Memo{server, Rows{}, families, now};
    return families;
  }
  if (complete && memo.families && memo.rows == rows && memo.server == server) {
    memo.fetched = now;  // same rows as last time: same families
    return memo.families;
  }
  slot.collector->Parse(server, rows, *families);
  if (complete) memo = Memo{server, std::move(rows), families, now};
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
                     QueryResult result, bool serve_partial) {
  Outcome o;
  o.state = result.ok ? Outcome::State::kOk : Outcome::State::kFailed;
  o.error = result.error;
  o.seconds = result.seconds;
  if (!result.ok && !serve_partial) return o;
  const auto start = Clock::now();
  o.fetched = start;
  try {
    o.families =
        ParseWithMemo(slot, server, std::move(result.rows), start, result.ok);
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
std::vector<std::shared_ptr<const Families>> Interleave(
    const DatabaseVisitor::Results& results) {
  std::vector<std::string> names;
  std::map<std::string, size_t> index;
  for (const auto& db : results.databases) {
    for (const auto& part : db.parts) {
      if (index.emplace(part->front().name, names.size()).second) {
        names.push_back(part->front().name);
      }
    }
  }
  std::vector<std::vector<std::shared_ptr<const Families>>> by_family(
      names.size());
  for (const auto& db : results.databases) {
    for (const auto& part : db.parts) {
      by_family[index.at(part->front().name)].push_back(part);
    }
  }
  std::vector<std::shared_ptr<const Families>> out;
  for (auto& parts : by_family) {
    out.insert(out.end(), parts.begin(), parts.end());
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
