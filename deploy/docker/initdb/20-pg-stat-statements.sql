-- The compose demo's password for the pgwarden role (deploy/docker/pgwarden-password.txt).
ALTER ROLE pgwarden PASSWORD 'pgwarden-demo';
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
