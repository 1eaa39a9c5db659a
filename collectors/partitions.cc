// partitions: partitioned tables of every database, and how far ahead their
// time-range partitions reach.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "partitioned tables: partitions, default partition, time-range runway";

// Top-level partitioned tables only (a sub-partitioned child is counted
// once, as its parent's partition). upper_bound is the highest finite upper
// bound among the partitions of a table range-partitioned on one date or
// timestamp column: inserts past it fail unless a default partition exists.
// pg_get_expr() prints a bound as FOR VALUES FROM ('...') TO ('...').
constexpr char kPartitionsQuery[] = R"sql(
SELECT current_database()::text AS datname, n.nspname::text AS schemaname,
       p.relname::text AS relname,
       (SELECT count(*) FROM pg_inherits h WHERE h.inhparent = p.oid) AS children,
       (pt.partdefid <> 0)::int AS has_default,
       CASE WHEN pt.partstrat = 'r' AND pt.partnatts = 1 AND a.atttypid IN
                 ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
       THEN (SELECT max(extract(epoch FROM b.bound))
             FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
             CROSS JOIN LATERAL (
               SELECT substring(pg_get_expr(c.relpartbound, c.oid)
                                FROM 'TO \(''([^'']+)''\)')::timestamptz AS bound) b
             WHERE h.inhparent = p.oid AND isfinite(b.bound))
       END AS upper_bound
FROM pg_partitioned_table pt
JOIN pg_class p ON p.oid = pt.partrelid
JOIN pg_namespace n ON n.oid = p.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
WHERE NOT p.relispartition
ORDER BY children DESC, 2, 3
LIMIT %LIMIT%)sql";

class PartitionsCollector final : public ColumnCollector {
 public:
  explicit PartitionsCollector(const CollectorOptions& o)
      : ColumnCollector("partitions", o, kPartitionsQuery, TableLabels(),
                        {{"children", "pg_partitions_children",
                          "Partitions attached to the partitioned table."},
                         {"has_default", "pg_partitions_has_default",
                          "1 if the table has a default partition."},
                         {"upper_bound",
                          "pg_partitions_range_upper_bound_timestamp_seconds",
                          "Unix time of the newest partition's upper bound, "
                          "for tables range-partitioned on one date/timestamp "
                          "column: rows at or past it have no partition."}},
                        Scope::kPerDatabase) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(partitions, OnByDefault(300),
                            ::pgwarden::PartitionsCollector);
