"""The one place that decides whether a request is fetched, shared or deferred.

``PoliteFetches`` is the ``RequestGate`` of a collection's ``Fetcher`` (built in ``app/collect.py``): a
fresh response of the request's key is shared, no request made (``shared_fetches``); else the
collection takes the key's lease, or waits for the fetch in flight, and the upstream request takes
a slot on its host first (``store/host_slots.py``). No slot or shared fetch soon enough raises
``FetchDeferred`` (a ``deferred`` run, the message acknowledged); a database error here becomes
``TransientSourceError``. The rules and why: docs/fetching.md, "Politeness at scale".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import FetchDeferred, RateLimited, SourceError, TransientSourceError
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.client import Deadline, HttpResponse, Request, Upstream
from charlee_collector.politeness import shared_fetches as fetch_cache
from charlee_collector.store import host_slots as host_limits

# Kept back from the collection deadline while waiting, for the request itself and the upsert.
DEADLINE_RESERVE_SECONDS = 5.0


class PoliteFetches:
    """The gate of one collection of one platform (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        source: str,
        credentials_secret: str | None,
        secrets: Mapping[str, str] | None,
        interval_minutes: int,
        deadline: Deadline | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.deadline = deadline  # the collection's: waits here leave room for the request itself
        self.source = source
        self.credentials_secret = credentials_secret
        self.secret_values = [value for value in (secrets or {}).values() if value]
        seconds = min(settings.shared_fetch_window_seconds, interval_minutes * 60)
        self.window = timedelta(seconds=seconds)
        self.lease_for = timedelta(seconds=settings.collection_deadline_seconds)
        self.owner = uuid.uuid4().hex
        self.clock = clock
        self.sleep = sleep
        # None until a request is made; then True once any body came from another's fetch.
        self.shared: bool | None = None

    def get(self, request: Request, upstream: Upstream) -> HttpResponse:
        """``request`` answered: fetched upstream under a host slot, or shared, or deferred."""
        try:
            # A POST's answer depends on its body, which is no part of the key: never shared (and
            # a source whose data may be kept only briefly, Upwork's, leaves none in the cache).
            if self.window <= timedelta(0) or request.method != "GET":
                self._note(shared=False)
                return self._upstream(request.url, lambda: upstream(request))[0]
            return self._shared(request, upstream)
        except DBAPIError as exc:
            raise TransientSourceError(
                f"the database did not answer for the shared fetch of {request.url.host} "
                f"({type(exc).__name__}); the collection will be retried"
            ) from exc

    def _note(self, *, shared: bool) -> None:
        self.shared = bool(self.shared) or shared

    def _wait_budget(self, seconds: float) -> float:
        if self.deadline is None:
            return seconds
        return max(0.0, min(seconds, self.deadline.remaining() - DEADLINE_RESERVE_SECONDS))

    def _shared(self, request: Request, upstream: Upstream) -> HttpResponse:
        url, etag, last_modified = request.url, request.etag, request.last_modified
        key = fetch_cache.request_key(
            self.source, url, request.headers, self.credentials_secret, self.secret_values
        )
        waiting_since = self.clock()
        give_up = time.monotonic() + self._wait_budget(self.settings.shared_fetch_wait_seconds)
        pause = 0.02
        while True:
            now = self.clock()
            slot = None
            with self.engine.begin() as conn:
                claim = fetch_cache.claim(
                    conn,
                    key,
                    self.owner,
                    source=self.source,
                    url=url,
                    now=now,
                    window=self.window,
                    lease_for=self.lease_for,
                    waiting_since=waiting_since,
                )
                if claim.state == "leased":  # the host slot's first try, in the same transaction
                    slot = host_limits.try_acquire(
                        conn, url.host, self.owner, now=now, lease_for=self.lease_for
                    )
            if claim.state == "fresh":
                self._note(shared=True)
                return _for_platform(claim.entry.response(url), etag, last_modified)
            if claim.state == "leased":
                break
            failure = claim.entry.failure_since(waiting_since)
            if claim.state == "failed" and failure is not None:
                raise failure
            if time.monotonic() >= give_up:
                retry_at = claim.entry.lease_until or now
                raise FetchDeferred(
                    f"another collection's fetch of this request to {url.host} did not finish within "
                    f"{self.settings.shared_fetch_wait_seconds:g} s (SHARED_FETCH_WAIT_SECONDS); "
                    f"deferred to {retry_at.isoformat()}",
                    retry_at=retry_at,
                )
            self.sleep(min(pause, max(0.0, give_up - time.monotonic())))
            pause = min(pause * 2, 0.25)
        return self._fetch_leased(claim.entry, request, upstream, slot)

    def _fetch_leased(
        self,
        entry: fetch_cache.CacheEntry,
        request: Request,
        upstream: Upstream,
        slot: host_limits.SlotAnswer | None,
    ) -> HttpResponse:
        url, etag, last_modified = request.url, request.etag, request.last_modified
        # Conditional GET with the key's validators, only while their body is still stored.
        key_etag, key_modified = (entry.etag, entry.last_modified) if entry.body is not None else (None, None)
        shared_request = request.with_validators(key_etag, key_modified)
        response, stored = self._upstream(url, lambda: upstream(shared_request), entry=entry, slot=slot)
        self._note(shared=False)
        if not response.not_modified:
            return _for_platform(response, etag, last_modified)  # as fetched: real headers, final URL
        if stored is None or stored.body is None:  # nothing stored to serve: as fetched
            return response
        return _for_platform(stored.response(url), etag, last_modified)  # the 304 renewed it

    def _upstream(
        self,
        url: httpx.URL,
        call: Callable[[], HttpResponse],
        *,
        entry: fetch_cache.CacheEntry | None = None,
        slot: host_limits.SlotAnswer | None = None,
    ) -> tuple[HttpResponse, fetch_cache.CacheEntry | None]:
        """One request under a slot of its host (``slot``: one granted already, or the first try's
        answer). The slot is given back in one transaction with what the request leaves for
        others: for a shared request (``entry``, the key's row as leased), the response or failure
        its waiters read, and a Retry-After hold on the host (the key's row first, then the host's:
        the order of claim)."""
        host = url.host
        try:
            if slot is not None and slot.lease_id is not None:
                lease = slot
            else:  # waits, defers, or raises for a held host (another try first)
                lease = host_limits.acquire(
                    self.engine,
                    host,
                    self.owner,
                    lease_for=self.lease_for,
                    wait_seconds=self._wait_budget(self.settings.host_slot_wait_seconds),
                    clock=self.clock,
                    sleep=self.sleep,
                )
        except BaseException as exc:  # no slot (deferred, held): the key's lease is given up
            if entry is not None:
                with self.engine.begin() as conn:
                    self._give_up(conn, entry, exc, now=self.clock())
            raise
        try:
            response = call()
        except BaseException as exc:
            # A transient failure without a status: the host gave no answer (its spacing is given back).
            answered = not (isinstance(exc, TransientSourceError) and exc.http_status is None)
            with self.engine.begin() as conn:
                now = self.clock()
                if entry is not None:
                    self._give_up(conn, entry, exc, now=now)
                host_limits.release(conn, host, lease, answered=answered, now=now)
                if isinstance(exc, RateLimited):
                    host_limits.hold(conn, host, exc.retry_at, now=now)
            raise
        stored = None
        with self.engine.begin() as conn:
            now = self.clock()
            if entry is not None:
                stored = fetch_cache.store(
                    conn,
                    entry,
                    self.owner,
                    response,
                    requested=url,
                    now=now,
                    window=self.window,
                    secrets=self.secret_values,
                )
            host_limits.release(conn, host, lease, now=now)
        return response, stored

    def _give_up(
        self, conn: Connection, entry: fetch_cache.CacheEntry, exc: BaseException, *, now: datetime
    ) -> None:
        """The key's lease given up; a source's failure is kept for the collections that waited."""
        fetch_cache.fail(conn, entry.key, self.owner, exc if isinstance(exc, SourceError) else None, now=now)


def _for_platform(response: HttpResponse, etag: str | None, last_modified: str | None) -> HttpResponse:
    """The response as one platform sees it: ``not_modified`` when it already stored this version."""
    if response.not_modified:
        return response
    same_etag = etag is not None and response.etag == etag
    same_date = etag is None and last_modified is not None and response.last_modified == last_modified
    if not (same_etag or same_date):
        return response
    return HttpResponse(
        status=304,
        body=b"",
        headers={},
        url=response.url,
        etag=response.etag,
        last_modified=response.last_modified,
        not_modified=True,
    )
