-- docker-compose.yml's `databases` service: Keycloak's and registro's roles and databases on the
-- one PostgreSQL server, as `make prod-up` makes them (tools/stack/prod.py, ensure_databases).
\set ON_ERROR_STOP on
\set name keycloak
\getenv password KC_DB_PASSWORD
\ir role-database.sql
\set name registro
\getenv password REGISTRO_DB_PASSWORD
\ir role-database.sql
