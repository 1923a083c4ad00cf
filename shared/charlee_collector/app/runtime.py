"""The process-wide parts a handler reuses across invocations: settings, engine, HTTP and SQS clients.

Built on first use, not at import, so a cold start does no network I/O until it must and
tests can point the environment elsewhere and call ``reset()``.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from charlee_collector.core.aws import aws_region
from charlee_collector.core.errors import ConfigurationError
from charlee_collector.core.settings import Settings
from charlee_collector.store.engine import get_engine

if TYPE_CHECKING:  # the dispatcher never fetches: keep httpx out of its cold start
    import httpx

    from charlee_collector.app.publishing import EventBus


class Runtime:
    """Lazily built clients for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        return get_engine(self.settings)

    @cached_property
    def http(self) -> httpx.Client:
        from charlee_collector.fetching.client import build_client

        return build_client(self.settings)

    @cached_property
    def ses(self) -> Any:
        """The SES client alerts by email are sent with (the notifier's)."""
        import boto3

        return boto3.session.Session(region_name=aws_region()).client("ses")

    @cached_property
    def sqs(self) -> Any:
        return new_sqs_client()

    @cached_property
    def event_bus(self) -> EventBus | None:
        """The stack's bus (EVENT_BUS_NAME), or None: then events wait in the outbox."""
        if not self.settings.event_bus_name:
            return None
        from charlee_collector.app.publishing import EventBus

        return EventBus(_LazyEventsClient(), self.settings.event_bus_name)

    @property
    def queue_url(self) -> str:
        if not self.settings.collect_queue_url:
            raise ConfigurationError(
                "environment variable COLLECT_QUEUE_URL is not set (the queue the dispatcher sends "
                "collection requests to; with a local moto or LocalStack, AWS_ENDPOINT_URL too)"
            )
        return self.settings.collect_queue_url


def new_sqs_client(*, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 SQS client with one pooled connection per dispatcher send thread.

    botocore's default pool (10) is smaller than the dispatcher's send threads: it would open
    and drop a connection for every call beyond it (and log "connection pool is full").
    """
    import boto3
    from botocore.config import Config

    from charlee_collector.app.dispatch import SEND_THREADS

    config = Config(max_pool_connections=SEND_THREADS)
    return boto3.client("sqs", region_name=region or aws_region(), endpoint_url=endpoint_url, config=config)


def new_events_client(*, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 EventBridge client that gives up fast: a collection publishes after its commit,
    and an EventBridge that is down must not hold it (the outbox keeps the event for a tick)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client(
        "events", region_name=region or aws_region(), endpoint_url=endpoint_url, config=config
    )


class _LazyEventsClient:
    """The EventBridge client, built on the first PutEvents: most collections change nothing,
    and a collector instance that never publishes should not pay for the client."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()

    def put_events(self, **request: Any) -> Any:
        with self._lock:
            if self._client is None:
                self._client = new_events_client()
        return self._client.put_events(**request)


_runtime: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The runtime of this process, created from the environment on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(Settings.from_env())
        return _runtime


def reset() -> None:
    """Forget the runtime (tests that change the environment call this)."""
    global _runtime
    with _lock:
        if _runtime is not None and "http" in _runtime.__dict__:
            _runtime.http.close()
        _runtime = None
