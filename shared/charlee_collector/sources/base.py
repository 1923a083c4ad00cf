"""What every source is: a ``key``, a pydantic ``Config``, a ``fetch`` and a pure ``parse``.

A source module defines ``Config`` (extending ``BaseSourceConfig``) and one ``Source`` subclass.
Most sources are one GET of one URL: they only say where (``request_url``, ``request_params``,
``request_headers``) and how to read the body (``parse``); those that need several requests
(``arbeitnow`` pagination, ``hn_freelancer``) override ``fetch`` and keep ``parse`` pure. ``parse``
returns ``Opportunity`` objects or raises a ``SourceError`` (``read_any``: when it holds records and
can read none); ``parse_payload``, the wrapper every caller uses, turns any other exception into
``PermanentSourceError``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

import httpx
from pydantic import AfterValidator

from charlee_collector.core.errors import PermanentSourceError, SourceError
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.fetching.client import Deadline, Fetcher, HttpResponse
from charlee_collector.normalize.filters import BaseSourceConfig
from charlee_collector.normalize.opportunities import dedupe

Outcome = Literal["ok", "not_modified", "rate_limited"]
# A turn at the CPU for parsing, the collection's own (``app.cpu_turns``): parsing is pure Python
# under one GIL, and collections take turns at it. Outside a collection, none.
Turn = Callable[[], AbstractContextManager[object]]
JSON_ACCEPT = "application/json"
# Each JSON object or array holds 60-200 bytes once loaded: 3.5 M "{}" fit in 10 MB and would
# take 350 MB. A real page of jobs has a few per job.
MAX_JSON_CONTAINERS = 500_000
# How many of an object's keys an error names.
SHOWN_KEYS = 12


def _web_url(value: str) -> str:
    value = value.strip()
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValueError(f"not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


# A config URL: an absolute http(s) URL kept as the string the user wrote.
WebUrl = Annotated[str, AfterValidator(_web_url)]


def config_urls(config: BaseSourceConfig) -> dict[str, str]:
    """The config's ``WebUrl`` fields (field name -> URL): every address the config names."""
    found: dict[str, str] = {}
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        # An optional URL (``WebUrl | None``) keeps its validator inside the union's member.
        rules = [
            *info.metadata,
            *(rule for member in get_args(info.annotation) for rule in get_args(member)[1:]),
        ]
        if isinstance(value, str) and any(
            isinstance(rule, AfterValidator) and rule.func is _web_url for rule in rules
        ):
            found[name] = value
    return found


@dataclass(frozen=True)
class FetchResult:
    """What one collection of one platform produced.

    ``items`` are normalised, de-duplicated by ``external_id`` and already filtered;
    ``filtered_out`` counts the items the platform's filters dropped. ``etag`` and
    ``last_modified`` are the validators to store for the next conditional GET (on
    ``not_modified`` they are the ones that were sent). ``fetch_platform`` raises
    ``RateLimited`` rather than returning ``outcome="rate_limited"``; the outcome exists so a
    caller that catches it can record one shape.
    """

    outcome: Outcome
    items: list[Opportunity] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = None
    retry_at: datetime | None = None
    filtered_out: int = 0

    @classmethod
    def from_response(cls, response: HttpResponse, items: list[Opportunity]) -> FetchResult:
        """The result of a single-request fetch."""
        if response.not_modified:
            return cls("not_modified", [], response.etag, response.last_modified, response.status)
        return cls("ok", items, response.etag, response.last_modified, response.status)


def load_json(body: bytes, source: str) -> Any:
    """The decoded JSON payload, or ``PermanentSourceError`` saying what the body was instead."""
    if not body.strip():
        raise PermanentSourceError(f"{source} payload could not be parsed: the response body is empty")
    head = body.lstrip()[:1]
    if head == b"<":
        raise PermanentSourceError(
            f"{source} payload could not be parsed: got HTML or XML where JSON was expected "
            "(an error or login page?); check the platform's url"
        )
    # Counted without parsing ("{" inside strings too): an upper bound is all it needs.
    if body.count(b"{") + body.count(b"[") > MAX_JSON_CONTAINERS:
        raise PermanentSourceError(
            f"{source} payload could not be parsed: more than {MAX_JSON_CONTAINERS} JSON objects "
            "and arrays, more than a collection's memory holds; refused"
        )
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise PermanentSourceError(
            f"{source} payload could not be parsed: the body is not valid UTF-8"
        ) from exc
    except RecursionError as exc:
        raise PermanentSourceError(f"{source} payload could not be parsed: JSON nested too deeply") from exc
    except ValueError as exc:
        raise PermanentSourceError(f"{source} payload could not be parsed: invalid JSON ({exc})") from exc


def _keys(record: Mapping[str, Any]) -> str:
    names = [f'"{name}"' for name in list(record)[:SHOWN_KEYS]]
    more = ", ..." if len(record) > SHOWN_KEYS else ""
    return (", ".join(names) + more) if names else "none"


def shape(payload: Any) -> str:
    """What a payload holds, in words: an object's keys and lists of records, a list's first record."""
    if isinstance(payload, Mapping):
        lists = [
            f'{len(found)} records under "{name}" with keys {_keys(found[0])}'
            for name, value in payload.items()
            if (found := records(value))
        ]
        return f"a JSON object with keys {_keys(payload)}" + (f" ({'; '.join(lists[:2])})" if lists else "")
    if isinstance(payload, list):
        found = records(payload)
        if found:
            return f"{len(found)} records, the first with keys {_keys(found[0])}"
        kinds = sorted({type(value).__name__ for value in payload})
        return f"a JSON array of {len(payload)} ({', '.join(kinds) or 'nothing'})"
    return "null" if payload is None else type(payload).__name__


def unparseable(source: str, expected: str, found: Any) -> PermanentSourceError:
    """The error for a payload that is not what ``source`` reads: what was expected, what was found."""
    return PermanentSourceError(
        f"{source} payload could not be parsed: expected {expected}, found {shape(found)}"
    )


def expect(payload: Any, kind: type, source: str, what: str) -> Any:
    """``payload`` when it is a ``kind``; otherwise a ``PermanentSourceError`` naming the shape."""
    if not isinstance(payload, kind):
        raise unparseable(source, what, payload)
    return payload


def listed(payload: Mapping[str, Any], key: str, source: str, reads: str) -> list[Mapping[str, Any]]:
    """The records of ``payload[key]``; ``PermanentSourceError`` (``reads`` and what is there) if no list."""
    value = payload.get(key)
    if not isinstance(value, list):
        raise unparseable(source, reads, payload if value is None else {key: value})
    return records(value)


def read_any(
    source: str, reads: str, found: list[Mapping[str, Any]], items: list[Opportunity], skipped: int = 0
) -> list[Opportunity]:
    """``items``; a ``PermanentSourceError`` when ``found`` held records and none could be read.

    A payload of another API (or an upstream field rename) is not a healthy collection of
    nothing. ``skipped`` counts records the source leaves out on purpose (replies, placeholders).
    """
    if not items and len(found) > skipped:
        raise unparseable(source, reads, found)
    return items


def records(values: Any) -> list[Mapping[str, Any]]:
    """The JSON objects in a list, skipping entries of any other type."""
    return [value for value in values if isinstance(value, Mapping)] if isinstance(values, list) else []


def strings(values: Any) -> list[str]:
    """The strings in a list (other entries skipped); a lone string becomes a one-item list."""
    if isinstance(values, str):
        return [values]
    return [value for value in values if isinstance(value, str)] if isinstance(values, list) else []


def text(value: Any) -> str | None:
    """``value`` when it is a string or a number (as text); ``None`` for objects and lists."""
    if type(value) is str:  # most values: no isinstance chain
        return value
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int | float) else None


class Source(ABC):
    """A platform adapter. Subclasses set ``key`` and ``Config`` and implement ``parse``."""

    key: ClassVar[str]
    Config: ClassVar[type[BaseSourceConfig]]
    accept: ClassVar[str] = JSON_ACCEPT
    # The shortest collection interval the source's API terms allow (the one place it is kept:
    # the seeded platforms and `charlee-collector sources` read it), and where it comes from.
    min_interval_minutes: ClassVar[int]
    interval_terms: ClassVar[str]
    # A config `charlee-collector sources NAME` shows (a test validates each against ``Config``).
    example: ClassVar[dict[str, Any]]
    # What ``parse`` reads, for the error of a payload it cannot read ("expected <reads>, found ...").
    reads: ClassVar[str]
    # Whether the credentials secret holds OAuth2 tokens the collector keeps fresh (refreshed under
    # one database lock, app/oauth_tokens.py) rather than a key used as it is.
    oauth_tokens: ClassVar[bool] = False

    @abstractmethod
    def parse(self, body: bytes, config: Any) -> list[Opportunity]:
        """The opportunities in one response body; pure (no I/O, no clock)."""

    def request_url(self, config: Any) -> str:
        """The URL of the single request; by default the config's ``url``."""
        return str(config.url)

    def request_params(self, config: Any, secrets: Mapping[str, str]) -> dict[str, Any]:
        """Query parameters of the single request (``None`` values are left out)."""
        return {}

    def request_headers(self, config: Any, secrets: Mapping[str, str]) -> dict[str, str]:
        """Headers of the single request; may use the platform's secrets (never logged)."""
        return {"Accept": self.accept}

    def parse_within(self, body: bytes, config: Any, deadline: Deadline | None) -> list[Opportunity]:
        """``parse``, stopped with a ``SourceError`` naming ``deadline`` once it has passed.

        Sources whose parse can outlast a collection (``rss``) override it; the rest parse fast.
        """
        return self.parse(body, config)

    def parse_payload(
        self, body: bytes, config: Any, turn: Turn = nullcontext, deadline: Deadline | None = None
    ) -> list[Opportunity]:
        """``parse_within`` (in ``turn``), every unexpected exception turned into ``PermanentSourceError``."""
        try:
            with turn():
                return dedupe(self.parse_within(body, config, deadline))
        except SourceError:
            raise
        except Exception as exc:  # any parser bug or odd payload is "unparseable", not a crash
            raise PermanentSourceError(
                f"{self.key} payload could not be parsed: {type(exc).__name__}: {exc}"
            ) from exc

    def fetch(
        self,
        config: Any,
        fetcher: Fetcher,
        *,
        etag: str | None,
        last_modified: str | None,
        secrets: Mapping[str, str],
        turn: Turn = nullcontext,
    ) -> FetchResult:
        """One conditional GET through ``fetcher``, then ``parse``; raises ``SourceError`` subclasses only."""
        response = fetcher.get(
            self.request_url(config),
            params=self.request_params(config, secrets),
            headers=self.request_headers(config, secrets),
            etag=etag,
            last_modified=last_modified,
        )
        if response.not_modified:
            return FetchResult.from_response(response, [])
        items = self.parse_payload(response.body, config, turn, fetcher.deadline)
        return FetchResult.from_response(response, items)
