"""MigrateFunction: bring the schema to the newest Alembic revision (invoked by hand after deploy)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from charlee_collector import migrate
from charlee_collector.observability import logger
from charlee_collector.runtime import get_runtime


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str | None]:
    """Returns {"revision": the revision the database is at afterwards}."""
    engine = get_runtime().engine
    migrate.upgrade(engine)
    revision = migrate.current_revision(engine)
    logger.info("database migrated", extra={"revision": revision})
    return {"revision": revision}
