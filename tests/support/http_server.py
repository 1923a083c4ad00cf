"""A real local HTTP server for tests (a pytest plugin: ``pytest_plugins`` in conftest).

One ``ThreadingHTTPServer`` on 127.0.0.1 (random port) runs for the whole session; the
``http_server`` fixture hands it to each test with its routes and request log reset. Usage::

    def test_feed(http_server, http_client, allow_private_networks):
        http_server.route("/feed.xml", body=b"<rss>...</rss>", etag='"v1"')
        http_server.route_file("/jobs.json", Path("tests/fixtures/sources/remotive.json"))
        http_server.redirect("/old", "/feed.xml")              # 302 by default
        http_server.route("/slow", body=b"{}", delay=2.0)       # sleeps before answering
        http_server.route("/flaky", status=503, headers={"Retry-After": "120"})
        http_server.route("/big", body=b"x" * 10_000, chunked=True)   # no Content-Length
        url = http_server.url("/feed.xml")                      # http://127.0.0.1:<port>/feed.xml
        ...
        assert http_server.requests[-1].headers["If-None-Match"] == '"v1"'
        assert http_server.max_in_flight <= 2                   # most requests answered at once

``route(path, ...)`` options: ``status`` (200), ``body`` (bytes or str), ``headers``,
``content_type``, ``delay`` (seconds before the answer), ``etag`` / ``last_modified`` (sent,
and a matching ``If-None-Match`` / ``If-Modified-Since`` gets a 304), ``gzip`` (compressed when
the client accepts it), ``chunked`` (streamed without Content-Length). A path registered with
a query string (``/api?page=2``) matches that exact query first; otherwise the query is ignored.
A PUT is answered like a GET; its body is kept in ``RecordedRequest.body``.
``route_sequence(path, [dict(...), ...])`` answers with each response in turn, then repeats the
last. POST is answered like GET, its body recorded (``requests_to(path)[0].body``: a webhook's
message). Unknown paths get 404. Other fixtures here: ``allow_private_networks`` (sets
``COLLECTOR_ALLOW_PRIVATE_NETWORKS=true`` and returns the ``Settings``) and ``http_client``
(a ``fetch.build_client`` client with those settings, closed after the test).
"""

from __future__ import annotations

import dataclasses
import gzip as gzip_module
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from charlee_collector.core.settings import Settings, get_settings
from charlee_collector.fetching.client import build_client


@dataclass(frozen=True)
class Response:
    """One scripted answer."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    chunked: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received (header names as sent)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""  # what a PUT or POST sent (a pre-signed response, a webhook's message)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_PUT(self) -> None:
        self._answer(send_body=True, received=self._received())

    def do_POST(self) -> None:
        self._answer(send_body=True, received=self._received())

    def _received(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, *, send_body: bool, received: bytes = b"") -> None:
        self.server.owner.entered(+1)
        try:
            self._respond(send_body=send_body, received=received)
        finally:
            self.server.owner.entered(-1)

    def _respond(self, *, send_body: bool, received: bytes) -> None:
        parts = urlsplit(self.path)
        self.server.owner.record(
            RecordedRequest(self.command, parts.path, parts.query, dict(self.headers), received)
        )
        response = self.server.owner.lookup(parts.path, parts.query)
        if response.delay:
            time.sleep(response.delay)
        headers = {key.lower(): value for key, value in response.headers.items()}
        status, body = response.status, response.body
        if response.etag:
            headers["etag"] = response.etag
        if response.last_modified:
            headers["last-modified"] = response.last_modified
        matched_etag = response.etag and self.headers.get("If-None-Match") == response.etag
        matched_date = (
            response.last_modified and self.headers.get("If-Modified-Since") == response.last_modified
        )
        if matched_etag or matched_date:
            status, body = 304, b""
        if response.gzip and body and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip_module.compress(body)
            headers["content-encoding"] = "gzip"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if response.chunked and status != 304:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if send_body:
                for start in range(0, len(body), 1024):
                    chunk = body[start : start + 1024]
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalHTTPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients in these tests hang up on purpose (timeouts, size caps); that is not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class LocalHTTPServer:
    """The scripted server; see the module docstring for the API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, list[Response]] = {}
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being answered at one time since the reset
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = int(self._server.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def route(
        self, path: str, *, body: bytes | str = b"", content_type: str | None = None, **options: Any
    ) -> None:
        """Answer ``path`` with one scripted response (options: see the module docstring)."""
        self.route_sequence(path, [{"body": body, "content_type": content_type, **options}])

    def route_sequence(self, path: str, responses: Sequence[Mapping[str, Any]]) -> None:
        """Answer ``path`` with each response in turn, repeating the last one."""
        built = []
        for options in responses:
            options = dict(options)
            body = options.pop("body", b"")
            headers = dict(options.pop("headers", None) or {})
            content_type = options.pop("content_type", None)
            if content_type:
                headers["Content-Type"] = content_type
            built.append(
                Response(body=body.encode() if isinstance(body, str) else body, headers=headers, **options)
            )
        with self._lock:
            self._routes[path] = built

    def route_file(self, path: str, file: Path, **options: Any) -> None:
        """Serve the bytes of ``file`` (read now) at ``path``."""
        self.route(path, body=Path(file).read_bytes(), **options)

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Answer ``path`` with a redirect to ``location`` (a path here, or an absolute URL)."""
        self.route(path, status=status, headers={"Location": location})

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests whose path is ``path``."""
        return [request for request in self.requests if request.path == path]

    def lookup(self, path: str, query: str) -> Response:
        with self._lock:
            queue = self._routes.get(f"{path}?{query}") if query else None
            queue = queue or self._routes.get(path)
            if not queue:
                return Response(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def entered(self, step: int) -> None:
        with self._lock:
            self.in_flight += step
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def reset(self) -> None:
        """Forget every route and recorded request."""
        with self._lock:
            self._routes.clear()
            self.requests.clear()
            self.max_in_flight = self.in_flight

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def local_http_server() -> Iterator[LocalHTTPServer]:
    """The session's server; tests use ``http_server``, which resets it."""
    server = LocalHTTPServer()
    yield server
    server.stop()


@pytest.fixture
def http_server(local_http_server: LocalHTTPServer) -> Iterator[LocalHTTPServer]:
    """The local HTTP server with no routes and an empty request log."""
    local_http_server.reset()
    yield local_http_server
    local_http_server.reset()


@pytest.fixture
def allow_private_networks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings that may reach 127.0.0.1 (``COLLECTOR_ALLOW_PRIVATE_NETWORKS=true``)."""
    monkeypatch.setenv("COLLECTOR_ALLOW_PRIVATE_NETWORKS", "true")
    get_settings.cache_clear()
    yield Settings.from_env()
    get_settings.cache_clear()


@pytest.fixture
def sharing(allow_private_networks: Settings) -> Settings:
    """``allow_private_networks`` with shared fetches on (the code's default window, 900 s)."""
    return dataclasses.replace(allow_private_networks, shared_fetch_window_seconds=900.0)


@pytest.fixture
def http_client(allow_private_networks: Settings) -> Iterator[httpx.Client]:
    """A ``build_client`` client allowed to reach the local server."""
    with build_client(allow_private_networks) as client:
        yield client
