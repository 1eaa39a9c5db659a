// stat_wal_receiver: the WAL receiver of a standby.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_wal_receiver: a standby's receiver status and positions";

// %FLUSHED% is flushed_lsn (13+) or its old name received_lsn. A receiver
// without a slot is reported with slot_name="" (postgres_exporter drops it).
constexpr char kWalReceiverQuery[] = R"sql(
SELECT coalesce(sender_host, '') AS upstream_host,
       coalesce(slot_name, '') AS slot_name,
       CASE status WHEN 'stopped' THEN 0 WHEN 'starting' THEN 1
                   WHEN 'streaming' THEN 2 WHEN 'waiting' THEN 3
                   WHEN 'restarting' THEN 4 WHEN 'stopping' THEN -1
                   ELSE -2 END AS status,
       pg_wal_lsn_diff(receive_start_lsn, '0/0') AS receive_start_lsn,
       receive_start_tli,
       pg_wal_lsn_diff(%FLUSHED%, '0/0') AS flushed_lsn,
       received_tli,
       extract(epoch FROM last_msg_send_time) AS last_msg_send_time,
       extract(epoch FROM last_msg_receipt_time) AS last_msg_receipt_time,
       pg_wal_lsn_diff(latest_end_lsn, '0/0') AS latest_end_lsn,
       extract(epoch FROM latest_end_time) AS latest_end_time,
       substring(slot_name FROM 'repmgr_slot_([0-9]*)')::int AS upstream_node
FROM pg_stat_wal_receiver)sql";

std::vector<ColumnMetric> Metrics() {
  constexpr Kind C = Kind::kCounter;
  return {
      {"status", "pg_stat_wal_receiver_status",
       "Receiver status: 0 stopped, 1 starting, 2 streaming, 3 waiting, 4 "
       "restarting, -1 stopping, -2 other."},
      {"receive_start_lsn", "pg_stat_wal_receiver_receive_start_lsn",
       "First WAL position used when the receiver started, as bytes.", C},
      {"receive_start_tli", "pg_stat_wal_receiver_receive_start_tli",
       "First timeline used when the receiver started."},
      {"flushed_lsn", "pg_stat_wal_receiver_flushed_lsn",
       "Last WAL position received and flushed, as bytes.", C},
      {"received_tli", "pg_stat_wal_receiver_received_tli",
       "Timeline of the last WAL position received and flushed."},
      {"last_msg_send_time", "pg_stat_wal_receiver_last_msg_send_time",
       "Unix time the last message from the sender was sent.", C},
      {"last_msg_receipt_time", "pg_stat_wal_receiver_last_msg_receipt_time",
       "Unix time the last message from the sender was received.", C},
      {"latest_end_lsn", "pg_stat_wal_receiver_latest_end_lsn",
       "Last WAL position reported to the sender, as bytes.", C},
      {"latest_end_time", "pg_stat_wal_receiver_latest_end_time",
       "Unix time of the last WAL position reported to the sender.", C},
      {"upstream_node", "pg_stat_wal_receiver_upstream_node",
       "repmgr node id of the upstream (from a repmgr_slot_N slot name)."},
  };
}

class StatWalReceiverCollector final : public ColumnCollector {
 public:
  explicit StatWalReceiverCollector(const CollectorOptions& o)
      : ColumnCollector(
            "stat_wal_receiver", o, "",
            {{"upstream_host", "upstream_host"}, {"slot_name", "slot_name"}},
            Metrics()) {}
  std::string Query(const ServerInfo& server) const override {
    return Substitute(
        kWalReceiverQuery, "%FLUSHED%",
        server.version_num >= 130000 ? "flushed_lsn" : "received_lsn");
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_wal_receiver, OnByDefault(),
                            ::pgwarden::StatWalReceiverCollector);
