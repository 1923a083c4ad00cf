"""Every sample event in events/ invoked against its handler (none may be left unused)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import collector_handler
import dispatcher_handler
import migrate_handler
import pytest
from sqlalchemy import Engine, func, select

from charlee_collector.store.tables import opportunities, runs
from charlee_collector_tools.cli.common import head_revision
from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.e2e.test_pipeline import FIXTURES
from tests.support.aws import Queues
from tests.support.factories import add_platform

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _failed_ids(response: dict[str, Any]) -> list[str]:
    return sorted(item["itemIdentifier"][-3:] for item in response["batchItemFailures"])


# file -> (handler, check of its answer)
EXPECTED: dict[str, tuple[Any, Callable[[Any], bool]]] = {
    # The newest revision (test_migrations.py holds it equal to its HEAD).
    "migrate.json": (migrate_handler.handler, lambda r: r == {"revision": head_revision()}),
    "scheduled.json": (dispatcher_handler.handler, lambda r: r == {"due": 2, "dispatched": 2, "failed": 0}),
    "dispatch_user.json": (dispatcher_handler.handler, lambda r: r["dispatched"] == 2),
    "dispatch_platform_ids.json": (dispatcher_handler.handler, lambda r: r["dispatched"] == 2),
    "sqs_collect_one.json": (collector_handler.handler, lambda r: r == {"batchItemFailures": []}),
    "sqs_on_demand.json": (collector_handler.handler, lambda r: r == {"batchItemFailures": []}),
    # The malformed body and the wrong schema fail (-> DLQ); the unknown platform is acknowledged.
    "sqs_collect_mixed.json": (collector_handler.handler, lambda r: _failed_ids(r) == ["002", "003"]),
}


def test_every_event_file_is_covered() -> None:
    # env.*.json are `sam local invoke --env-vars` files, not events (tests/unit/test_sam_local_env.py).
    names = [p.name for p in EVENTS.glob("*.json") if not p.name.startswith("env.")]
    assert sorted(names) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_file(
    name: str,
    pipeline_env: None,
    pg_engine: Engine,
    queues: Queues,
    http_server: Any,
) -> None:
    http_server.route_file("/wwr.rss", FIXTURES / "rss_wwr.xml")
    with pg_engine.begin() as conn:
        ids = [
            add_platform(conn, source="rss", config={"url": http_server.url("/wwr.rss")}) for _ in range(2)
        ]
    assert ids == [1, 2]  # the sample events name platforms 1 and 2
    handler, check = EXPECTED[name]

    answer = handler(json.loads((EVENTS / name).read_text()), LocalLambdaContext("Function"))

    assert check(answer), answer
    if handler is collector_handler.handler:
        with pg_engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(opportunities)).scalar_one() > 0
            assert conn.execute(select(runs.c.outcome)).scalars().all() == ["success"]
    if handler is dispatcher_handler.handler:
        assert queues.depth() == answer["dispatched"]
