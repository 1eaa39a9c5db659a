#include "exporter/target.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "exporter/collection.h"
#include "exporter/collection_plan.h"
#include "exporter/log.h"
#include "exporter/self_metrics.h"

namespace pgwarden {
namespace {

// How often a per-database collector without a minimum interval visits
// each database: it cannot be every scrape, which the visitor does not see.
constexpr auto kDefaultVisitInterval = std::chrono::seconds(15);

Outcome Failure(std::string error) {
  Outcome o;
  o.state = Outcome::State::kFailed;
  o.error = std::move(error);
  return o;
}

Clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(seconds));
}

}  // namespace

struct Target::Runtime {
  Runtime(std::string target, std::unique_ptr<Database> db,
          std::vector<std::unique_ptr<Collector>> collectors,
          TargetOptions options)
      : name(std::move(target)),
        database(std::move(db)),
        process_metrics(options.process_metrics) {
    if (options.sampler.open &&
        options.sampler.interval > Clock::duration::zero()) {
      sampler = std::make_unique<Sampler>(name, std::move(options.sampler));
    }
    std::vector<DatabaseVisitor::Job> jobs;
    for (auto& c : collectors) {
      const auto it = options.min_interval_seconds.find(std::string(c->Name()));
      const double interval =
          it == options.min_interval_seconds.end() ? 0 : it->second;
      collector_names.emplace_back(c->Name());
      auto state = c->NewState();
      slots.push_back(CollectorSlot{std::move(c),
                                    Seconds(interval),
                                    {},
                                    options.remember_every_result,
                                    std::move(state)});
      const CollectorSlot& slot = slots.back();
      if (slot.collector->PerDatabase()) {
        jobs.push_back({slot.collector, interval > 0 ? slot.min_interval
                                                     : kDefaultVisitInterval});
      }
    }
    // With one connection (or no way to open others) the per-database
    // collectors run on the main one, in the connected database only.
    if (!jobs.empty() && options.databases.open &&
        options.databases.max_connections > 1) {
      visitor = std::make_unique<DatabaseVisitor>(
          name, std::move(options.databases), std::move(jobs));
      visited.resize(slots.size());
    }
    notices.resize(slots.size());
  }

  // The collecting thread's work: one round of queries into `c`.
  void Collect(Collection& c, Clock::time_point deadline);
  // A visited collector's outcome from the visitor's parts, put together
  // again only when the visitor's results or the server changed.
  Outcome Visited(size_t slot, size_t job, const ServerInfo& server);
  // Publishes a finished collection (state, logs, counters) before waking
  // its scrapes, so a scrape that returns has updated the landing page.
  void Finish(Collection& c);
  std::string FirstError(const Collection::Snapshot& s) const;
  void NoteNotices(const ServerInfo& server);  // requires mu
  // Leaves out of `answer` the families a part repeats from an earlier one
  // (FindRepeatedFamilies), logging each (collector, family) once. `owners`
  // holds each part's collector index (npos: pgwarden's own).
  void LeaveOutRepeats(Exposition& answer, const std::vector<size_t>& owners);

  const std::string name;
  std::vector<std::string> collector_names;  // immutable after construction

  // Touched only by the collecting thread; single-flight means there is one
  // at a time.
  std::unique_ptr<Database> database;
  std::vector<CollectorSlot> slots;
  // Per slot: the visitor's generation and the server its outcome was
  // parsed for.
  struct VisitedMemo {
    uint64_t generation = 0;
    ServerInfo server;
    Outcome outcome;
  };
  std::vector<VisitedMemo> visited;
  const bool process_metrics;
  std::unique_ptr<Sampler> sampler;          // thread-safe; null when off
  std::unique_ptr<DatabaseVisitor> visitor;  // thread-safe; null when none

  mutable std::mutex mu;  // guards everything below
  std::condition_variable idle;
  std::shared_ptr<Collection> inflight;
  TargetCounters counters;
  bool last_up = false;
  std::string last_error;
  std::vector<std::string> notices;  // per collector, as last logged
  // A part that repeats families of earlier parts, and its copy without
  // them, kept while the part lives so that the copy's text is cached too.
  struct Trimmed {
    std::weak_ptr<const Families> source;
    std::shared_ptr<const Families> copy;
  };
  std::unordered_map<const Families*, Trimmed> trimmed;
  std::set<std::string> repeats_logged;  // "collector family", once each
};

Outcome Target::Runtime::Visited(size_t slot, size_t job,
                                 const ServerInfo& server) {
  const DatabaseVisitor::Results results = visitor->ResultsOf(job);
  VisitedMemo& memo = visited[slot];
  if (memo.generation == results.generation && memo.server == server) {
    Outcome o = memo.outcome;
    o.seconds = 0;  // nothing was read or parsed for this scrape
    return o;
  }
  memo = VisitedMemo{results.generation, server,
                     VisitedOutcome(slots[slot], server, results)};
  return memo.outcome;
}

void Target::Runtime::Collect(Collection& c, Clock::time_point deadline) {
  ServerInfo server;
  try {
    server = database->Open(deadline);
  } catch (const std::exception& e) {
    c.ConnectionFailed(e.what());
    return;
  }
  c.Connected(server);
  const CollectionPlan plan =
      PlanCollection(slots, server, Clock::now(), visitor != nullptr);
  for (size_t i : plan.reuse) c.Set(i, Reused(slots[i].memo));
  for (size_t i : plan.parse_empty) {
    c.Set(i, ParseOutcome(slots[i], server, QueryResult{true, {}, "", 0}));
  }
  const Batch& batch = plan.server_wide;
  const bool connected =
      database->Run(batch.statements, deadline, [&](size_t k, QueryResult r) {
        const size_t i = batch.collectors[k];
        c.Set(i, ParseOutcome(slots[i], server, std::move(r)));
      });
  if (!connected) {
    c.ConnectionLost();
    for (size_t i : plan.visited) c.Set(i, Failure("connection lost"));
    return;
  }
  for (size_t k = 0; k < plan.visited.size(); ++k) {
    c.Set(plan.visited[k], Visited(plan.visited[k], k, server));
  }
}

std::string Target::Runtime::FirstError(const Collection::Snapshot& s) const {
  if (!s.error.empty()) return s.error;
  for (size_t i = 0; i < s.outcomes.size(); ++i) {
    const Outcome& o = s.outcomes[i];
    if (o.state != Outcome::State::kFailed) continue;
    const std::string hint = slots[i].collector->ErrorHint(o.error);
    return collector_names[i] + ": " + o.error +
           (hint.empty() ? "" : " (" + hint + ")");
  }
  return "";
}

void Target::Runtime::Finish(Collection& c) {
  const Collection::Snapshot s = c.WaitUntil(Clock::time_point::min());
  const std::string error = FirstError(s);
  const uint64_t opened = database->ConnectionsOpened() +
                          (visitor ? visitor->ConnectionsOpened() : 0);
  {
    std::lock_guard<std::mutex> lock(mu);
    // State changes are logged, not every scrape: a down database must not
    // flood the log at the scrape rate.
    if (!error.empty() && error != last_error) {
      Log(LogLevel::kError, "scrape of " + name + " failed: " + error);
    } else if (error.empty() && !last_error.empty()) {
      Log(LogLevel::kInfo, "scrape of " + name + " recovered");
    }
    if (!s.error.empty()) ++counters.connection_errors;
    last_error = error;
    last_up = s.up;
    counters.connections_opened = opened;
    counters.open_connections = 1 + (visitor ? visitor->OpenConnections() : 0);
    if (s.server) {
      counters.last_server = *s.server;
      NoteNotices(*s.server);
    }
    // From here on a new scrape starts a new collection; it must never join
    // this finished one and be served its (older) data.
    inflight.reset();
  }
  c.Finish();
  idle.notify_all();
}

void Target::Runtime::NoteNotices(const ServerInfo& server) {
  for (size_t i = 0; i < slots.size(); ++i) {
    std::string notice = slots[i].collector->Notice(server);
    if (notice == notices[i]) continue;
    const std::string where = collector_names[i] + " in " + name;
    if (!notice.empty()) {
      Log(LogLevel::kWarn, where + ": " + notice);
    } else {
      Log(LogLevel::kInfo, where + ": the earlier notice no longer applies");
    }
    notices[i] = std::move(notice);
  }
}

Target::Target(std::string name, std::unique_ptr<Database> database,
               std::vector<std::unique_ptr<Collector>> collectors,
               TargetOptions options)
    : runtime_(std::make_shared<Runtime>(std::move(name), std::move(database),
                                         std::move(collectors),
                                         std::move(options))) {}

Target::~Target() {
  std::unique_lock<std::mutex> lock(runtime_->mu);
  // Bounded: a collection stuck on a frozen server must not delay a
  // shutdown (its thread holds its own references and ends with the
  // process).
  runtime_->idle.wait_for(lock, std::chrono::seconds(1),
                          [&] { return !runtime_->inflight; });
}

Exposition Target::Scrape(Clock::time_point deadline) {
  std::shared_ptr<Collection> c;
  {
    std::lock_guard<std::mutex> lock(runtime_->mu);
    c = runtime_->inflight;  // single-flight: join the one in flight
    if (!c) {
      c = runtime_->inflight =
          std::make_shared<Collection>(runtime_->collector_names.size());
      std::thread([rt = runtime_, c, deadline] {
        rt->Collect(*c, deadline);
        rt->Finish(*c);
      }).detach();
    }
  }
  const Collection::Snapshot snapshot = c->WaitUntil(deadline);
  TargetCounters counters;
  {
    std::lock_guard<std::mutex> lock(runtime_->mu);
    ++runtime_->counters.scrapes;
    counters = runtime_->counters;
  }
  Exposition out;
  std::vector<size_t> owners;  // each part's collector; npos: pgwarden's own
  for (size_t i = 0; i < snapshot.outcomes.size(); ++i) {
    const Outcome& o = snapshot.outcomes[i];
    if (o.families) out.parts.push_back(o.families);
    out.parts.insert(out.parts.end(), o.parts.begin(), o.parts.end());
    owners.resize(out.parts.size(), i);
  }
  if (runtime_->sampler) {
    out.parts.push_back(
        std::make_shared<const Families>(runtime_->sampler->Collect()));
  }
  if (runtime_->visitor) {
    out.parts.push_back(
        std::make_shared<const Families>(runtime_->visitor->Collect()));
  }
  out.parts.push_back(std::make_shared<const Families>(
      SelfMetrics(snapshot, runtime_->collector_names, counters,
                  runtime_->process_metrics)));
  owners.resize(out.parts.size(), std::string::npos);
  runtime_->LeaveOutRepeats(out, owners);
  return out;
}

void Target::Runtime::LeaveOutRepeats(Exposition& answer,
                                      const std::vector<size_t>& owners) {
  const std::vector<RepeatedFamilies> repeats = FindRepeatedFamilies(answer);
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = trimmed.begin(); it != trimmed.end();) {
    it = it->second.source.expired() ? trimmed.erase(it) : std::next(it);
  }
  const auto collector = [&](size_t index) {
    return index < collector_names.size() ? collector_names[index]
                                          : std::string("pgwarden");
  };
  for (const RepeatedFamilies& r : repeats) {
    std::shared_ptr<const Families>& part = answer.parts[r.part];
    auto it = trimmed.find(part.get());
    if (it == trimmed.end() || it->second.source.lock() != part) {
      auto copy = std::make_shared<Families>();
      size_t next = 0;  // r.families is in the part's order
      for (size_t f = 0; f < part->size(); ++f) {
        if (next < r.families.size() && r.families[next].first == f) {
          ++next;
        } else {
          copy->push_back((*part)[f]);
        }
      }
      it = trimmed.insert_or_assign(part.get(), Trimmed{part, copy}).first;
    }
    // One line per collector that got there first, naming the families
    // not named before.
    const std::string repeater = collector(owners[r.part]);
    std::map<size_t, std::string> news;  // first collector -> families
    for (const auto& [f, first] : r.families) {
      const std::string& family = (*part)[f].name;
      if (!repeats_logged.insert(repeater + " " + family).second) continue;
      std::string& list = news[owners[first]];
      list += (list.empty() ? "" : ", ") + family;
    }
    for (const auto& [first, families] : news) {
      Log(LogLevel::kWarn,
          name + ": collector " + repeater + " makes families that collector " +
              collector(first) + " already makes (" + families +
              "); each is served once, from " + collector(first) +
              " (rename them in " + repeater + ", or leave " +
              collector(first) + " out)");
    }
    part = it->second.copy;
  }
}

TargetStatus Target::Status() const {
  std::lock_guard<std::mutex> lock(runtime_->mu);
  TargetStatus s;
  s.target = runtime_->name;
  s.collectors = runtime_->collector_names;
  s.ever_connected = runtime_->counters.last_server.has_value();
  s.up = runtime_->last_up;
  if (s.ever_connected) {
    s.server_version = runtime_->counters.last_server->version;
  }
  s.last_error = runtime_->last_error;
  s.open_connections = runtime_->counters.open_connections;
  s.scrapes = runtime_->counters.scrapes;
  for (size_t i = 0; i < runtime_->notices.size(); ++i) {
    if (runtime_->notices[i].empty()) continue;
    s.notices.emplace_back(runtime_->collector_names[i], runtime_->notices[i]);
  }
  return s;
}

}  // namespace pgwarden
