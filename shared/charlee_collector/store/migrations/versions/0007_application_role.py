"""The application role: DML on the collector's tables, no right to change the schema.

Creates ``charlee_collector_app`` (``store/app_role.py``), a role that cannot log in, and grants it
SELECT, INSERT, UPDATE and DELETE on every table of the schema but ``alembic_version``, use of the
sequences, and the same on what later migrations create (default privileges of the migrating
user). The login the dispatcher and the collector use becomes a member of it after the upgrade
(MigrateFunction, ``APP_DB_SECRET_ARN``). Rows are untouched.

Roles belong to the server, not the database: the role may exist already (another database on
the same server), and the downgrade revokes what this database granted but leaves the role (drop
it by hand once no database uses it). A migrating user without CREATEROLE gets a notice and no
role: the functions then keep using the secret they were given.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from charlee_collector.store.app_role import APP_GROUP

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        f"""
DO $$
DECLARE
    s text := current_schema();
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_GROUP}') THEN
        BEGIN
            CREATE ROLE {APP_GROUP} NOLOGIN;
        EXCEPTION
            -- Another database's migration on the same server created it a moment ago.
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'no CREATEROLE: {APP_GROUP} not created, the functions keep their login';
                RETURN;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_GROUP}', s);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {APP_GROUP}', s);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {APP_GROUP}', s);
    EXECUTE format('REVOKE ALL ON TABLE %I.alembic_version FROM {APP_GROUP}', s);
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_GROUP}', s
    );
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO {APP_GROUP}', s);
END
$$
"""
    )


def downgrade() -> None:
    op.execute(
        f"""
DO $$
DECLARE
    s text := current_schema();
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_GROUP}') THEN
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_GROUP}', s
        );
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_GROUP}', s);
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {APP_GROUP}', s);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM {APP_GROUP}', s);
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {APP_GROUP}', s);
    END IF;
END
$$
"""
    )
