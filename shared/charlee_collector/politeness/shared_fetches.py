"""The shared fetch cache: one stored response per request key, shared by every platform with it.

``request_key`` hashes (SHA-256) the source, the final URL with its query, the headers the source
sets and the credentials secret's ARN (never its value; secret values are masked first), and every
text a row keeps (its URLs, host, failure) passes ``stored_text``, the masking of the run's own
error, so no secret reaches a row. ``claim`` reads a key's row and, when it is not fresh, takes the fetch's lease
if nobody holds it: one collector fetches a key at a time; ``store`` and ``fail`` keep its response or
its failure, which the collectors that waited share. A row is fresh for the window, bounded by the
smallest interval of its readers; ``prune`` removes long-expired rows (docs/fetching.md).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update

from charlee_collector.core.errors import PermanentSourceError, SourceError, TransientSourceError
from charlee_collector.fetching.client import HttpResponse, redact_url
from charlee_collector.store.host_slots import lock_or_insert
from charlee_collector.store.runs import storable_validator, stored_error
from charlee_collector.store.tables import fetch_cache

KEEP_AFTER_EXPIRY = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=1)
_last_pruned: float | None = None  # time.monotonic() of this process's last prune
# zlib level 1: over the real captures 3.5x faster than level 6, for ~20 % more bytes.
COMPRESSION_LEVEL = 1
# Headers every request of the client carries alike, or that the cache itself sets per key.
_NOT_IN_KEY = frozenset({"user-agent", "accept-encoding", "if-none-match", "if-modified-since"})
_ERROR_KINDS: dict[str, type[SourceError]] = {
    "transient": TransientSourceError,
    "permanent": PermanentSourceError,
}


def _masked(text: str, secrets: Iterable[str]) -> str:
    # The key hashes the values masked only (what ``stored_text`` adds would change every key).
    from charlee_collector.observability.redaction import mask_values

    return mask_values(text, secrets)


def stored_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` as the politeness layer may store it: masked as the run's error is
    (``mask_secrets``: the platform's secret values, then credentials in any form), cleaned."""
    from charlee_collector.observability.redaction import mask_secrets

    return stored_error(mask_secrets(text, [value for value in secrets if value])) or ""


def request_key(
    source: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    credentials_secret: str | None,
    secrets: Iterable[str] = (),
) -> str:
    """The key of one request (see the module docstring): 64 hex digits."""
    values = [value for value in secrets if value]
    varying = sorted(
        (name.lower(), _masked(value, values))
        for name, value in headers.items()
        if name.lower() not in _NOT_IN_KEY
    )
    parts = [source, _masked(str(url), values), varying, credentials_secret or ""]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One row of ``fetch_cache`` as the collector reads it."""

    key: str
    status: int | None
    etag: str | None
    last_modified: str | None
    content_type: str | None
    final_url: str | None
    body: bytes | None
    fetched_at: datetime | None
    expires_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    error_kind: str | None
    error: str | None
    error_status: int | None
    failed_at: datetime | None

    def fresh(self, now: datetime, window: timedelta) -> bool:
        """Whether this response may serve a reader whose window is ``window``."""
        if self.body is None or self.fetched_at is None or self.expires_at is None:
            return False
        return now < min(self.expires_at, self.fetched_at + window)

    def leased_by_other(self, owner: str, now: datetime) -> bool:
        return (
            self.lease_owner not in (None, owner) and self.lease_until is not None and self.lease_until > now
        )

    def failure_since(self, moment: datetime) -> SourceError | None:
        """The error of a fetch that failed at or after ``moment``, as the fetcher saw it."""
        if self.failed_at is None or self.failed_at < moment or self.error_kind not in _ERROR_KINDS:
            return None
        kind = _ERROR_KINDS[self.error_kind]
        return kind(f"{self.error} (the shared fetch of this request failed)", http_status=self.error_status)

    def response(self, url: httpx.URL) -> HttpResponse:
        """The stored response, as ``fetch.get`` would have given it for ``url``."""
        headers = {"content-type": self.content_type} if self.content_type else {}
        return HttpResponse(
            status=self.status or 200,
            body=zlib.decompress(self.body or b""),
            headers=headers,
            url=self.final_url or str(url),
            etag=self.etag,
            last_modified=self.last_modified,
            not_modified=False,
        )


_COLUMNS = [fetch_cache.c[name] for name in CacheEntry.__dataclass_fields__]


@dataclass(frozen=True)
class Claim:
    """What ``claim`` found: ``fresh`` (read it), ``leased`` (fetch it yourself), ``busy`` (wait)
    or ``failed`` (the fetch waited for failed: ``entry.failure_since``)."""

    state: str
    entry: CacheEntry


_READ_LOCKED = select(*_COLUMNS).where(fetch_cache.c.key == bindparam("key")).with_for_update()


def claim(
    conn: Connection,
    key: str,
    owner: str,
    *,
    source: str,
    url: httpx.URL,
    now: datetime,
    window: timedelta,
    lease_for: timedelta,
    waiting_since: datetime | None = None,
    fetched_since: datetime | None = None,
    secrets: Iterable[str] = (),
) -> Claim:
    """Read the key's row, taking the lease of its fetch when it is stale and nobody holds it.

    A fetch that failed since ``waiting_since`` (the caller was waiting for it) is ``failed``.
    With ``fetched_since`` (an on-demand collection), only a response fetched at or after it is
    fresh: an older one is fetched again (or the fetch in flight waited for).
    Runs in the caller's transaction; the lease is the caller's once that commits.
    """
    # Locked at once, fresh or not: a stale row (the common case, a platform's own request) is
    # leased in the same two statements, and a fresh one is read under a lock held for this
    # short transaction only (readers of one hot key queue for about a millisecond each). A new
    # key (or one pruned meanwhile) has nothing stored and nobody fetching it: it is inserted
    # already leased, in one statement.
    new_row = {
        "key": key,
        "source": source,
        "host": stored_text(url.host, secrets)[:255],
        "url": stored_text(redact_url(url), secrets)[:2048],
        "lease_owner": owner,
        "lease_until": now + lease_for,
    }
    row, inserted = lock_or_insert(conn, fetch_cache, _READ_LOCKED, {"key": key}, new_row)
    entry = CacheEntry(**row._mapping)
    if inserted:
        return Claim("leased", entry)
    recent = fetched_since is None or (entry.fetched_at is not None and entry.fetched_at >= fetched_since)
    if recent and entry.fresh(now, window):
        _lower_expiry(conn, entry, window)
        return Claim("fresh", entry)
    if entry.leased_by_other(owner, now):
        return Claim("busy", entry)
    if waiting_since is not None and entry.failure_since(waiting_since) is not None:
        return Claim("failed", entry)
    conn.execute(_LEASE, {"b_key": key, "b_owner": owner, "b_until": now + lease_for})
    return Claim("leased", entry)


def _lower_expiry(conn: Connection, entry: CacheEntry, window: timedelta) -> None:
    # A reader with a shorter interval bounds the entry for every reader.
    assert entry.fetched_at is not None and entry.expires_at is not None
    mine = entry.fetched_at + window
    if mine < entry.expires_at:
        conn.execute(
            update(fetch_cache)
            .where(fetch_cache.c.key == entry.key, fetch_cache.c.expires_at > mine)
            .values(expires_at=mine)
        )


_KEYED = update(fetch_cache).where(fetch_cache.c.key == bindparam("b_key"))
_LEASE = _KEYED.values(lease_owner=bindparam("b_owner"), lease_until=bindparam("b_until"))


@functools.cache
def _update_of(columns: tuple[str, ...]) -> Any:
    """The keyed UPDATE of ``columns``, built once per set of columns (a store writes one of two)."""
    return _KEYED.values({name: bindparam(f"b_{name}") for name in columns})


def store(
    conn: Connection,
    claimed: CacheEntry,
    owner: str,
    response: HttpResponse,
    *,
    requested: httpx.URL,
    now: datetime,
    window: timedelta,
    secrets: Iterable[str] = (),
) -> CacheEntry:
    """Keep the response just fetched (a 304 renews the stored one) and give up the lease.

    ``claimed`` is the row as ``claim`` leased it (nobody writes it while the lease holds): the
    row as stored is that with this response's values, so it is not read back.
    """
    values: dict[str, Any] = {
        "fetched_at": now,
        "expires_at": now + window,
        "etag": storable_validator(response.etag, "etag"),
        "last_modified": storable_validator(response.last_modified, "last_modified"),
        "lease_owner": None,
        "lease_until": None,
        "error_kind": None,
        "error": None,
        "error_status": None,
        "failed_at": None,
    }
    if not response.not_modified:
        final = None if response.url == str(requested) else stored_text(response.url, secrets)
        values.update(
            status=response.status,
            body=zlib.compress(response.body, COMPRESSION_LEVEL),
            content_type=(response.headers.get("content-type") or None),
            final_url=final[:2048] if final else None,
        )
    written = values if response.not_modified else {**values, "body_bytes": len(response.body)}
    conn.execute(
        _update_of(tuple(written)),
        {f"b_{name}": value for name, value in written.items()} | {"b_key": claimed.key},
    )
    _prune_now_and_then(conn, now)
    return dataclasses.replace(claimed, **values)


def refuse(
    conn: Connection,
    key: str,
    fetched_at: datetime | None,
    error: SourceError,
    *,
    now: datetime,
    secrets: Iterable[str] = (),
) -> bool:
    """Serve the response of ``key`` fetched at ``fetched_at`` no more: a reader could not parse
    it (``error``). Its body and validators are dropped, so the next collection fetches it whole
    (an unconditional GET), and ``error`` is kept as the key's failure for the collections that
    were waiting for that fetch. True when this call dropped it: the first reader to find it
    unreadable (another reader first, or another fetch since: False)."""
    if fetched_at is None:
        return False
    values = _failure_values(error, now, secrets)
    result = conn.execute(
        update(fetch_cache)
        .where(
            fetch_cache.c.key == key, fetch_cache.c.fetched_at == fetched_at, fetch_cache.c.body.is_not(None)
        )
        .values(body=None, body_bytes=None, etag=None, last_modified=None, expires_at=now, **values)
    )
    return result.rowcount == 1


def _failure_values(error: SourceError | None, now: datetime, secrets: Iterable[str]) -> dict[str, Any]:
    """The columns that keep ``error`` for the waiters (none for an error that is not a source's)."""
    kind = next((name for name, cls in _ERROR_KINDS.items() if isinstance(error, cls)), None)
    if error is None or kind is None:
        return {}
    return {
        "error_kind": kind,
        "error": stored_text(str(error), secrets),
        "error_status": error.http_status,
        "failed_at": now,
    }


def fail(
    conn: Connection,
    key: str,
    owner: str,
    error: SourceError | None,
    *,
    now: datetime,
    secrets: Iterable[str] = (),
) -> None:
    """Give up the lease; a transient or permanent ``error`` is kept (masked: ``stored_text``) for
    the collectors that waited."""
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    values.update(_failure_values(error, now, secrets))
    conn.execute(
        update(fetch_cache)
        .where(fetch_cache.c.key == key, fetch_cache.c.lease_owner == owner)
        .values(**values)
    )


def _prune_now_and_then(conn: Connection, now: datetime) -> None:
    """``prune``, at most once per ``PRUNE_EVERY`` in this process: rows stay a day past their
    freshness, so a statement per stored fetch would only find the same few."""
    global _last_pruned
    moment = time.monotonic()
    if _last_pruned is not None and moment - _last_pruned < PRUNE_EVERY.total_seconds():
        return
    _last_pruned = moment
    prune(conn, now)


def prune(conn: Connection, now: datetime) -> int:
    """Delete rows fresh no longer and not in flight, ``KEEP_AFTER_EXPIRY`` after they expired."""
    cutoff = now - KEEP_AFTER_EXPIRY
    stale = or_(
        fetch_cache.c.expires_at < cutoff,
        and_(
            fetch_cache.c.expires_at.is_(None),
            or_(fetch_cache.c.failed_at.is_(None), fetch_cache.c.failed_at < cutoff),
        ),
    )
    not_in_flight = or_(fetch_cache.c.lease_until.is_(None), fetch_cache.c.lease_until < now)
    result = conn.execute(delete(fetch_cache).where(stale, not_in_flight))
    return max(result.rowcount, 0)
