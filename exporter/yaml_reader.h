#pragma once

#include <yaml-cpp/yaml.h>

#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgwarden {

// Reads a YAML configuration file's nodes strictly: every error is a
// std::invalid_argument "<file>:<line>: <reason>", unknown keys included.
class YamlReader {
 public:
  explicit YamlReader(std::string path) : path_(std::move(path)) {
    const size_t slash = path_.rfind('/');
    dir_ = slash == std::string::npos ? "." : path_.substr(0, slash);
    if (dir_.empty()) dir_ = "/";
  }

  [[noreturn]] void Fail(const YAML::Node& at, const std::string& reason) {
    Fail(at.Mark(), reason);
  }
  [[noreturn]] void Fail(const YAML::Mark& mark, const std::string& reason) {
    throw std::invalid_argument(Where(mark) + reason);
  }

  // "<file>:<line>: ", the prefix of a message about `at`.
  std::string Where(const YAML::Node& at) const { return Where(at.Mark()); }
  std::string Where(const YAML::Mark& mark) const {
    const std::string line =
        mark.line >= 0 ? ":" + std::to_string(mark.line + 1) : "";
    return path_ + line + ": ";
  }

  // A mapping whose keys must be among `known`; calls `each` per key.
  template <typename F>
  void Map(const YAML::Node& node, const std::string& where,
           const std::set<std::string>& known, F each) {
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) Fail(node, where + " must be a mapping");
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (!known.empty() && !known.count(key)) {
        Fail(kv.first, "unknown key \"" + key + "\" in " + where);
      }
      each(key, kv.first, kv.second);
    }
  }

  std::string Str(const YAML::Node& v, const std::string& key) {
    if (v.IsNull()) return "";
    if (!v.IsScalar()) Fail(v, key + " must be a string");
    return v.as<std::string>();
  }

  bool Bool(const YAML::Node& v, const std::string& key) {
    bool out = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out)) {
      Fail(v, key + " must be true or false");
    }
    return out;
  }

  std::vector<std::string> List(const YAML::Node& v, const std::string& key) {
    std::vector<std::string> out;
    if (v.IsNull()) return out;
    if (!v.IsSequence()) Fail(v, key + " must be a list");
    for (const auto& item : v) out.push_back(Str(item, key));
    return out;
  }

  // A number in [min, max].
  double Number(const YAML::Node& v, const std::string& key, double min,
                double max) {
    double out = 0;
    if (!v.IsScalar() || !YAML::convert<double>::decode(v, out) ||
        !(out >= min && out <= max)) {
      Fail(v, key + " must be a number from " + Show(min) + " to " + Show(max));
    }
    return out;
  }

  // A string or a list of strings.
  std::vector<std::string> OneOrList(const YAML::Node& v,
                                     const std::string& key) {
    if (v.IsScalar()) return {Str(v, key)};
    return List(v, key);
  }

  // A file name relative to the configuration file's directory.
  std::string Path(const std::string& file) const {
    if (file.empty() || file[0] == '/') return file;
    return dir_ + "/" + file;
  }

 private:
  static std::string Show(double x) {
    std::ostringstream out;
    out << x;
    return out.str();
  }

  std::string path_;
  std::string dir_;
};

}  // namespace pgwarden
