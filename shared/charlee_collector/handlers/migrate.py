"""MigrateFunction: bring the schema to the newest Alembic revision.

CloudFormation invokes it on every deploy through the stack's schema custom resource (its event
has a ResponseURL: ``schema_resource`` answers there); invoked by hand, it returns the revision.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from charlee_collector.app.runtime import get_runtime
from charlee_collector.handlers import schema_resource
from charlee_collector.observability.logger import logger
from charlee_collector.store import app_role, migrate


def migrate_schema(statement_timeout_ms: int | None = None) -> str | None:
    """Upgrade the database the environment names, then create the application role's login
    (APP_DB_SECRET_ARN, when set); returns the revision afterwards."""
    runtime = get_runtime()
    engine = runtime.engine
    migrate.upgrade(engine, statement_timeout_ms=statement_timeout_ms)
    revision = migrate.current_revision(engine)
    logger.info("database migrated", extra={"revision": revision})
    if runtime.settings.app_db_secret_arn:
        login = app_role.provision_from_secret(engine, runtime.settings.app_db_secret_arn)
        logger.info("application login ready", extra={"login": login, "group": app_role.APP_GROUP})
    return revision


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str | None]:
    """Returns {"revision": the revision the database is at afterwards}; for CloudFormation, its answer."""
    if schema_resource.is_request(event):
        settings = get_runtime().settings
        answer = schema_resource.handle(
            event,
            context,
            migrate_schema,
            schema_code=settings.schema_code,
            allow_loopback=settings.schema_response_allow_loopback,
        )
        return {"status": answer.status, "revision": answer.revision}
    return {"revision": migrate_schema()}
