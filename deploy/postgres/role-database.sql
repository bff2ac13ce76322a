-- One service's role and the database it owns, both named :name; the password is (re)set from
-- :password each time (the caller reads it from the environment with \getenv, never from its
-- command line). Run by tools/stack/prod.py (ensure_database) and by docker-compose.yml's
-- `databases` service through databases.sql, so both set the server up the same way.
-- The owner creates trusted extensions (unaccent, pg_trgm) in its own database by itself.
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'name', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
-- PostgreSQL gives CONNECT on a new database to PUBLIC: only its owner connects.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
