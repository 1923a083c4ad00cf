"""The one place that decides whether a request is fetched, shared or deferred.

``PoliteFetches`` is the ``RequestGate`` of a collection's ``Fetcher`` (built in ``app/collect.py``): a
fresh response of the request's key is shared, no request made (``shared_fetches``); else the
collection takes the key's lease, or waits for the fetch in flight. An on-demand collection
(``fresh``) is never served a response fetched before it asked: it fetches (or waits for the
fetch in flight) and the answer refreshes the key for everyone. Every hop of an upstream request
takes a slot on the host that answers it (``store/host_slots.py``): spacing, slots and a
Retry-After hold belong to that host, hop by hop. No slot or shared fetch soon enough raises
``FetchDeferred`` (a ``deferred`` run, the message acknowledged); a database error here becomes
``TransientSourceError``. A body no reader could parse is not served again (``settle_failure``).
Every text kept for others passes ``shared_fetches.stored_text``. The rules and why:
docs/fetching.md, "Politeness at scale".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from charlee_collector.core.clock import utcnow
from charlee_collector.core.credentials import refuse_in_clear
from charlee_collector.core.errors import (
    FetchDeferred,
    PermanentSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.client import Deadline, HttpResponse, Request, Upstream
from charlee_collector.politeness import shared_fetches as fetch_cache
from charlee_collector.store import host_slots as host_limits

# Kept back from the collection deadline while waiting, for the request itself and the upsert.
DEADLINE_RESERVE_SECONDS = 5.0


@dataclass(frozen=True)
class _Served:
    """A response this collection read: its key and the version (None: not stored)."""

    key: str
    fetched_at: datetime | None


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
        fresh: bool = False,
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
        self.fresh = fresh  # on demand: only a response fetched after the request was made serves it
        self.lease_for = timedelta(seconds=settings.collection_deadline_seconds)
        self.owner = uuid.uuid4().hex
        self.clock = clock
        self.sleep = sleep
        # None until a request is made; then True once any body came from another's fetch.
        self.shared: bool | None = None
        self._served: list[_Served] = []
        self._raised: BaseException | None = None  # the last failure ``get`` raised ...
        self._raised_shared = False  # ... and whether it was another collection's fetch's

    def get(self, request: Request, upstream: Upstream) -> HttpResponse:
        """``request`` answered: fetched upstream under host slots, or shared, or deferred.

        A platform with credentials never fetches over http://: ``PermanentSourceError``."""
        if self.secret_values:
            refusal = refuse_in_clear([str(request.url)])
            if refusal:
                raise PermanentSourceError(refusal)
        self._raised_shared = False
        try:
            # A POST's answer depends on its body, which is no part of the key: never shared (and
            # a source whose data may be kept only briefly, Upwork's, leaves none in the cache).
            if self.window <= timedelta(0) or request.method != "GET":
                self._note(shared=False)
                return self._upstream(request, upstream)[0]
            return self._shared(request, upstream)
        except DBAPIError as exc:
            self._raised = TransientSourceError(
                f"the database did not answer for the shared fetch of {request.url.host} "
                f"({type(exc).__name__}); the collection will be retried"
            )
            raise self._raised from exc
        except BaseException as exc:
            self._raised = exc
            raise

    def settle_failure(self, exc: BaseException) -> bool:
        """Whether the collection's failure ``exc`` counts toward the platform's backoff and pause.

        A failure shared from another collection's fetch does not: that fetch counted it, once.
        A failure raised after the gate answered is a body that could not be read: the responses
        this collection read are not served again (the next collection fetches; the collections
        waiting for the same fetch share this failure), and it counts for the first reader to
        find it unreadable only: once per shared answer, whoever fetched it.
        """
        if exc is self._raised:
            return not self._raised_shared
        if not isinstance(exc, SourceError) or not self._served:
            return True
        counts = False
        with self.engine.begin() as conn:
            for served in self._served:
                first = fetch_cache.refuse(
                    conn, served.key, served.fetched_at, exc, now=self.clock(), secrets=self.secret_values
                )
                counts = counts or first or served.fetched_at is None
        return counts

    def host_of(self, url: httpx.URL) -> str:
        """``url``'s host as the host tables keep it: masked like every stored text."""
        return fetch_cache.stored_text(url.host, self.secret_values)[:255]

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
                    fetched_since=waiting_since if self.fresh else None,
                    secrets=self.secret_values,
                )
                if claim.state == "leased":  # the first hop's slot: a first try, in the same transaction
                    slot = host_limits.try_acquire(
                        conn, self.host_of(url), self.owner, now=now, lease_for=self.lease_for
                    )
            if claim.state == "fresh":
                self._note(shared=True)
                self._served.append(_Served(key, claim.entry.fetched_at))
                return _for_platform(claim.entry.response(url), etag, last_modified)
            if claim.state == "leased":
                break
            failure = claim.entry.failure_since(waiting_since)
            if claim.state == "failed" and failure is not None:
                self._raised_shared = True
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
        response, stored = self._upstream(shared_request, upstream, entry=entry, slot=slot)
        self._note(shared=False)
        self._served.append(_Served(entry.key, stored.fetched_at if stored else None))
        if not response.not_modified:
            return _for_platform(response, etag, last_modified)  # as fetched: real headers, final URL
        if stored is None or stored.body is None:  # nothing stored to serve: as fetched
            return response
        return _for_platform(stored.response(url), etag, last_modified)  # the 304 renewed it

    def _upstream(
        self,
        request: Request,
        upstream: Upstream,
        *,
        entry: fetch_cache.CacheEntry | None = None,
        slot: host_limits.SlotAnswer | None = None,
    ) -> tuple[HttpResponse, fetch_cache.CacheEntry | None]:
        """One request, each hop under a slot of its host (``_HostTurns``; ``slot``: the first
        try's answer for the first hop). For a shared request (``entry``, the key's row as
        leased), the response or failure is kept for the collections that read or wait for it."""
        turns = _HostTurns(self, first=slot, first_host=self.host_of(request.url))
        try:
            response = upstream(request, turns)
        except BaseException as exc:
            with self.engine.begin() as conn:
                # The last hop's slot (with a Retry-After's hold), or a first slot never used (a
                # refused destination), goes back with the failure.
                turns.close(conn)
                if entry is not None:  # the key's lease given up; its waiters read the failure
                    self._give_up(conn, entry, exc, now=self.clock())
            raise
        stored = None
        with self.engine.begin() as conn:
            turns.close(conn)
            if entry is not None:
                stored = fetch_cache.store(
                    conn,
                    entry,
                    self.owner,
                    response,
                    requested=request.url,
                    now=self.clock(),
                    window=self.window,
                    secrets=self.secret_values,
                )
        return response, stored

    def _give_up(
        self, conn: Connection, entry: fetch_cache.CacheEntry, exc: BaseException, *, now: datetime
    ) -> None:
        """The key's lease given up; a source's failure is kept for the collections that waited."""
        error = exc if isinstance(exc, SourceError) else None
        fetch_cache.fail(conn, entry.key, self.owner, error, now=now, secrets=self.secret_values)


class _HopEnd(NamedTuple):
    """How a hop ended, for its slot to be given back: whether the host answered, and until when a
    Retry-After holds it."""

    host: str
    slot: host_limits.SlotAnswer
    at: datetime
    answered: bool = True
    hold_until: datetime | None = None

    def settle(self, conn: Connection) -> None:
        host_limits.release(conn, self.host, self.slot, answered=self.answered, now=self.at)
        if self.hold_until is not None:
            host_limits.hold(conn, self.host, self.hold_until, now=self.at)


class _HostTurns:
    """The ``HostTurn`` of one upstream request: each hop's exchange holds a slot on the host that
    answers it, given back when the hop ends; a Retry-After holds the host that sent it.

    The last hop's slot is given back by ``close``, in the transaction that keeps the request's
    answer or failure: one transaction fewer per request (a round trip, a checkout and its ping).
    A redirect's earlier hop gives its slot back on its own, before the next hop asks for one.
    """

    def __init__(self, gate: PoliteFetches, *, first: host_limits.SlotAnswer | None, first_host: str) -> None:
        self.gate = gate
        # A slot the claim's transaction already granted on the request's own host (first hop).
        self.granted = first if first is not None and first.lease_id is not None else None
        self.first_host = first_host
        self.ended: _HopEnd | None = None  # the last hop's, until it is settled

    @contextmanager
    def __call__(self, url: httpx.URL) -> Iterator[None]:
        gate, host = self.gate, self.gate.host_of(url)
        if self.ended is not None:  # a redirect's earlier hop
            with gate.engine.begin() as conn:
                self._settle_ended(conn)
        lease = None
        if host == self.first_host:
            lease, self.granted = self.granted, None
        if lease is None:  # waits, defers, or raises for a held host (another try first)
            lease = host_limits.acquire(
                gate.engine,
                host,
                gate.owner,
                lease_for=gate.lease_for,
                wait_seconds=gate._wait_budget(gate.settings.host_slot_wait_seconds),
                clock=gate.clock,
                sleep=gate.sleep,
            )
        try:
            yield
        except BaseException as exc:
            # A transient failure without a status: the host gave no answer (its spacing is given back).
            answered = not (isinstance(exc, TransientSourceError) and exc.http_status is None)
            hold_until = exc.retry_at if isinstance(exc, RateLimited) else None
            self.ended = _HopEnd(host, lease, gate.clock(), answered, hold_until)
            raise
        self.ended = _HopEnd(host, lease, gate.clock())

    def _settle_ended(self, conn: Connection) -> None:
        if self.ended is not None:
            ended, self.ended = self.ended, None
            ended.settle(conn)

    def close(self, conn: Connection) -> None:
        """Give back, in ``conn``'s transaction, the last hop's slot and a granted first slot no hop
        used (unanswered). Should that transaction fail (the database is down), the slots expire
        with their lease (``lease_for``), as the slots of a collection that died do."""
        self._settle_ended(conn)
        if self.granted is not None:
            host_limits.release(conn, self.first_host, self.granted, answered=False, now=self.gate.clock())
            self.granted = None


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
