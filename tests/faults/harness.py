"""How the fault tests drive the handlers and read the result back (fixtures are in conftest.py).

The collector handler is called as Lambda calls it: with an SQS-shaped event (the poller's own
``sqs_event``), either built from bodies (``collect``) or from messages really received from
the moto queue (``Poller.poll_once`` / ``drain``), so acknowledgement is observed as SQS sees it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import collector_handler
import dispatcher_handler
from sqlalchemy import Engine, func, select

from charlee_collector.store.tables import opportunities, platforms, runs
from charlee_collector_tools.local.handlers import LocalLambdaContext, scheduled_event
from charlee_collector_tools.local.poller import Poller, sqs_event
from charlee_collector_tools.local.sqs import queue_arn
from tests.support.aws import Queues

ARN = "arn:aws:sqs:us-east-1:123456789012:collect"


def collector_context() -> LocalLambdaContext:
    return LocalLambdaContext("CollectorFunction")


def message(body: str, message_id: str | None = None) -> dict[str, Any]:
    """A received SQS message as boto3 returns it (what ``sqs_event`` turns into a record)."""
    message_id = message_id or str(uuid.uuid4())
    return {"MessageId": message_id, "ReceiptHandle": f"handle-{message_id}", "Body": body}


def collect(messages: Iterable[Mapping[str, Any]], context: LocalLambdaContext | None = None) -> set[str]:
    """Run one batch through the collector handler; returns the ids it reported failed."""
    event = sqs_event([dict(m) for m in messages], ARN)
    response = collector_handler.handler(event, context or collector_context())
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def dispatch_scheduled() -> dict[str, int]:
    return dispatcher_handler.handler(scheduled_event(), LocalLambdaContext("DispatcherFunction"))


def body(platform_id: int, **fields: Any) -> str:
    return json.dumps({"platform_id": platform_id, **fields})


def scheduled(platform_id: int) -> str:
    """A collect message as the dispatcher sends it on the schedule (not forced)."""
    return body(platform_id, trigger="schedule", force=False)


def send(queues: Queues, *bodies: str) -> list[str]:
    """Put messages on the collect queue; returns their message ids in order."""
    return [queues.sqs.send_message(QueueUrl=queues.url, MessageBody=b)["MessageId"] for b in bodies]


def poller(queues: Queues, *, context: LocalLambdaContext | None = None, **options: Any) -> Poller:
    """A poller feeding the collect queue to the collector handler (with ``context``, when given,
    instead of a fresh one per batch)."""
    handler = collector_handler.handler
    if context is not None:

        def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
            return collector_handler.handler(event, context)

    return Poller(queues.sqs, queues.url, queue_arn(queues.sqs, queues.url), handler, **options)


def drain(queues: Queues, *, timeout_seconds: float = 60) -> Poller:
    """Feed the queue to the collector handler until it is empty (failures go round to the DLQ)."""
    running = poller(queues)
    running.drain(timeout_seconds=timeout_seconds, idle_wait_seconds=0.05)
    return running


# --- payloads a platform can serve --------------------------------------------------------------


def json_api_config(url: str, **overrides: Any) -> dict[str, Any]:
    """A json_api platform config reading ``{"jobs": [{"id", "title", "description", "url"}]}``."""
    return {"url": url, "items": "jobs", **overrides}


def jobs_payload(count: int, prefix: str = "job") -> bytes:
    return json.dumps(
        {
            "jobs": [
                {
                    "id": f"{prefix}-{n}",
                    "title": f"{prefix} number {n}",
                    "description": f"<p>Work item {n}</p>",
                    "url": f"https://jobs.example/{prefix}/{n}",
                }
                for n in range(count)
            ]
        }
    ).encode()


# --- reading the database back ------------------------------------------------------------------


def platform_row(engine: Engine, platform_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(platforms).where(platforms.c.id == platform_id)).one()


def runs_of(engine: Engine, platform_id: int) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(runs).where(runs.c.platform_id == platform_id).order_by(runs.c.id)).all()
        )


def opportunity_count(engine: Engine, platform_id: int | None = None) -> int:
    query = select(func.count()).select_from(opportunities)
    if platform_id is not None:
        query = query.where(opportunities.c.platform_id == platform_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def inserted_total(engine: Engine, platform_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.sum(runs.c.inserted), 0)).where(runs.c.platform_id == platform_id)
            ).scalar_one()
        )
