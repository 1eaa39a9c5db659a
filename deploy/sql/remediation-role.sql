-- The role pgwarden's remediation (--remediation.config) connects as, apart
-- from the monitoring role: it may signal other sessions and see what they
-- do, nothing more.
--   pg_signal_backend   pg_cancel_backend()/pg_terminate_backend() on any
--                       session but a superuser's (PostgreSQL refuses those)
--   pg_read_all_stats   every session's state, query and transaction start
--                       in pg_stat_activity: without it another role's
--                       session shows no state, and no rule can be checked
-- No table, schema or function privileges: it cannot read or change data
-- (before PostgreSQL 15, PUBLIC may create in schema public, which reaches
-- every role; the read-only sessions below refuse it).
-- Its sessions are read-only (default_transaction_read_only), and it holds
-- one connection (a second for a restart overlapping the old process).
--
--   psql -d postgres -f deploy/sql/remediation-role.sql
--   psql -d postgres -c '\password pgwarden_remediation'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgwarden_remediation') THEN
    CREATE ROLE pgwarden_remediation LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
      NOREPLICATION NOBYPASSRLS;
  END IF;
END
$$;
GRANT pg_signal_backend, pg_read_all_stats TO pgwarden_remediation;
ALTER ROLE pgwarden_remediation SET default_transaction_read_only = on;
ALTER ROLE pgwarden_remediation CONNECTION LIMIT 2;
