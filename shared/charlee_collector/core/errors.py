"""Every failure the package raises, in one tree under ``CollectorError``.

``ConfigurationError``: a missing or malformed environment variable (fails at cold start).
``SourceError``: anything a source or the HTTP layer raises: ``TransientSourceError`` (worth a
retry), ``PermanentSourceError`` and its ``InvalidPlatformConfig`` (retrying cannot help),
``RateLimited`` and ``FetchDeferred`` (both carry ``retry_at``). ``InvalidMessage``: a collect message
or dispatcher event that fails its schema. ``InvalidProfile``: a user's profile that fails its schema; ``InvalidAlertRule``: an alert rule
that fails its schema; ``InvalidChannelSecret``: a channel's secret without what it needs. ``app/collect.py`` is the one place that decides where
each goes (docs/faults.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class CollectorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(CollectorError):
    """An environment variable is missing or malformed."""


class SourceError(CollectorError):
    """A source could not deliver opportunities."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class TransientSourceError(SourceError):
    """Network trouble, a timeout or a 5xx: the same request may work later."""


class PermanentSourceError(SourceError):
    """A 4xx, an unparseable payload or a bad config: retrying cannot help."""


class InvalidPlatformConfig(PermanentSourceError):
    """The platform's ``config`` does not match its source's schema."""


class RateLimited(SourceError):
    """The platform asked us to come back later (429, or 503 with Retry-After)."""

    def __init__(self, message: str, *, retry_at: datetime, http_status: int | None = None) -> None:
        super().__init__(message, http_status=http_status)
        self.retry_at = retry_at


class FetchDeferred(SourceError):
    """No slot on the host (or the shared fetch in flight did not finish) soon enough: the
    collection is recorded ``deferred`` and the platform is due again at ``retry_at``."""

    def __init__(self, message: str, *, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class InvalidMessage(CollectorError):
    """A collect message or dispatcher event does not match its schema."""


class InvalidProfile(CollectorError):
    """A user's scoring profile does not match its schema (the message names the field)."""


class InvalidAlertRule(CollectorError):
    """A user's alert rule does not match its schema (the message names the field)."""


class InvalidChannelSecret(CollectorError):
    """An alert channel's secret does not hold what the channel needs (the message names the key,
    never the value)."""


def validation_problems(error: Any, *, whole: str = "(config)") -> str:
    """A pydantic ``ValidationError`` on one line: each problem (the first five) with the field it is
    in (``whole`` when it is the whole value)."""
    problems = []
    for detail in error.errors()[:5]:
        where = ".".join(str(part) for part in detail["loc"]) or whole
        problems.append(f"field {where!r}: {detail['msg']}")
    return "; ".join(problems)
