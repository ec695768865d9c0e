-- Runs once, as the superuser, when the postgres volume is first initialised
-- (the postgres image executes /docker-entrypoint-initdb.d/*.sql).
--
-- prm_owner owns the database and every table and runs the migrations.
-- prm_app is the role web, worker and beat connect as: not a superuser, not
-- BYPASSRLS and not the tables' owner, so forced row-level security binds it.
-- Passwords come from the container's environment (psql's \getenv).
\set ON_ERROR_STOP on
\getenv owner_password PRM_OWNER_DB_PASSWORD
\getenv app_password PRM_APP_DB_PASSWORD

CREATE ROLE prm_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB
    PASSWORD :'owner_password';
CREATE ROLE prm_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB
    PASSWORD :'app_password';

CREATE DATABASE prm OWNER prm_owner ENCODING 'UTF8';
REVOKE ALL ON DATABASE prm FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE prm TO prm_app;
