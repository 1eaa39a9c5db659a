#include <algorithm>
#include <stdexcept>

#include "collectors/collector.h"

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
      if (!only_defaults || r.enabled_by_default) add(r.name);
    }
  };
  if (spec.find_first_not_of(" ,") == std::string_view::npos) spec = "default";

  size_t pos = 0;
  bool first = true;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string item(spec.substr(pos, comma - pos));
    pos = comma + 1;
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) continue;
    const char sign = item[0];
    // A spec that starts with +x or -x modifies the default set.
    if (first && (sign == '+' || sign == '-')) add_set(true);
    first = false;
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
