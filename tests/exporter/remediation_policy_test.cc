#include "exporter/remediation_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

namespace pgwarden {
namespace {

using ::testing::HasSubstr;

// The loader's error for `yaml` in /etc/pgwarden/p.yml, or "" if it loads.
std::string Error(const std::string& yaml) {
  try {
    ParseRemediationPolicy(yaml, "/etc/pgwarden/p.yml");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

constexpr char kHead[] = "dsn_file: r.dsn\nrules:\n";

TEST(RemediationPolicyTest, TheIssueExampleLoadsWithItsValues) {
  const RemediationPolicy p = ParseRemediationPolicy(R"(
mode: enforce
dsn_file: remediation.dsn
max_actions_per_minute: 3
audit_log: /var/log/pgwarden/remediation.jsonl
rules:
  - name: idle-blockers
    match:
      state: ["idle in transaction"]
      min_blocked_sessions: 2
      min_blocking_seconds: 120
      usename: ["app_rw"]
      application_name: ["billing-*"]
      datname: ["shop"]
      client_addr: 10.0.0.*
    action: cancel_then_terminate
    grace_seconds: 10
)",
                                                     "/etc/pgwarden/p.yml");
  EXPECT_TRUE(p.enforce);
  EXPECT_EQ(p.dsn_file, "/etc/pgwarden/remediation.dsn");
  EXPECT_EQ(p.max_actions_per_minute, 3);
  EXPECT_EQ(p.audit_log, "/var/log/pgwarden/remediation.jsonl");
  EXPECT_FALSE(p.audit_query_text);
  ASSERT_EQ(p.rules.size(), 1u);
  const RemediationRule& r = p.rules[0];
  EXPECT_EQ(r.name, "idle-blockers");
  EXPECT_EQ(r.line, 7);
  EXPECT_EQ(r.action, RemediationAction::kCancelThenTerminate);
  EXPECT_EQ(r.grace_seconds, 10);
  EXPECT_EQ(r.match.state, std::vector<std::string>{"idle in transaction"});
  EXPECT_EQ(r.match.min_blocked_sessions, 2);
  EXPECT_EQ(r.match.min_blocking_seconds, 120);
  EXPECT_EQ(r.match.usename, std::vector<std::string>{"app_rw"});
  EXPECT_EQ(r.match.application_name, std::vector<std::string>{"billing-*"});
  EXPECT_EQ(r.match.datname, std::vector<std::string>{"shop"});
  EXPECT_EQ(r.match.client_addr, std::vector<std::string>{"10.0.0.*"});
  EXPECT_TRUE(p.warnings.empty());
}

TEST(RemediationPolicyTest, DefaultsAreTheCautiousOnes) {
  const RemediationPolicy p = ParseRemediationPolicy(
      std::string(kHead) +
          "  - {name: r, match: {min_blocked_sessions: 1}, action: cancel}\n",
      "p.yml");
  EXPECT_FALSE(p.enforce) << "dry_run unless the file says enforce";
  EXPECT_EQ(p.max_actions_per_minute, 5);
  EXPECT_EQ(p.audit_log, "-");
  EXPECT_EQ(p.dsn_file, "./r.dsn");
  EXPECT_EQ(p.rules[0].grace_seconds, 10);
}

TEST(RemediationPolicyTest, MinBlockingSecondsMeansRootBlockersOnly) {
  const RemediationPolicy p = ParseRemediationPolicy(
      std::string(kHead) +
          "  - {name: r, match: {min_blocking_seconds: 30}, action: "
          "terminate}\n",
      "p.yml");
  EXPECT_EQ(p.rules[0].match.min_blocked_sessions, 1);
}

TEST(RemediationPolicyTest, EveryBadFieldSaysWhereAndWhy) {
  const std::string rule =
      "  - name: r\n    match: {min_blocked_sessions: 1}\n    action: cancel\n";
  struct Case {
    std::string yaml, want;
  };
  const std::vector<Case> cases = {
      {"modes: enforce\n" + std::string(kHead) + rule,
       "p.yml:1: unknown key \"modes\""},
      {"mode: on\n" + std::string(kHead) + rule,
       "p.yml:1: mode \"on\" is not dry_run or enforce"},
      {"rules:\n" + rule, "p.yml:1: dsn_file is required"},
      {"dsn_file: x\n", "p.yml:1: rules is required"},
      {"dsn_file: x\nrules: []\n", "p.yml:2: rules must be a non-empty list"},
      {"dsn_file: x\nmax_actions_per_minute: 0\nrules:\n" + rule,
       "p.yml:2: max_actions_per_minute must be a number from 1 to 600"},
      {"dsn_file: x\nmax_actions_per_minute: 2.5\nrules:\n" + rule,
       "p.yml:2: max_actions_per_minute must be whole"},
      {"dsn_file: x\naudit_query_text: maybe\nrules:\n" + rule,
       "p.yml:2: audit_query_text must be true or false"},
      {std::string(kHead) + "  - match: {min_blocked_sessions: 1}\n",
       "p.yml:3: a rule needs a name"},
      {std::string(kHead) + rule + rule, "p.yml:6: rule \"r\" is named twice"},
      {std::string(kHead) +
           "  - name: \"a b\"\n    match: {min_blocked_sessions: 1}\n",
       "p.yml:3: rule name \"a b\" must be 1-64 letters"},
      {std::string(kHead) +
           "  - name: r\n    match: {min_blocked_sessions: 1}\n",
       "p.yml:3: rule \"r\" needs an action"},
      {std::string(kHead) + "  - name: r\n    action: cancel\n",
       "p.yml:3: rule \"r\" needs a match"},
      {std::string(kHead) + "  - name: r\n    match: {min_blocked_sessions: 1}"
                            "\n    action: kill\n",
       "p.yml:5: rule \"r\": action \"kill\" is not cancel, terminate"},
      {std::string(kHead) + "  - name: r\n    match: {min_blocked_sessions: 1}"
                            "\n    action: cancel\n    grace_seconds: -1\n",
       "p.yml:6: rule \"r\".grace_seconds must be a number from 0 to 3600"},
      {std::string(kHead) + "  - name: r\n    match:\n      blocked: 1\n"
                            "    action: cancel\n",
       "p.yml:5: unknown key \"blocked\" in rule \"r\": match"},
      {std::string(kHead) + "  - name: r\n    match:\n      state: [waiting]\n"
                            "      min_blocked_sessions: 1\n    action: "
                            "terminate\n",
       "p.yml:5: rule \"r\": match.state: unknown state \"waiting\""},
      {std::string(kHead) + "  - name: r\n    match:\n"
                            "      min_blocked_sessions: 0\n"
                            "    action: terminate\n",
       "p.yml:5: rule \"r\": match.min_blocked_sessions must be a number "
       "from 1"},
      {std::string(kHead) + "  - name: r\n    match:\n"
                            "      min_blocked_sessions: 1.5\n"
                            "    action: terminate\n",
       "p.yml:5: rule \"r\": match.min_blocked_sessions must be whole"},
      {std::string(kHead) + "  - name: r\n    match:\n"
                            "      usename: {a: b}\n"
                            "      min_blocked_sessions: 1\n"
                            "    action: terminate\n",
       "p.yml:5: rule \"r\": match.usename must be a list"},
      {std::string(kHead) + "  - name: r\n    match:\n"
                            "      client_addr: [10.0.0.0/33]\n"
                            "      min_blocked_sessions: 1\n"
                            "    action: terminate\n",
       "p.yml:5: rule \"r\": match.client_addr: \"10.0.0.0/33\" is not a CIDR "
       "range"},
      {std::string(kHead) + "  - name: r\n    match: {usename: [app]}\n"
                            "    action: terminate\n",
       "p.yml:3: rule \"r\" would match sessions that block nobody and are "
       "not old"},
      {std::string(kHead) + "  - name: r\n    match:\n"
                            "      state: [\"idle in transaction\"]\n"
                            "      min_blocked_sessions: 1\n"
                            "    action: cancel\n",
       "p.yml:3: rule \"r\": a cancel cannot end a session idle in a "
       "transaction"},
      {"dsn_file: x\nrules:\n  - name: [\n", "p.yml:4: yaml: "},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Error(c.yaml), HasSubstr(c.want)) << c.yaml;
    EXPECT_EQ(Error(c.yaml).rfind("/etc/pgwarden/p.yml:", 0), 0u) << c.yaml;
  }
}

TEST(RemediationPolicyTest, ACancelThatMayMeetIdleInTransactionWarns) {
  const RemediationPolicy p = ParseRemediationPolicy(
      std::string(kHead) +
          "  - {name: r, match: {min_blocked_sessions: 1}, action: cancel}\n"
          "  - {name: s, match: {min_blocked_sessions: 1, state: [active]}, "
          "action: cancel}\n",
      "p.yml");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_THAT(p.warnings[0], HasSubstr("p.yml:3: rule \"r\" may match"));
}

TEST(RemediationPolicyTest, AnUnreadableFileIsAnError) {
  EXPECT_THROW(LoadRemediationPolicy("/nonexistent/policy.yml"),
               std::invalid_argument);
}

}  // namespace
}  // namespace pgwarden
