"""Source adapters: the public API the collector calls.

``validate_config(source, config)`` -> its pydantic Config; ``fetch_platform(source, config, fetcher,
...)`` -> ``FetchResult`` (``ok`` or ``not_modified``): validate, fetch through the collection's
``Fetcher``, parse in its CPU ``turn``, normalise, de-duplicate, filter; ``parse_items(source, body,
config)``: one response body, pure; ``SOURCE_KEYS``: every known ``freelance_platforms.source``;
``uses_oauth_tokens(source)``: whether its secret holds OAuth2 tokens the collector refreshes.
Only ``SourceError`` is raised (``RateLimited`` carrying ``retry_at``, ``TransientSourceError``,
``PermanentSourceError``, ``InvalidPlatformConfig``), with every secret value in it masked (``***``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from charlee_collector.core.errors import (
    InvalidPlatformConfig,
    PermanentSourceError,
    SourceError,
    validation_problems,
)
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.fetching.client import Fetcher
from charlee_collector.normalize.filters import BaseSourceConfig, apply_filters
from charlee_collector.normalize.opportunities import dedupe
from charlee_collector.sources.base import FetchResult, Source, Turn
from charlee_collector.sources.registry import REGISTRY, get_source

SOURCE_KEYS: tuple[str, ...] = tuple(REGISTRY)

__all__ = [
    "SOURCE_KEYS",
    "FetchResult",
    "Source",
    "fetch_platform",
    "get_source",
    "parse_items",
    "uses_oauth_tokens",
    "validate_config",
]


def validate_config(source: str, config: Mapping[str, Any] | None) -> BaseSourceConfig:
    """The platform's config validated against its source's schema.

    Raises ``InvalidPlatformConfig`` naming the offending field(s), or the unknown source.
    """
    adapter = get_source(source)
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise InvalidPlatformConfig(
            f"config for source {source!r} must be a JSON object, got {type(config).__name__}"
        )
    try:
        return adapter.Config.model_validate(dict(config))
    except ValidationError as exc:
        message = f"invalid config for source {source!r}: {validation_problems(exc)}"
        if any(detail["type"] == "extra_forbidden" for detail in exc.errors()):
            # A typo ("keyword") is the usual cause: say what would have been accepted.
            message += f"; its keys are {', '.join(adapter.Config.model_fields)}"
        raise InvalidPlatformConfig(message) from None


def _redacted(exc: SourceError, secrets: Mapping[str, str]) -> SourceError:
    from charlee_collector.observability.redaction import mask_secrets

    # The door every error of a source passes before it is stored (collection_runs.error,
    # last_error); the politeness layer's stored texts pass the same ``mask_secrets``.
    message = mask_secrets(str(exc), secrets.values())
    if message != str(exc):
        exc.args = (message,)
    return exc


def fetch_platform(
    source: str,
    config: Mapping[str, Any] | None,
    fetcher: Fetcher,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    secrets: Mapping[str, str] | None = None,
    turn: Turn = nullcontext,
) -> FetchResult:
    """Collect one platform through ``fetcher``: validate, fetch, parse, normalise, de-duplicate, filter."""
    adapter = get_source(source)
    validated = validate_config(source, config)
    secrets = dict(secrets or {})
    try:
        result = adapter.fetch(
            validated, fetcher, etag=etag, last_modified=last_modified, secrets=secrets, turn=turn
        )
    except SourceError as exc:
        _redacted(exc, secrets)
        raise
    except Exception as exc:  # a bug must still surface as a SourceError the collector can route
        raise _redacted(
            PermanentSourceError(f"{source}: unexpected {type(exc).__name__} while collecting: {exc}"),
            secrets,
        ) from exc
    if result.outcome != "ok":
        return result
    unique = dedupe(result.items)
    kept = apply_filters(unique, validated, now=datetime.now(UTC))
    return FetchResult(
        outcome="ok",
        items=kept,
        etag=result.etag,
        last_modified=result.last_modified,
        http_status=result.http_status,
        filtered_out=len(unique) - len(kept),
    )


def uses_oauth_tokens(source: str) -> bool:
    """Whether ``source``'s credentials secret holds OAuth2 tokens to keep fresh (an unknown source: no)."""
    adapter = REGISTRY.get(source)
    return adapter is not None and adapter.oauth_tokens


def parse_items(source: str, body: bytes, config: Mapping[str, Any] | None) -> list[Opportunity]:
    """The normalised opportunities in one response body (no network, filters not applied)."""
    adapter = get_source(source)
    return adapter.parse_payload(body, validate_config(source, config))
