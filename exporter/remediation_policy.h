#pragma once

#include <string>
#include <vector>

namespace pgwarden {

enum class RemediationAction { kCancel, kTerminate, kCancelThenTerminate };

// "cancel", "terminate", "cancel_then_terminate".
const char* ActionName(RemediationAction action);

// Whether a session in `state` (pg_stat_activity.state) is one a cancel
// cannot end: idle in a transaction, no query runs, its locks stay.
bool CancelCannotEnd(const std::string& state);

// What a rule matches. Lists are alternatives ("any of"); an empty list
// matches everything. usename, application_name, datname and client_addr
// take shell globs (fnmatch: *, ?, [..]), client_addr also CIDR ranges
// (10.0.0.0/8); state takes pg_stat_activity's state names exactly.
struct RemediationMatch {
  std::vector<std::string> state, usename, application_name, datname,
      client_addr;
  // > 0: only root blockers (blocking others, proven by pg_blocking_pids(),
  // and not waiting on a lock themselves) that block at least this many
  // sessions, directly or transitively.
  int min_blocked_sessions = 0;
  // The longest-waiting of those sessions has waited at least this long
  // (implies min_blocked_sessions >= 1).
  double min_blocking_seconds = 0;
  // A session whose current query (or transaction) is at least this old;
  // a rule with an age and no min_blocked_sessions matches sessions that
  // block nobody.
  double min_query_age_seconds = 0, min_xact_age_seconds = 0;
};

struct RemediationRule {
  std::string name;
  int line = 0;  // where the rule starts in its file, for messages
  RemediationMatch match;
  RemediationAction action = RemediationAction::kCancel;
  // Between an action and the next on the same session (a cancel and its
  // terminate, or a retry). For a session idle in a transaction, which a
  // cancel cannot end, the time it is given before it is terminated.
  double grace_seconds = 10;
};

// --remediation.config: what pgwarden may do to sessions that block others,
// and how it reports it.
struct RemediationPolicy {
  bool enforce = false;  // mode: dry_run (the default) or enforce
  std::string dsn_file;  // the pg_signal_backend role's connection string
  int max_actions_per_minute = 5;
  std::string audit_log = "-";    // a file (appended to), "-" for stderr
  bool audit_query_text = false;  // whether audit lines carry the query
  std::vector<RemediationRule> rules;
  // Things that are allowed but probably not meant ("file:line: reason").
  std::vector<std::string> warnings;
};

// Parses the YAML policy. Throws std::invalid_argument with
// "<file>:<line>: <reason>" for anything it cannot use, unknown keys
// included: a typo in a policy that signals sessions must not be ignored.
// A relative dsn_file or audit_log is relative to the file's directory.
RemediationPolicy ParseRemediationPolicy(const std::string& text,
                                         const std::string& path);

// Reads and parses a file; the same errors, plus an unreadable file.
RemediationPolicy LoadRemediationPolicy(const std::string& path);

}  // namespace pgwarden
