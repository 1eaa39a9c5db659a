#include "exporter/remediation_policy.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "exporter/strings.h"
#include "exporter/yaml_reader.h"

namespace pgwarden {
namespace {

// pg_stat_activity.state's values.
const std::set<std::string>& States() {
  static const auto* states =
      new std::set<std::string>{"active",
                                "idle",
                                "idle in transaction",
                                "idle in transaction (aborted)",
                                "fastpath function call",
                                "disabled"};
  return *states;
}

void ParseMatch(YamlReader& p, const YAML::Node& node, const std::string& rule,
                RemediationMatch& m) {
  const std::string where = "rule \"" + rule + "\": match";
  p.Map(node, where,
        {"state", "usename", "application_name", "datname", "client_addr",
         "min_blocked_sessions", "min_blocking_seconds",
         "min_query_age_seconds", "min_xact_age_seconds"},
        [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
          const std::string key = where + "." + k;
          if (k == "state") {
            m.state = p.OneOrList(v, key);
            for (const std::string& s : m.state) {
              if (!States().count(s)) {
                p.Fail(v, key + ": unknown state \"" + s +
                              "\" (active, idle in transaction, idle in "
                              "transaction (aborted), ...)");
              }
            }
          }
          if (k == "usename") m.usename = p.OneOrList(v, key);
          if (k == "application_name") m.application_name = p.OneOrList(v, key);
          if (k == "datname") m.datname = p.OneOrList(v, key);
          if (k == "client_addr") {
            m.client_addr = p.OneOrList(v, key);
            for (const std::string& a : m.client_addr) {
              CidrRange range;
              if (a.find('/') != std::string::npos && !ParseCidr(a, range)) {
                p.Fail(v, key + ": \"" + a +
                              "\" is not a CIDR range (10.0.0.0/8, fd00::/8)");
              }
            }
          }
          if (k == "min_blocked_sessions") {
            const double n = p.Number(v, key, 1, 100000);
            if (n != static_cast<int>(n)) p.Fail(v, key + " must be whole");
            m.min_blocked_sessions = static_cast<int>(n);
          }
          if (k == "min_blocking_seconds") {
            m.min_blocking_seconds = p.Number(v, key, 0, 86400 * 7);
          }
          if (k == "min_query_age_seconds") {
            m.min_query_age_seconds = p.Number(v, key, 0, 86400 * 7);
          }
          if (k == "min_xact_age_seconds") {
            m.min_xact_age_seconds = p.Number(v, key, 0, 86400 * 7);
          }
        });
}

void ParseRule(YamlReader& p, const YAML::Node& node,
               std::set<std::string>& names, RemediationPolicy& policy) {
  RemediationRule r;
  r.line = node.Mark().line + 1;
  if (!node.IsMap()) p.Fail(node, "each rule must be a mapping");
  const YAML::Node name = node["name"];
  if (!name) p.Fail(node, "a rule needs a name");
  r.name = p.Str(name, "name");
  if (r.name.empty() || r.name.size() > 64 ||
      !std::all_of(r.name.begin(), r.name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
               c == '_' || c == '.';
      })) {
    p.Fail(name,
           "rule name \"" + r.name +
               "\" must be 1-64 letters, digits, '-', '_' or '.' (it is a "
               "label value)");
  }
  if (!names.insert(r.name).second) {
    p.Fail(name, "rule \"" + r.name + "\" is named twice");
  }
  bool has_match = false, has_action = false;
  const std::string where = "rule \"" + r.name + "\"";
  p.Map(node, where, {"name", "match", "action", "grace_seconds"},
        [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
          if (k == "match") {
            has_match = true;
            ParseMatch(p, v, r.name, r.match);
          }
          if (k == "action") {
            has_action = true;
            const std::string a = p.Str(v, where + ".action");
            if (a == "cancel") {
              r.action = RemediationAction::kCancel;
            } else if (a == "terminate") {
              r.action = RemediationAction::kTerminate;
            } else if (a == "cancel_then_terminate") {
              r.action = RemediationAction::kCancelThenTerminate;
            } else {
              p.Fail(v, where + ": action \"" + a +
                            "\" is not cancel, terminate or "
                            "cancel_then_terminate");
            }
          }
          if (k == "grace_seconds") {
            r.grace_seconds = p.Number(v, where + ".grace_seconds", 0, 3600);
          }
        });
  if (!has_action) p.Fail(node, where + " needs an action");
  if (!has_match) p.Fail(node, where + " needs a match");
  RemediationMatch& m = r.match;
  if (m.min_blocking_seconds > 0 && m.min_blocked_sessions == 0) {
    m.min_blocked_sessions = 1;
  }
  if (m.min_blocked_sessions == 0 && m.min_query_age_seconds <= 0 &&
      m.min_xact_age_seconds <= 0) {
    p.Fail(node, where +
                     " would match sessions that block nobody and are not "
                     "old: give min_blocked_sessions, min_query_age_seconds "
                     "or min_xact_age_seconds");
  }
  if (r.action == RemediationAction::kCancel) {
    const bool only_idle_in_xact =
        !m.state.empty() &&
        std::all_of(m.state.begin(), m.state.end(), CancelCannotEnd);
    const bool any_idle_in_xact =
        m.state.empty() ||
        std::any_of(m.state.begin(), m.state.end(), CancelCannotEnd);
    const std::string why =
        "a cancel cannot end a session idle in a transaction (no query "
        "runs; its locks stay): use terminate or cancel_then_terminate";
    if (only_idle_in_xact) p.Fail(node, where + ": " + why);
    if (any_idle_in_xact) {
      policy.warnings.push_back(p.Where(node) + where +
                                " may match sessions idle in a transaction, "
                                "which it will leave alone: " +
                                why);
    }
  }
  policy.rules.push_back(std::move(r));
}

}  // namespace

bool CancelCannotEnd(const std::string& state) {
  return state.rfind("idle in transaction", 0) == 0;
}

const char* ActionName(RemediationAction action) {
  switch (action) {
    case RemediationAction::kCancel:
      return "cancel";
    case RemediationAction::kTerminate:
      return "terminate";
    case RemediationAction::kCancelThenTerminate:
      return "cancel_then_terminate";
  }
  return "";
}

RemediationPolicy ParseRemediationPolicy(const std::string& text,
                                         const std::string& path) {
  YamlReader p(path);
  RemediationPolicy policy;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    p.Fail(e.mark, "yaml: " + e.msg);
  }
  if (!root || !root.IsMap()) {
    p.Fail(root, "the remediation policy must be a mapping with rules");
  }
  bool has_rules = false;
  try {
    std::set<std::string> names;
    p.Map(root, "the remediation policy",
          {"mode", "dsn_file", "max_actions_per_minute", "audit_log",
           "audit_query_text", "rules"},
          [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
            if (k == "mode") {
              const std::string mode = p.Str(v, k);
              if (mode != "dry_run" && mode != "enforce") {
                p.Fail(v, "mode \"" + mode + "\" is not dry_run or enforce");
              }
              policy.enforce = mode == "enforce";
            }
            if (k == "dsn_file") policy.dsn_file = p.Path(p.Str(v, k));
            if (k == "max_actions_per_minute") {
              const double n = p.Number(v, k, 1, 600);
              if (n != static_cast<int>(n)) p.Fail(v, k + " must be whole");
              policy.max_actions_per_minute = static_cast<int>(n);
            }
            if (k == "audit_log") {
              const std::string log = p.Str(v, k);
              if (log.empty()) p.Fail(v, "audit_log must name a file or -");
              policy.audit_log = log == "-" ? log : p.Path(log);
            }
            if (k == "audit_query_text") policy.audit_query_text = p.Bool(v, k);
            if (k == "rules") {
              has_rules = true;
              if (!v.IsSequence() || v.size() == 0) {
                p.Fail(v, "rules must be a non-empty list");
              }
              for (const auto& rule : v) ParseRule(p, rule, names, policy);
            }
          });
  } catch (const YAML::Exception& e) {
    p.Fail(e.mark, "yaml: " + e.msg);
  }
  if (policy.dsn_file.empty()) {
    p.Fail(root,
           "dsn_file is required: the connection of a role with "
           "pg_signal_backend (deploy/sql/remediation-role.sql)");
  }
  if (!has_rules) p.Fail(root, "rules is required");
  return policy;
}

RemediationPolicy LoadRemediationPolicy(const std::string& path) {
  return ParseRemediationPolicy(ReadWholeFile(path), path);
}

}  // namespace pgwarden
