"""Four dispatchers started at the same moment: every due platform is enqueued exactly once
(claims are row locks plus a moved ``next_collection_at``, DESIGN section 3).

Each dispatcher is its own "Lambda": its own engine (connection pool) and its own SQS client,
released together by a barrier.

Over 2,000 platforms the messages go to ``RecordingSqs``, a thread-safe stand-in that answers
SendMessageBatch as SQS does and keeps every body: moto (5.2) recounts the whole queue on every
SendMessage and ReceiveMessage, so 2,000 messages cost it ~8 minutes on this machine. The same
race over 100 platforms runs against the moto server over HTTP, and every message is read back
from the queue.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import URL, Engine, func, select

from charlee_collector.app.dispatch import DispatchSummary, dispatch
from charlee_collector.app.messages import CollectMessage, DispatchRequest, parse_collect_message
from charlee_collector.core.clock import utcnow
from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.tables import platforms
from tests.support.factories import add_platforms
from tests.support.moto_server import MotoQueues

DISPATCHERS = 4
SCHEDULE = DispatchRequest("schedule")


class RecordingSqs:
    """SendMessageBatch as SQS answers it (at most ten entries, distinct ids), every body kept."""

    def __init__(self, latency_seconds: float = 0.002) -> None:
        self.latency_seconds = latency_seconds
        self._lock = threading.Lock()
        self.bodies: list[str] = []
        self.calls = 0

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [entry["Id"] for entry in Entries]
        assert 1 <= len(Entries) <= 10, "SQS refuses a batch of more than ten entries"
        assert len(set(ids)) == len(ids), "SQS refuses a batch with repeated entry ids"
        time.sleep(self.latency_seconds)  # a network call: lets the dispatchers interleave
        with self._lock:
            self.calls += 1
            self.bodies.extend(entry["MessageBody"] for entry in Entries)
        return {"Successful": [{"Id": i, "MessageId": str(uuid.uuid4())} for i in ids], "Failed": []}


def _race(postgres_url: URL, clients: list[Any], queue_url: str, batch_size: int) -> list[DispatchSummary]:
    """Four dispatchers, each with its own engine and client, started by one barrier."""
    engines = [create_db_engine(postgres_url) for _ in range(DISPATCHERS)]
    start = threading.Barrier(DISPATCHERS)

    def dispatcher(n: int) -> DispatchSummary:
        start.wait(timeout=30)
        return dispatch(engines[n], clients[n], queue_url, SCHEDULE, batch_size=batch_size)

    try:
        with ThreadPoolExecutor(max_workers=DISPATCHERS) as pool:
            return list(pool.map(dispatcher, range(DISPATCHERS)))
    finally:
        for engine in engines:
            engine.dispose()


def _assert_each_enqueued_once(
    summaries: list[DispatchSummary],
    bodies: list[str],
    ids: list[int],
    engine: Engine,
    *,
    shared: bool = True,
) -> None:
    total = sum(summaries, DispatchSummary())
    assert total.as_dict() == {"due": len(ids), "dispatched": len(ids), "failed": 0}
    if shared:
        # The work really was shared: more than one dispatcher claimed platforms.
        assert sum(1 for s in summaries if s.dispatched) > 1, summaries
    messages = [parse_collect_message(b) for b in bodies]
    per_platform = Counter(m.platform_id for m in messages)
    assert set(per_platform) == set(ids)
    assert max(per_platform.values()) == 1, per_platform.most_common(3)
    assert len(messages) == len(ids)
    assert {(m.trigger, m.force) for m in messages} == {("schedule", False)}
    # Every claim moved its platform's next collection forward: nothing is due any more.
    with engine.connect() as conn:
        due = conn.execute(
            select(func.count())
            .select_from(platforms)
            .where(platforms.c.next_collection_at.is_(None) | (platforms.c.next_collection_at <= utcnow()))
        ).scalar_one()
    assert due == 0


def test_four_dispatchers_at_once_over_2000_platforms(pg_engine: Engine, postgres_url: URL) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 2_000)
    sqs = RecordingSqs()

    summaries = _race(postgres_url, [sqs] * DISPATCHERS, "https://sqs.local/collect", batch_size=100)

    _assert_each_enqueued_once(summaries, sqs.bodies, ids, pg_engine)
    assert sqs.calls >= 200  # at most ten messages per call
    # A fifth tick afterwards finds nothing to do.
    assert dispatch(pg_engine, sqs, "https://sqs.local/collect", SCHEDULE).due == 0


def _receive_every_message(moto_queues: MotoQueues) -> list[dict[str, Any]]:
    """Every message on the collect queue, received once and kept invisible while counting."""
    sqs, url = moto_queues.sqs, moto_queues.queue_url
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
        "Messages", []
    ):
        received.extend(batch)
    return received


def test_four_dispatchers_at_once_through_a_real_queue(
    pg_engine: Engine, postgres_url: URL, moto_queues: MotoQueues
) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 100)
    clients = [moto_queues.server.client() for _ in range(DISPATCHERS)]

    # Small claims, so each dispatcher goes round its claim-and-send loop several times.
    summaries = _race(postgres_url, clients, moto_queues.queue_url, batch_size=10)

    messages = _receive_every_message(moto_queues)
    _assert_each_enqueued_once(summaries, [m["Body"] for m in messages], ids, pg_engine)
    assert all(CollectMessage.model_validate_json(m["Body"]).requested_at for m in messages)
