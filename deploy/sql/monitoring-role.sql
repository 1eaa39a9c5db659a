-- Least-privilege role for pgwarden: a login that is a member of pg_monitor
-- (PostgreSQL 10+), nothing more. pg_monitor lets it read every session's
-- activity, locks and pg_blocking_pids(), all settings, and
-- pg_stat_statements for all users; it cannot read or change table data.
-- The exporter's own session is read-only (default_transaction_read_only).
--
--   psql -d postgres -f deploy/sql/monitoring-role.sql
--   psql -d postgres -c '\password pgwarden'     # or use peer/cert auth
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgwarden') THEN
    CREATE ROLE pgwarden LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
END
$$;
GRANT pg_monitor TO pgwarden;
-- A monitoring login should not be able to starve the server it watches;
-- pgwarden holds at most --max_database_connections (default 5), its
-- activity sampler's connection included, and each /probe target as many;
-- the rest is room for a restart overlapping the old process, or a second
-- pgwarden (the demo runs one over TLS beside the plain one).
ALTER ROLE pgwarden CONNECTION LIMIT 12;
