#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pgwarden {

// Counters from PostgreSQL's cumulative statistics, kept so that what
// pgwarden emits only grows. The statistics restart (a reset, an entry
// evicted and created again), and a collector may report a key under one
// series now and another later (a statement moving in and out of a top N);
// Prometheus reads any decrease as a reset and counts the whole new value
// again. The pieces: DeltaTracker turns cumulative values into increases
// that are never negative; Accumulators sums increases per series. Both
// forget keys not seen for a while, so their size follows the source's.
// Not thread-safe: a target's collecting thread owns them.

template <size_t N>
using CounterValues = std::array<double, N>;

// Erases the entries of `map` whose value satisfies `pred`; returns how
// many. How each of these forgets what it has not seen for a while.
template <typename Map, typename Pred>
size_t EraseValuesIf(Map& map, Pred pred) {
  size_t erased = 0;
  for (auto it = map.begin(); it != map.end();) {
    if (pred(it->second)) {
      it = map.erase(it);
      ++erased;
    } else {
      ++it;
    }
  }
  return erased;
}

struct NoExtra {};

// `Extra` is what the caller keeps per key beside its values (say, which
// series the key reports into), default-constructed for a new key.
template <typename Key, size_t N, typename Hash = std::hash<Key>,
          typename Extra = NoExtra>
class DeltaTracker {
 public:
  using Clock = std::chrono::steady_clock;
  using Values = CounterValues<N>;

  struct Delta {
    Values values{};          // the increase, every field >= 0
    bool first_seen = false;  // no earlier value: all of it counts
    bool restarted = false;   // the source started over: all of it counts
    Extra* extra = nullptr;   // the key's; valid until it is forgotten
  };

  // What `key` added since it was last observed: the difference per field,
  // or the whole of `now` when the key is new, or restarted: any field went
  // down, or its `generation` (when the source knows when an entry started,
  // e.g. its reset time) changed. Remembers `now` as seen at `at`.
  Delta Observe(const Key& key, const Values& now, Clock::time_point at,
                double generation = 0) {
    Delta d;
    auto [it, inserted] = seen_.try_emplace(key, Seen{now, generation, at, {}});
    d.extra = &it->second.extra;
    if (inserted) {
      d.first_seen = true;
      d.values = Clamped(now);
      return d;
    }
    Seen& before = it->second;
    d.restarted = generation != before.generation;
    for (size_t i = 0; i < N; ++i) {
      d.restarted = d.restarted || now[i] < before.values[i];
    }
    for (size_t i = 0; i < N; ++i) {
      d.values[i] =
          std::max(0.0, d.restarted ? now[i] : now[i] - before.values[i]);
    }
    before.values = now;
    before.generation = generation;
    before.at = at;
    return d;
  }

  // Forgets keys last observed before `cutoff`; returns how many.
  size_t ForgetUnseenSince(Clock::time_point cutoff) {
    return EraseValuesIf(seen_, [&](const Seen& s) { return s.at < cutoff; });
  }

  size_t size() const { return seen_.size(); }

 private:
  struct Seen {
    Values values;
    double generation;
    Clock::time_point at;
    Extra extra;
  };

  static Values Clamped(Values v) {
    for (double& x : v) x = std::max(0.0, x);
    return v;
  }

  std::unordered_map<Key, Seen, Hash> seen_;
};

// Counters that only grow: per key, the sum of the increases added to it,
// remembered while the key keeps being used.
template <typename Key, size_t N, typename Hash = std::hash<Key>>
class Accumulators {
 public:
  using Clock = std::chrono::steady_clock;
  using Values = CounterValues<N>;

  // How a new key's first increases count. kCounted: into its sum at once
  // (sums that start from the source's totals, as on a first read). kHeld:
  // what is added to it at the `at` that creates it is held, and joins its
  // sum at its first Add with a later `at`: the key is emitted at 0 first,
  // because Prometheus takes a new series' first sample as its starting
  // point and would lose an increase in it.
  enum class FirstIncrease { kCounted, kHeld };

  // Adds `increase` (negative fields count as 0) to `key`, creating it at
  // zero; marks it used at `at`.
  void Add(const Key& key, const Values& increase, Clock::time_point at,
           FirstIncrease first = FirstIncrease::kCounted) {
    auto [it, inserted] = sums_.try_emplace(key);
    Entry& e = it->second;
    if (inserted) e.holding = first == FirstIncrease::kHeld;
    if (e.holding && !inserted && at != e.used) {
      for (size_t i = 0; i < N; ++i) e.values[i] += e.held[i];
      e.holding = false;
    }
    Values& into = e.holding ? e.held : e.values;
    for (size_t i = 0; i < N; ++i) into[i] += std::max(0.0, increase[i]);
    e.used = at;
  }

  // The sums of `key`, or nullptr when it has none.
  const Values* Find(const Key& key) const {
    auto it = sums_.find(key);
    return it == sums_.end() ? nullptr : &it->second.values;
  }

  // Forgets keys last used before `cutoff`; returns how many.
  size_t ForgetUnusedSince(Clock::time_point cutoff) {
    return EraseValuesIf(sums_,
                         [&](const Entry& e) { return e.used < cutoff; });
  }

  // Calls f(key, values) for every key, in no particular order.
  template <typename F>
  void ForEach(F f) const {
    for (const auto& [key, e] : sums_) f(key, e.values);
  }

  size_t size() const { return sums_.size(); }

 private:
  struct Entry {
    Values values{};
    Values held{};         // kHeld: the first `at`'s increases...
    bool holding = false;  // ...until a later `at`
    Clock::time_point used;
  };
  std::unordered_map<Key, Entry, Hash> sums_;
};

// Which keys of an open-ended set (a role and application, a query id) get
// series of their own: the `limit` with the most recent activity. A key's
// score is its activity decayed with a half-life, and a member keeps its
// place unless a newcomer's score beats its own by `advantage`, so that
// membership does not flap between two keys of equal weight.
template <typename Key, typename Hash = std::hash<Key>>
class TopN {
 public:
  // kJoins: became a member at the last Choose(). Its activity up to then
  // belongs elsewhere (its new series starts at 0).
  enum class Place { kOut, kJoins, kIn };

  TopN(size_t limit, double half_life_seconds, double advantage = 1.25)
      : limit_(limit), half_life_(half_life_seconds), advantage_(advantage) {}

  // Adds `amount` of activity to `key` at `at` (seconds on any clock that
  // does not go back).
  void Score(const Key& key, double amount, double at) {
    Entry& e = entries_[key];
    e.score = Decayed(e, at) + amount;
    e.scored = at;
  }

  // Chooses the members as of `at`.
  void Choose(double at) {
    std::vector<std::pair<double, Entry*>> ranked;
    ranked.reserve(entries_.size());
    for (auto& [key, e] : entries_) {
      e.joins = false;
      const double score = Decayed(e, at) * (e.member ? advantage_ : 1);
      if (score > 0) ranked.emplace_back(score, &e);
    }
    const size_t n = std::min(limit_, ranked.size());
    std::partial_sort(
        ranked.begin(), ranked.begin() + n, ranked.end(),
        [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto& [key, e] : entries_) e.chosen = false;
    for (size_t i = 0; i < n; ++i) ranked[i].second->chosen = true;
    for (auto& [key, e] : entries_) {
      e.joins = e.chosen && !e.member;
      e.member = e.chosen;
    }
  }

  Place PlaceOf(const Key& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.member) return Place::kOut;
    return it->second.joins ? Place::kJoins : Place::kIn;
  }

  // Forgets keys last scored before `cutoff`; returns how many.
  size_t ForgetScoredBefore(double cutoff) {
    return EraseValuesIf(entries_,
                         [&](const Entry& e) { return e.scored < cutoff; });
  }

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    double score = 0, scored = 0;
    bool member = false, joins = false, chosen = false;
  };
  double Decayed(const Entry& e, double at) const {
    return e.score * std::exp2(-std::max(0.0, at - e.scored) / half_life_);
  }

  size_t limit_;
  double half_life_, advantage_;
  std::unordered_map<Key, Entry, Hash> entries_;
};

}  // namespace pgwarden
