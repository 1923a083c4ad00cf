"""Typed settings, parsed once from the environment.

A missing or malformed variable raises ``ConfigurationError`` naming it, so a bad deploy fails
at cold start instead of in the middle of a batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import TypeVar

from charlee_collector.core.errors import ConfigurationError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_optional_bool(raw: str) -> bool | None:
    return _parse_bool(raw)


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _positive_seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value < float("inf"):
        raise ValueError(f"expected a positive number of seconds, got {raw!r}")
    return value


WEBHOOK_FORMATS = ("slack", "discord", "text")


def _webhook_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in WEBHOOK_FORMATS:
        raise ValueError(f"expected one of {', '.join(WEBHOOK_FORMATS)}, got {raw!r}")
    return value


def _seconds_or_zero(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError(f"expected 0 or a positive number of seconds, got {raw!r}")
    return value


def _read(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigurationError(f"environment variable {name} is malformed: {exc}") from exc


@dataclass(frozen=True)
class SchedulingPolicy:
    """How a platform's next collection moves after each outcome (docs/architecture.md, Scheduling)."""

    max_backoff: timedelta = timedelta(hours=24)
    pause_after_failures: int = 10


@dataclass(frozen=True)
class Settings:
    """Everything the handlers and the CLI read from the environment."""

    database_url: str | None = field(default=None, repr=False)  # may hold a password
    db_secret_arn: str | None = None
    # MigrateFunction: the application role's secret; it creates that role (store/app_role.py).
    app_db_secret_arn: str | None = None
    # None: TLS for every host but this machine (store/tls.py); False only when DB_TLS asks.
    db_tls: bool | None = None
    # A PEM file the database's certificate must chain to, instead of what store/tls.py picks.
    db_ca_bundle: str | None = None
    # Where to connect when it is not (or not only) the secret's host: the stack's own Aurora
    # cluster (its RDS-managed secret holds only username and password) or an RDS Proxy.
    db_host: str | None = None
    db_name: str | None = None
    # pg8000's socket timeout: a connect (and any read) that gets no answer fails after this.
    # Aurora Serverless v2 holds a connect while it resumes from 0 ACUs (up to ~15 s).
    db_connect_timeout: float = 10.0
    db_pool_size: int = 4
    # MigrateFunction: the layer version (the migrations) it runs; the schema custom resource
    # compares it with the one a request names to tell a rollback (schema_resource.py).
    schema_code: str | None = None
    # Tests only: the schema custom resource may answer a loopback ResponseURL (their stand-in
    # for CloudFormation). Never set in the template: in Lambda, 127.0.0.1 is the runtime API.
    schema_response_allow_loopback: bool = False
    collect_queue_url: str | None = None
    allow_private_networks: bool = False
    # The names a platform's credentials_secret may have (charlee/<stack>/): the collector's role
    # reads no others. None: any name of that shape (app/platform_secrets.py).
    platform_secret_prefix: str | None = None
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 20.0
    max_response_bytes: int = 10 * 1024 * 1024
    collector_concurrency: int = 4
    time_margin_ms: int = 30_000
    # One collection's wall-clock limit (connect, TLS, headers, redirects, body, every page).
    # 40 s: above one slow response (5 s connect + 20 s read), and two worst-case collections
    # back to back plus the margin (2 x 40 + 30 s) fit in the collector's 120 s timeout, so a
    # batch whose first wave is all dripping hosts still starts its next records.
    collection_deadline_seconds: float = 40.0
    # Platforms per dispatcher claim. 500: against an SQS-like latency (bench/dispatch.py) claims
    # of 100 leave send threads idle at every claim boundary, 500 keeps them busy, 1000 gains
    # nothing more but doubles what a failed claim releases or a crashed dispatcher delays.
    dispatch_batch_size: int = 500
    scheduling: SchedulingPolicy = field(default_factory=SchedulingPolicy)
    # The stack's event bus (app/publishing.py publishes there); None: events wait in the outbox.
    event_bus_name: str | None = None
    # Local runs only: the local bus posts each event's summary here (in AWS the stack's API
    # destination does). The URL is a secret (a Slack webhook's path is its token).
    events_webhook_url: str | None = field(default=None, repr=False)
    events_webhook_format: str = "slack"
    # Politeness at scale (politeness/). How long one upstream response serves every platform
    # with the same request key, at most; each platform's own interval bounds it further. 0
    # turns sharing off (every platform fetches for itself; host limits still apply).
    shared_fetch_window_seconds: float = 900.0
    # How long a collection waits for another's fetch of the same key, or for a host slot,
    # before it records a deferred run instead of spending its Lambda time asleep.
    shared_fetch_wait_seconds: float = 10.0
    host_slot_wait_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse the settings from ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            db_secret_arn=env.get("DB_SECRET_ARN") or None,
            app_db_secret_arn=env.get("APP_DB_SECRET_ARN") or None,
            db_tls=_read(env, "DB_TLS", _parse_optional_bool, None),
            db_ca_bundle=env.get("DB_CA_BUNDLE") or None,
            db_host=env.get("DB_HOST") or None,
            db_name=env.get("DB_NAME") or None,
            db_connect_timeout=_read(env, "DB_CONNECT_TIMEOUT", _positive_seconds, 10.0),
            db_pool_size=_read(env, "DB_POOL_SIZE", _positive_int, 4),
            schema_code=env.get("SCHEMA_CODE") or None,
            schema_response_allow_loopback=_read(env, "SCHEMA_RESPONSE_ALLOW_LOOPBACK", _parse_bool, False),
            collect_queue_url=env.get("COLLECT_QUEUE_URL") or None,
            allow_private_networks=_read(env, "COLLECTOR_ALLOW_PRIVATE_NETWORKS", _parse_bool, False),
            platform_secret_prefix=env.get("PLATFORM_SECRET_PREFIX") or None,
            http_connect_timeout=_read(env, "HTTP_CONNECT_TIMEOUT", float, 5.0),
            http_read_timeout=_read(env, "HTTP_READ_TIMEOUT", float, 20.0),
            max_response_bytes=_read(env, "MAX_RESPONSE_BYTES", _positive_int, 10 * 1024 * 1024),
            collector_concurrency=_read(env, "COLLECTOR_CONCURRENCY", _positive_int, 4),
            time_margin_ms=_read(env, "TIME_MARGIN_MS", _positive_int, 30_000),
            collection_deadline_seconds=_read(env, "COLLECTION_DEADLINE_SECONDS", _positive_seconds, 40.0),
            dispatch_batch_size=_read(env, "DISPATCH_BATCH_SIZE", _positive_int, 500),
            scheduling=SchedulingPolicy(
                max_backoff=timedelta(minutes=_read(env, "MAX_BACKOFF_MINUTES", _positive_int, 24 * 60)),
                pause_after_failures=_read(env, "PAUSE_AFTER_FAILURES", _positive_int, 10),
            ),
            event_bus_name=env.get("EVENT_BUS_NAME") or None,
            events_webhook_url=env.get("EVENTS_WEBHOOK_URL") or None,
            events_webhook_format=_read(env, "EVENTS_WEBHOOK_FORMAT", _webhook_format, "slack"),
            shared_fetch_window_seconds=_read(env, "SHARED_FETCH_WINDOW_SECONDS", _seconds_or_zero, 900.0),
            shared_fetch_wait_seconds=_read(env, "SHARED_FETCH_WAIT_SECONDS", _seconds_or_zero, 10.0),
            host_slot_wait_seconds=_read(env, "HOST_SLOT_WAIT_SECONDS", _seconds_or_zero, 5.0),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, parsed on first use and reused across invocations."""
    return Settings.from_env()
