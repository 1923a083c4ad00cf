"""The one HTTP layer: polite, bounded, and refusing to reach inside our own network.

A collection fetches through one ``Fetcher``: the client (``build_client``), one ``Deadline`` over all
its requests (every lookup, connect, read, write), and the gate each ``Request`` passes; ``get`` is
one GET outside a collection, ``Fetcher.post`` one POST (a GraphQL query, a token refresh). Each
request: a descriptive User-Agent, gzip, conditional GET (304: ``not_modified``), the body cap, at
most ``MAX_REDIRECTS`` checked hops (credentials kept to their origin; a POST is never redirected),
the SSRF guard (``addresses``) before it and at connect. Transient: connect errors (after one
retry), timeouts, the deadline, 5xx; ``RateLimited``: 429, 503 with Retry-After; else permanent.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

import httpcore
import httpx

from charlee_collector.core.errors import PermanentSourceError, RateLimited, TransientSourceError
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.addresses import IPAddress, refuse_forbidden

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "CharleeCollector/0.1 (+https://github.com/charlee/collector)"
MAX_REDIRECTS = 5
CONNECT_ATTEMPTS = 2
RETRY_PAUSE_SECONDS = 0.25
DEFAULT_RATE_LIMIT_DELAY = timedelta(minutes=30)
MAX_RETRY_AFTER = timedelta(days=7)
_REDIRECTS = {301, 302, 303, 307, 308}

# --- the deadline of one collection ------------------------------------------------------------


class Deadline:
    """The wall-clock limit of one collection; every socket operation in it ends by ``at``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._cut_off = False

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def reached(self) -> bool:
        """Whether it has passed, or an operation was cut off by it."""
        return self._cut_off or self.remaining() <= 0

    def cut_off(self) -> None:
        self._cut_off = True

    def exceeded_by(self, work: str) -> PermanentSourceError:
        """The failure of ``work`` done on a whole response (a parse) that cannot end by ``at``.

        Permanent: the same bytes would take as long again; the next collection tries again.
        """
        return PermanentSourceError(
            f"{work} did not finish within the collection deadline of {self.seconds:g} s "
            "(COLLECTION_DEADLINE_SECONDS); refused rather than outliving the collector"
        )

    def error(self, where: str) -> TransientSourceError:
        return TransientSourceError(
            f"{where} did not finish within {self.seconds:g} s (COLLECTION_DEADLINE_SECONDS): "
            "connect, headers, redirects and body together took too long; the collection will be retried"
        )


# The deadline of the request this thread is sending, for the transport's socket operations:
# httpcore hands a network stream no per-request value, so ``Fetcher`` sets this around each send
# (and resets it after); nothing above the transport reads it.
_sending: ContextVar[Deadline | None] = ContextVar("sending_under_deadline", default=None)


def _within_deadline(
    operation: Callable[[float | None], T], timeout: float | None, expired: type[httpcore.TimeoutException]
) -> T:
    """Run a socket operation with its timeout cut to what is left of the current deadline."""
    deadline = _sending.get()
    if deadline is None:
        return operation(timeout)
    left = deadline.remaining()
    if left <= 0:
        deadline.cut_off()
        raise expired(f"the collection deadline ({deadline.seconds:g} s) has passed")
    if timeout is not None and timeout < left:
        return operation(timeout)
    try:
        return operation(left)
    except httpcore.TimeoutException:
        deadline.cut_off()  # the deadline ran out, not the operation's own timeout
        raise


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read, write and TLS handshake ends by the current deadline.

    The deadline is looked up on each call, not when the stream is made: a pooled connection
    serves whichever collection (thread) uses it next.
    """

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _within_deadline(lambda t: self._stream.read(max_bytes, t), timeout, httpcore.ReadTimeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _within_deadline(lambda t: self._stream.write(buffer, t), timeout, httpcore.WriteTimeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        upgraded = _within_deadline(
            lambda t: self._stream.start_tls(ssl_context, server_hostname, t),
            timeout,
            httpcore.ConnectTimeout,
        )
        return _DeadlineStream(upgraded)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _getaddrinfo(host: str, port: int, timeout: float | None) -> list[Any]:
    if timeout is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # getaddrinfo has no timeout of its own and can hang on a dead resolver: it runs on a daemon
    # thread that is abandoned (it ends when the resolver gives up) when the wait runs out.
    answer: list[Any] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the waiting thread
            answer.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name="resolve", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"no answer within {timeout:g} s")
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return list(answer[0])


# The resolver's answers that a name does not exist; any other failure got no answer at all.
_NO_SUCH_NAME = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)}


def _lookup_advice(exc: BaseException) -> str:
    """What to check after a failed lookup: the name when the resolver said it does not exist;
    the network when no answer came (an offline machine or a dead resolver: the name may be right)."""
    if isinstance(exc, socket.gaierror) and exc.errno in _NO_SUCH_NAME:
        return "check the host name in the platform's url"
    return "no DNS answer came: check this machine's network and DNS (is it offline?)"


def _resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    """The addresses ``host`` resolves to, looked up within ``timeout`` and the deadline."""
    try:
        return [ipaddress.ip_address(host)]  # a literal: nothing to look up
    except ValueError:
        pass
    deadline = _sending.get()
    if deadline is not None:
        if deadline.reached():
            raise deadline.error(repr(host))
        timeout = deadline.remaining() if timeout is None else min(timeout, deadline.remaining())
    try:
        infos = _getaddrinfo(host, port, timeout)
    except (OSError, UnicodeError) as exc:  # gaierror and TimeoutError are OSErrors
        if deadline is not None and deadline.reached():
            raise deadline.error(repr(host)) from exc
        raise TransientSourceError(f"could not resolve host {host!r} ({exc}): {_lookup_advice(exc)}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


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
    addresses = _resolve(url.host, port, settings.http_connect_timeout)
    refuse_forbidden(url.host, addresses, allow_private=settings.allow_private_networks)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and vets the host at connect time, then connects to the vetted address itself;
    every stream it returns keeps to the collection's deadline."""

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
            addresses = _resolve(host, port, timeout)
        except TransientSourceError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        refuse_forbidden(host, addresses, allow_private=self._allow_private)
        last_error: Exception | None = None
        for address in addresses:
            vetted = str(address)

            def connect(limit: float | None, to: str = vetted) -> httpcore.NetworkStream:
                return super(_GuardedBackend, self).connect_tcp(
                    to, port, limit, local_address, socket_options
                )

            try:
                return _DeadlineStream(_within_deadline(connect, timeout, httpcore.ConnectTimeout))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"no address to connect to for {host!r}")


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.2 s; one context is safely shared by every client.
    return httpx.create_ssl_context(trust_env=False)


TRACE_HEADER = "X-Amzn-Trace-Id"


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

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # X-Ray's httpx patch (observability/tracer.py) wraps this transport and adds our trace
        # id to every request: it names our traces to a third party, which could echo it back.
        # The subsegment is recorded all the same; only the header stays home.
        request.headers.pop(TRACE_HEADER, None)
        return super().handle_request(request)


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


# --- one request, and the gate it may pass -------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request a source asks for: where, with which headers, and the validators of the last
    answer; a POST (a GraphQL query, a token refresh) carries its ``content``."""

    url: httpx.URL
    headers: Mapping[str, str]
    etag: str | None = None
    last_modified: str | None = None
    method: str = "GET"
    content: bytes | None = None

    def with_validators(self, etag: str | None, last_modified: str | None) -> Request:
        """The same request, conditional on other validators (a shared response's own)."""
        return replace(self, etag=etag, last_modified=last_modified)


class HostTurn(Protocol):
    """Wraps each hop's exchange with the host it asks (a redirect's target is another hop): the
    gate takes a slot on that host before it and gives it back after; a failure raised inside
    (a 429 among them) belongs to that host."""

    def __call__(self, url: httpx.URL) -> AbstractContextManager[None]: ...


def any_time(url: httpx.URL) -> AbstractContextManager[None]:
    """The ``HostTurn`` of a request outside any gate: every hop at once."""
    return nullcontext()


# Makes a request upstream (over the network), within the fetcher's deadline, each hop in its turn.
Upstream = Callable[[Request, HostTurn], "HttpResponse"]


class RequestGate(Protocol):
    """Decides how one request is answered: fetched (``upstream``), shared, or deferred."""

    def get(self, request: Request, upstream: Upstream) -> HttpResponse: ...


# --- responses ---------------------------------------------------------------------------------


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
    # A slow body is the deadline's business: every read below ends by it.
    cap = settings.max_response_bytes
    too_big = (
        f"response from {url.host} ({redact_url(url)}) is larger than the {cap}-byte cap "
        "(MAX_RESPONSE_BYTES): narrow the platform's query or raise the cap"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and "content-encoding" not in response.headers:
        raise PermanentSourceError(too_big, http_status=response.status_code)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > cap:
            raise PermanentSourceError(too_big, http_status=response.status_code)
    encoding = response.headers.get("content-encoding", "")
    if not body and encoding and response.num_bytes_downloaded:
        # zlib stops without an error at the end of a truncated stream: say so rather than "empty".
        raise PermanentSourceError(
            f"{url.host} ({redact_url(url)}) sent {response.num_bytes_downloaded} bytes of {encoding[:40]} "
            "that decompress to nothing (a truncated or corrupt body)",
            http_status=response.status_code,
        )
    return bytes(body)


# A server that answers TLS with plain HTTP (an https:// URL on an http port). Other TLS errors
# (an EOF or a reset mid-handshake) may be the network's, and stay transient.
_NO_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE"})


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error under an httpx error when asking again in a minute cannot help: a certificate
    that does not verify, or a server that speaks no TLS on that port."""
    cause: BaseException | None = exc
    for _ in range(8):  # httpx -> httpcore -> ssl; bounded against a cycle
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        if isinstance(cause, ssl.SSLError):
            return cause if getattr(cause, "reason", None) in _NO_TLS_REASONS else None
        if cause is None:
            return None
        cause = cause.__cause__ or cause.__context__
    return None


def _transport_error(exc: httpx.HTTPError, where: str, settings: Settings, attempts: int) -> Exception:
    """The error-tree member for a request that failed below HTTP (no usable response)."""
    if (tls := _tls_failure(exc)) is not None:
        what = (
            "its TLS certificate could not be verified"
            if isinstance(tls, ssl.SSLCertVerificationError)
            else "it does not speak TLS on that port"
        )
        reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or tls
        return PermanentSourceError(
            f"cannot request {where}: {what} ({reason}); check the url (https:// on a port that speaks "
            "TLS) or the server's certificate"
        )
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        return TransientSourceError(
            f"could not connect to {where} after {tries} ({exc}); the collection will be retried"
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransientSourceError(
            f"{where} did not answer within {settings.http_read_timeout}s "
            f"({type(exc).__name__}); the collection will be retried"
        )
    if isinstance(exc, httpx.DecodingError):
        return PermanentSourceError(f"{where} sent a body that could not be decompressed: {exc}")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return PermanentSourceError(f"cannot request {where}: {exc}; check the platform's url")
    return TransientSourceError(f"network error talking to {where}: {type(exc).__name__}: {exc}")


def _timeout(client: httpx.Client, deadline: Deadline) -> httpx.Timeout:
    # Waiting for a pooled connection is the one wait that does not pass the network backend.
    timeout, left = client.timeout, deadline.remaining()
    pool = left if timeout.pool is None else min(timeout.pool, left)
    return httpx.Timeout(connect=timeout.connect, read=timeout.read, write=timeout.write, pool=pool)


def _send(
    client: httpx.Client,
    url: httpx.URL,
    headers: Mapping[str, str],
    settings: Settings,
    deadline: Deadline,
    *,
    method: str = "GET",
    content: bytes | None = None,
) -> tuple[int, httpx.Headers, bytes]:
    where = f"{url.host} ({redact_url(url)})"
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        if deadline.reached():
            raise deadline.error(where)
        try:
            with client.stream(
                method, url, headers=dict(headers), content=content, timeout=_timeout(client, deadline)
            ) as response:
                ok = 200 <= response.status_code < 300
                body = _read_capped(response, url, settings) if ok else b""
                return response.status_code, response.headers, body
        except httpx.HTTPError as exc:
            if deadline.reached():
                raise deadline.error(where) from exc
            error = _transport_error(exc, where, settings, attempt)
            pause = RETRY_PAUSE_SECONDS * attempt
            retry = attempt < CONNECT_ATTEMPTS and pause < deadline.remaining()
            # A connect that failed for a reason a retry can mend (not a certificate) goes again once.
            connect = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            if retry and connect and isinstance(error, TransientSourceError):
                log.info("connect to %s failed (%s); retrying once", url.host, type(exc).__name__)
                time.sleep(pause)
                continue
            raise error from exc
    raise AssertionError("unreachable")  # pragma: no cover


def request_for(
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Request:
    """The ``Request`` for ``url`` and its query ``params`` (``None`` values left out)."""
    try:
        target = httpx.URL(url)
        if params:
            target = target.copy_merge_params({k: v for k, v in params.items() if v is not None})
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PermanentSourceError(f"the platform's url is not a valid URL: {exc}") from exc
    return Request(target, dict(headers or {}), etag, last_modified)


class Fetcher:
    """One collection's way to the network: the client, one deadline for every request of the
    collection, and the politeness gate each request passes (none: straight upstream)."""

    def __init__(
        self,
        client: httpx.Client,
        settings: Settings,
        *,
        deadline: Deadline | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.deadline = deadline or Deadline(settings.collection_deadline_seconds)
        self.gate = gate

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> HttpResponse:
        """GET ``url`` politely (see the module docstring); a 304 comes back as ``not_modified``."""
        request = request_for(url, params=params, headers=headers, etag=etag, last_modified=last_modified)
        if self.gate is not None:
            return self.gate.get(request, self.upstream)
        return self.upstream(request)

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """POST ``content`` to ``url`` under the same rules as ``get`` (no validators, no redirects)."""
        request = replace(request_for(url, headers=headers), method="POST", content=content)
        if self.gate is not None:
            return self.gate.get(request, self.upstream)
        return self.upstream(request)

    def upstream(self, request: Request, turn: HostTurn = any_time) -> HttpResponse:
        """The request itself, over the network, within the deadline, each hop in its ``turn``."""
        token = _sending.set(self.deadline)
        try:
            return _fetch(self.client, request, self.settings, self.deadline, turn)
        finally:
            _sending.reset(token)


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
    """One GET outside a collection: a ``Fetcher`` of its own (its own deadline, no gate)."""
    return Fetcher(client, settings).get(
        url, params=params, headers=headers, etag=etag, last_modified=last_modified
    )


def _fetch(
    client: httpx.Client, request: Request, settings: Settings, deadline: Deadline, turn: HostTurn
) -> HttpResponse:
    """Send ``request``, following redirects (each hop checked, and sent in its host's ``turn``),
    and read the answer; a failure of a hop's answer is raised inside that hop's turn."""
    current, etag, last_modified = request.url, request.etag, request.last_modified
    request_headers = dict(request.headers)
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    origin = (current.scheme, current.host, current.port)
    for _hop in range(MAX_REDIRECTS + 1):
        check_destination(current, settings)
        with turn(current):
            status, response_headers, body = _send(
                client,
                current,
                request_headers,
                settings,
                deadline,
                method=request.method,
                content=request.content,
            )
            location = response_headers.get("location")
            if status not in _REDIRECTS or not location:
                return _answer(current, status, response_headers, body, request_headers)
        if request.method != "GET":
            # A redirected POST would be re-sent as a GET (301-303) or with its body and
            # credentials to wherever it points: neither is what the source asked for.
            raise PermanentSourceError(
                f"{current.host} redirected a POST to {redact_url(request.url)}: point the platform's url "
                "at the final address",
                http_status=status,
            )
        try:
            current = current.join(location)
        except (httpx.InvalidURL, ValueError) as exc:
            raise PermanentSourceError(f"{current.host} redirected to an invalid URL: {exc}") from exc
        if (current.scheme, current.host, current.port) != origin:
            # Credentials and validators belong to the first origin; never hand them to another.
            request_headers = {k: v for k, v in request_headers.items() if k.lower() == "accept"}
    raise PermanentSourceError(
        f"more than {MAX_REDIRECTS} redirects starting at {redact_url(request.url)} (a redirect loop?): "
        "point the platform's url at the final address"
    )


def _answer(
    url: httpx.URL,
    status: int,
    response_headers: httpx.Headers,
    body: bytes,
    request_headers: Mapping[str, str],
) -> HttpResponse:
    """The final hop's answer as a response, or the failure its status means."""
    if status == 304:
        if not {"If-None-Match", "If-Modified-Since"} & request_headers.keys():
            # Nothing to be "not modified" against (none stored, or dropped at a redirect to another
            # origin): a cache or server fault, and not a collection.
            raise TransientSourceError(
                f"{url.host} answered 304 Not Modified for {redact_url(url)} to a request that "
                "was not conditional: nothing to collect; the collection will be retried",
                http_status=304,
            )
        # A 304 may carry fresher validators; otherwise the ones we sent stay valid.
        return HttpResponse(
            status=304,
            body=b"",
            headers=dict(response_headers),
            url=str(url),
            etag=response_headers.get("etag") or request_headers.get("If-None-Match"),
            last_modified=response_headers.get("last-modified") or request_headers.get("If-Modified-Since"),
            not_modified=True,
        )
    if not 200 <= status < 300:
        raise _status_error(status, url, response_headers)
    return HttpResponse(
        status=status,
        body=body,
        headers=dict(response_headers),
        url=str(url),
        etag=response_headers.get("etag"),
        last_modified=response_headers.get("last-modified"),
        not_modified=False,
    )
