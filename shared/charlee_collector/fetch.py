"""The one HTTP layer: polite, bounded, and refusing to reach inside our own network.

Every source fetches through ``get`` with a client from ``build_client``. What it guarantees:

- connect and read timeouts from ``Settings``, plus a wall-clock cap on one body read, so a
  server that drips bytes cannot hold a collector;
- a descriptive User-Agent, gzip/deflate, conditional GET (``If-None-Match`` /
  ``If-Modified-Since``; 304 gives ``not_modified``);
- the body cap (``MAX_RESPONSE_BYTES``) enforced while streaming the *decoded* bytes, so a
  gzip bomb is stopped too;
- at most ``MAX_REDIRECTS`` redirects, followed here so every hop is checked; headers the caller
  gave (credentials among them) are not sent on to another origin;
- the SSRF guard: only http/https, and a host that resolves to a private, loopback, link-local,
  reserved, multicast or unspecified address is refused unless ``allow_private_networks``
  (``COLLECTOR_ALLOW_PRIVATE_NETWORKS=true``, for local runs and tests). Cloud metadata
  addresses (``METADATA_ADDRESSES``) are refused ALWAYS, even when private networks are allowed:
  no legitimate feed lives there and they hand out credentials. The check runs before each
  request and again when the socket connects (the client's network backend), so a DNS answer
  that changes between the two (rebinding) cannot slip through.

Failures map to the error tree (``errors.py``): connect errors are retried once after a short
pause, then ``TransientSourceError``; timeouts and 5xx are transient; 429, and 503 with a
Retry-After, raise ``RateLimited``; other 4xx and refused destinations are permanent. Messages
name the host, the status and what to do, and never carry credentials: URLs in them lose their
userinfo and query string, and header values are never logged.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Any

import httpcore
import httpx

from charlee_collector.errors import PermanentSourceError, RateLimited, TransientSourceError
from charlee_collector.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "CharleeCollector/0.1 (+https://github.com/charlee/collector)"
MAX_REDIRECTS = 5
CONNECT_ATTEMPTS = 2
RETRY_PAUSE_SECONDS = 0.25
DEFAULT_RATE_LIMIT_DELAY = timedelta(minutes=30)
MAX_RETRY_AFTER = timedelta(days=7)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_REDIRECTS = {301, 302, 303, 307, 308}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class HttpResponse:
    """What a source needs from one successful (2xx or 304) response."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    url: str
    etag: str | None
    last_modified: str | None
    not_modified: bool


def redact_url(url: httpx.URL | str) -> str:
    """The URL as it may appear in a message: no userinfo, no query string, no fragment."""
    parsed = httpx.URL(str(url)) if not isinstance(url, httpx.URL) else url
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def is_forbidden_address(address: IPAddress, *, allow_private: bool) -> bool:
    """Whether a connection to ``address`` must be refused (metadata always; non-public unless
    private networks are allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return True
    if allow_private:
        return False
    return (
        not address.is_global
        or address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TransientSourceError(
            f"could not resolve host {host!r} ({exc}): check the host name in the platform's url"
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _refuse_forbidden(host: str, addresses: Iterable[IPAddress], *, allow_private: bool) -> None:
    for address in addresses:
        if is_forbidden_address(address, allow_private=allow_private):
            why = (
                "a cloud metadata address, which is never fetched"
                if address in METADATA_ADDRESSES
                or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped in METADATA_ADDRESSES)
                else "not a public address (set COLLECTOR_ALLOW_PRIVATE_NETWORKS=true only for local runs)"
            )
            raise PermanentSourceError(
                f"refused to fetch from host {host!r}: it resolves to {address}, {why}"
            )


def check_destination(url: httpx.URL, settings: Settings) -> None:
    """Raise ``PermanentSourceError`` unless ``url`` is http(s) to a host we may reach."""
    if url.scheme not in ("http", "https"):
        raise PermanentSourceError(
            f"refused URL with scheme {url.scheme!r} ({redact_url(url) if url.host else 'no host'}): "
            "only http and https are fetched"
        )
    if not url.host:
        raise PermanentSourceError("refused a URL without a host: check the platform's url")
    port = url.port or (443 if url.scheme == "https" else 80)
    _refuse_forbidden(url.host, _resolve(url.host, port), allow_private=settings.allow_private_networks)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and vets the host at connect time, then connects to the vetted address itself."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _resolve(host, port)
        except TransientSourceError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        _refuse_forbidden(host, addresses, allow_private=self._allow_private)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"no address to connect to for {host!r}")


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.2 s; one context is safely shared by every client.
    return httpx.create_ssl_context(trust_env=False)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, settings: Settings) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        # httpx offers no public hook for the network backend; httpcore's pool does. If a future
        # httpx renames this attribute, fail at build time instead of fetching unguarded.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx internals changed: the SSRF guard cannot be installed")
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(settings.allow_private_networks),
        )


def build_client(settings: Settings) -> httpx.Client:
    """The HTTP client every source uses: timeouts, User-Agent, gzip, SSRF guard, no auto-redirect.

    ``trust_env=False``: proxy variables and ~/.netrc would otherwise route around the guard or
    add credentials nobody configured.
    """
    # httpx logs every request's full URL (query string and userinfo included) at INFO; a
    # templated API key in a query must not reach a log line, so only its warnings pass.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    timeout = httpx.Timeout(
        connect=settings.http_connect_timeout,
        read=settings.http_read_timeout,
        write=settings.http_read_timeout,
        pool=settings.http_connect_timeout,
    )
    return httpx.Client(
        transport=_GuardedTransport(settings),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        follow_redirects=False,
        trust_env=False,
    )


def parse_retry_after(value: str | None, *, now: datetime) -> datetime | None:
    """When a Retry-After (seconds or HTTP-date) lets us come back, kept within 7 days from now."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        when = now + timedelta(seconds=int(text)) if text.isdigit() else parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when, now), now + MAX_RETRY_AFTER)


def _status_error(status: int, url: httpx.URL, headers: Mapping[str, str]) -> Exception:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "(non-standard status)"
    where = f"{url.host} answered {status} {reason} for {redact_url(url)}"
    now = datetime.now(UTC)
    retry_at = parse_retry_after(headers.get("retry-after"), now=now)
    if status == 429 or (status == 503 and retry_at is not None):
        retry_at = retry_at or now + DEFAULT_RATE_LIMIT_DELAY
        return RateLimited(
            f"{where}: the source asks us to slow down; next collection not before {retry_at.isoformat()}",
            retry_at=retry_at,
            http_status=status,
        )
    if status >= 500 or status == 408:
        return TransientSourceError(
            f"{where}: the source is failing; the collection will be retried", http_status=status
        )
    if status in (401, 403):
        advice = "check the platform's credentials secret, or whether the source blocks automated clients"
    elif status in (404, 410):
        advice = "the address does not exist (any more); check the url in the platform's config"
    elif status in _REDIRECTS:
        advice = "the redirect has no Location header; point the platform's url at the final address"
    else:
        advice = "the request was rejected; check the platform's config (url and query options)"
    return PermanentSourceError(f"{where}: {advice}", http_status=status)


def _read_capped(response: httpx.Response, url: httpx.URL, settings: Settings) -> bytes:
    cap = settings.max_response_bytes
    too_big = (
        f"response from {url.host} ({redact_url(url)}) is larger than the {cap}-byte cap "
        "(MAX_RESPONSE_BYTES): narrow the platform's query or raise the cap"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and "content-encoding" not in response.headers:
        raise PermanentSourceError(too_big, http_status=response.status_code)
    deadline = time.monotonic() + settings.http_connect_timeout + settings.http_read_timeout * 3
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > cap:
            raise PermanentSourceError(too_big, http_status=response.status_code)
        if time.monotonic() > deadline:
            raise TransientSourceError(f"{url.host} sent {redact_url(url)} too slowly; will retry")
    return bytes(body)


def _send(
    client: httpx.Client, url: httpx.URL, headers: Mapping[str, str], settings: Settings
) -> tuple[int, httpx.Headers, bytes]:
    where = f"{url.host} ({redact_url(url)})"
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            with client.stream("GET", url, headers=dict(headers)) as response:
                ok = 200 <= response.status_code < 300
                body = _read_capped(response, url, settings) if ok else b""
                return response.status_code, response.headers, body
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if attempt < CONNECT_ATTEMPTS:
                log.info("connect to %s failed (%s); retrying once", url.host, type(exc).__name__)
                time.sleep(RETRY_PAUSE_SECONDS * attempt)
                continue
            raise TransientSourceError(
                f"could not connect to {where} after {CONNECT_ATTEMPTS} attempts ({exc}); "
                "the collection will be retried"
            ) from exc
        except httpx.TimeoutException as exc:
            raise TransientSourceError(
                f"{where} did not answer within {settings.http_read_timeout}s "
                f"({type(exc).__name__}); the collection will be retried"
            ) from exc
        except httpx.DecodingError as exc:
            raise PermanentSourceError(f"{where} sent a body that could not be decompressed: {exc}") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise PermanentSourceError(f"cannot request {where}: {exc}; check the platform's url") from exc
        except httpx.HTTPError as exc:
            raise TransientSourceError(
                f"network error talking to {where}: {type(exc).__name__}: {exc}"
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def get(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    settings: Settings,
) -> HttpResponse:
    """GET ``url`` politely (see the module docstring); a 304 comes back as ``not_modified``."""
    try:
        current = httpx.URL(url)
        if params:
            current = current.copy_merge_params({k: v for k, v in params.items() if v is not None})
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PermanentSourceError(f"the platform's url is not a valid URL: {exc}") from exc
    request_headers = dict(headers or {})
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    origin = (current.scheme, current.host, current.port)
    for _hop in range(MAX_REDIRECTS + 1):
        check_destination(current, settings)
        status, response_headers, body = _send(client, current, request_headers, settings)
        location = response_headers.get("location")
        if status not in _REDIRECTS or not location:
            break
        try:
            current = current.join(location)
        except (httpx.InvalidURL, ValueError) as exc:
            raise PermanentSourceError(f"{current.host} redirected to an invalid URL: {exc}") from exc
        if (current.scheme, current.host, current.port) != origin:
            # Credentials and validators belong to the first origin; never hand them to another.
            request_headers = {k: v for k, v in request_headers.items() if k.lower() == "accept"}
    else:
        raise PermanentSourceError(
            f"more than {MAX_REDIRECTS} redirects starting at {redact_url(url)} (a redirect loop?): "
            "point the platform's url at the final address"
        )
    if status == 304:
        # A 304 may carry fresher validators; otherwise the ones we sent stay valid.
        return HttpResponse(
            status=304,
            body=b"",
            headers=dict(response_headers),
            url=str(current),
            etag=response_headers.get("etag") or etag,
            last_modified=response_headers.get("last-modified") or last_modified,
            not_modified=True,
        )
    if not 200 <= status < 300:
        raise _status_error(status, current, response_headers)
    return HttpResponse(
        status=status,
        body=body,
        headers=dict(response_headers),
        url=str(current),
        etag=response_headers.get("etag"),
        last_modified=response_headers.get("last-modified"),
        not_modified=False,
    )
