#!/bin/sh
# Runs once, when the postgres image initialises an empty data folder. Creates the login
# roles of the migrations with passwords, so that the API, the worker and support can
# authenticate over TCP. Migration 0001 finds them and leaves them as they are.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v api_password="$TOLLGATE_API_PASSWORD" \
    -v worker_password="$TOLLGATE_WORKER_PASSWORD" \
    -v support_password="$TOLLGATE_SUPPORT_PASSWORD" <<'SQL'
CREATE ROLE tollgate_api LOGIN PASSWORD :'api_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE ROLE tollgate_worker LOGIN PASSWORD :'worker_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE ROLE tollgate_support LOGIN PASSWORD :'support_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
SQL
