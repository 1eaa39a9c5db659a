#include "collectors/custom.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using U = CustomMetric::Usage;

// pg_replication_state with every usage kind (as queries.yaml spells it:
// see queries_yaml_test.cc).
CustomQuery ReplicationState() {
  CustomQuery q;
  q.name = "pg_replication_state";
  q.sql = "SELECT application_name, state, lag_ms, sent, 'x' AS junk FROM t";
  q.metrics = {{"application_name", U::kLabel, "Standby name", {}},
               {"state",
                U::kMappedMetric,
                "Streaming state",
                {{"streaming", 1}, {"catchup", 0}}},
               {"lag_ms", U::kDuration, "Replay lag", {}},
               {"sent", U::kCounter, "Bytes sent", {}},
               {"junk", U::kDiscard, "Unused", {}}};
  return q;
}

TEST(CustomCollectorTest, EmitsPostgresExporterNames) {
  auto c = NewCustomCollector(ReplicationState(), false);
  EXPECT_EQ(c->Name(), "pg_replication_state");
  const Rows rows =
      MakeRows({"application_name", "state", "lag_ms", "sent", "junk"},
               {{"standby1", "streaming", "1500", "4096", "x"},
                {"standby2", "unknown-state", "\\N", "10", "y"}});
  Families out;
  c->Parse(testing::ServerAt(150000), rows, out);
  EXPECT_EQ(Sample(out, "pg_replication_state_state",
                   {{"application_name", "standby1"}}),
            1);
  // Unmapped text and NULL give no sample rather than a made-up value.
  EXPECT_FALSE(Sample(out, "pg_replication_state_state",
                      {{"application_name", "standby2"}}));
  EXPECT_EQ(Sample(out, "pg_replication_state_lag_seconds",
                   {{"application_name", "standby1"}}),
            1.5);
  EXPECT_FALSE(Sample(out, "pg_replication_state_lag_seconds",
                      {{"application_name", "standby2"}}));
  EXPECT_EQ(Sample(out, "pg_replication_state_sent",
                   {{"application_name", "standby2"}}),
            10);
  EXPECT_EQ(FindFamily(out, "pg_replication_state_junk"), nullptr);
  EXPECT_EQ(FindFamily(out, "pg_replication_state_application_name"), nullptr);
  EXPECT_EQ(FindFamily(out, "pg_replication_state_lag_ms_milliseconds"),
            nullptr);
  EXPECT_TRUE(testing::ValidExposition(out));

  Families legacy;
  NewCustomCollector(ReplicationState(), true)
      ->Parse(testing::ServerAt(150000), rows, legacy);
  EXPECT_EQ(Sample(legacy, "pg_replication_state_lag_ms_milliseconds",
                   {{"application_name", "standby1"}}),
            1500);
}

TEST(CustomCollectorTest, TimestampColumnsBecomeUnixSeconds) {
  CustomQuery q;
  q.name = "pg_t";
  q.sql = "SELECT now() AS at";
  q.metrics = {{"at", U::kGauge, "at", {}}};
  Families out;
  NewCustomCollector(q, false)->Parse(
      testing::ServerAt(150000),
      MakeRows({"at"}, {{"2026-11-22 04:47:49.5+02"}, {"not a time"}}), out);
  // 04:47:49.5 at +02:00 is 02:47:49.5 UTC.
  EXPECT_EQ(testing::SampleCount(out, "pg_t_at"), 1u);
  EXPECT_EQ(Sample(out, "pg_t_at"), 1795315669.5);
}

TEST(CustomCollectorTest, VersionBoundsTimeoutAndScope) {
  CustomQuery q;
  q.name = "pg_new_only";
  q.sql = "SELECT 1 AS one";
  q.min_server_version = 140000;
  q.max_server_version = 169999;
  q.timeout_seconds = 2.5;
  q.per_database = true;
  auto c = NewCustomCollector(q, false);
  EXPECT_EQ(c->Query(testing::ServerAt(130000)), "");
  EXPECT_EQ(c->Query(testing::ServerAt(140005)), "SELECT 1 AS one");
  EXPECT_EQ(c->Query(testing::ServerAt(170000)), "");
  EXPECT_EQ(c->TimeoutMs(), 2500);
  EXPECT_TRUE(c->PerDatabase());
  auto plain = NewCustomCollector(ReplicationState(), false);
  EXPECT_EQ(plain->TimeoutMs(), 0);
  EXPECT_FALSE(plain->PerDatabase());
  EXPECT_EQ(plain->Query(testing::ServerAt(120000)), ReplicationState().sql);
}

}  // namespace
}  // namespace pgwarden::testing
