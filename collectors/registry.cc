#include <algorithm>
#include <stdexcept>

#include "collectors/collector.h"
#include "exporter/strings.h"

namespace pgwarden {
namespace {

std::vector<CollectorRegistration>& MutableRegistry() {
  static auto* registry = new std::vector<CollectorRegistration>();
  return *registry;
}

bool IsRegistered(std::string_view name) {
  const auto& all = RegisteredCollectors();
  return std::any_of(all.begin(), all.end(),
                     [&](const auto& r) { return r.name == name; });
}

}  // namespace

const std::vector<CollectorRegistration>& RegisteredCollectors() {
  return MutableRegistry();
}

bool RegisterCollector(CollectorRegistration registration) {
  auto& registry = MutableRegistry();
  auto it = std::lower_bound(
      registry.begin(), registry.end(), registration.name,
      [](const auto& r, const std::string& n) { return r.name < n; });
  registry.insert(it, std::move(registration));
  return true;
}

std::vector<std::string> ResolveCollectors(std::string_view spec) {
  std::vector<std::string> enabled;
  auto add = [&](const std::string& name) {
    if (std::find(enabled.begin(), enabled.end(), name) == enabled.end()) {
      enabled.push_back(name);
    }
  };
  auto add_set = [&](bool only_defaults) {
    for (const auto& r : RegisteredCollectors()) {
      if (!only_defaults || r.defaults.enabled) add(r.name);
    }
  };
  bool first = true;
  for (const std::string& item : SplitList(spec)) {
    const char sign = item[0];
    // A spec that starts with +x or -x modifies the default set.
    if (first && (sign == '+' || sign == '-')) add_set(true);
    first = false;
    if (item == "none") {
      enabled.clear();
      continue;
    }
    if (item == "default" || item == "all") {
      add_set(item == "default");
      continue;
    }
    const std::string name =
        (sign == '+' || sign == '-') ? item.substr(1) : item;
    if (!IsRegistered(name)) {
      std::string known;
      for (const auto& r : RegisteredCollectors()) {
        known += (known.empty() ? "" : ", ") + r.name;
      }
      throw std::invalid_argument("unknown collector \"" + name +
                                  "\" (known: " + known + ")");
    }
    if (sign == '-') {
      enabled.erase(std::remove(enabled.begin(), enabled.end(), name),
                    enabled.end());
    } else {
      add(name);
    }
  }
  if (first) add_set(true);  // nothing but separators: "default"
  // Registry order, so output and logs do not depend on the flag's order.
  std::vector<std::string> ordered;
  for (const auto& r : RegisteredCollectors()) {
    if (std::find(enabled.begin(), enabled.end(), r.name) != enabled.end()) {
      ordered.push_back(r.name);
    }
  }
  return ordered;
}

std::vector<std::unique_ptr<Collector>> CreateCollectors(
    const std::vector<std::string>& names, const CollectorOptions& options) {
  std::vector<std::unique_ptr<Collector>> out;
  for (const auto& name : names) {
    for (const auto& r : RegisteredCollectors()) {
      if (r.name == name) out.push_back(r.factory(options));
    }
  }
  return out;
}

}  // namespace pgwarden
