// replication_slots: pg_replication_slots.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_replication_slots: activity, retained WAL, safe WAL size";

// %CURRENT% is the server's WAL position (received position on a standby).
// %PG13% adds safe_wal_size and wal_status.
constexpr char kSlotsQuery[] = R"sql(
SELECT slot_name::text AS slot_name, coalesce(database::text, '') AS database,
       coalesce(slot_type, 'unknown') AS slot_type, active::int AS active,
       pg_wal_lsn_diff(%CURRENT%, restart_lsn) AS wal_lsn_diff,
       pg_wal_lsn_diff(%CURRENT%, '0/0') AS current_wal_lsn,
       CASE WHEN active THEN pg_wal_lsn_diff(confirmed_flush_lsn, '0/0') END
         AS confirmed_flush_lsn%PG13%
FROM pg_replication_slots)sql";

constexpr char kCurrent[] =
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() "
    "ELSE pg_current_wal_lsn() END";

constexpr char kPg13Columns[] = ", safe_wal_size, wal_status";

class ReplicationSlotsCollector final : public Collector {
 public:
  explicit ReplicationSlotsCollector(const CollectorOptions& o)
      : legacy_(o.legacy_names) {}
  std::string_view Name() const override { return "replication_slots"; }
  std::string Query(const ServerInfo& server) const override {
    return Substitute(
        Substitute(kSlotsQuery, "%PG13%",
                   server.version_num >= 130000 ? kPg13Columns : ""),
        "%CURRENT%", kCurrent);
  }

  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    EmitColumns(
        rows, {{"slot_name", "slot_name"}, {"database", "database"}},
        {{"active", "pg_replication_slots_active", "1 if the slot is in use."},
         {"wal_lsn_diff", "pg_replication_slots_pg_wal_lsn_diff",
          "WAL the slot retains: bytes from its restart_lsn to the current "
          "position."}},
        legacy_, out);
    EmitColumns(
        rows, {{"slot_name", "slot_name"}, {"slot_type", "slot_type"}},
        {{"current_wal_lsn", "pg_replication_slots_slot_current_wal_lsn",
          "Current WAL position of the server, as bytes."},
         {"confirmed_flush_lsn",
          "pg_replication_slots_slot_confirmed_flush_lsn",
          "Last position the slot's consumer confirmed (active logical "
          "slots)."},
         {"active", "pg_replication_slots_slot_is_active",
          "1 if the slot is in use."},
         {"safe_wal_size", "pg_replication_slots_safe_wal_size_bytes",
          "Bytes of WAL that can still be written before the slot is lost "
          "(13+; absent without max_slot_wal_keep_size)."}},
        legacy_, out);
    FamilyBuilder status("pg_replication_slots_wal_status",
                         "Availability of the WAL the slot claims (13+): 1 for "
                         "the current wal_status.",
                         prometheus::MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i) {
      RowView row(rows, i);
      if (!row.Get("wal_status")) continue;
      status.Add({{"slot_name", row.Text("slot_name")},
                  {"slot_type", row.Text("slot_type")},
                  {"wal_status", row.Text("wal_status")}},
                 1);
    }
    status.MoveTo(out);
  }

 private:
  bool legacy_;
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(replication_slots, OnByDefault(),
                            ::pgwarden::ReplicationSlotsCollector);
