"""A loopback stand-in for Upwork: its OAuth2 token endpoint and its GraphQL job search.

No real Upwork response has been published, so the answers follow the documented shape
(``../shared/fixtures/real/upwork/GRAPHQL_SCHEMA_NOTES.md``). The server keeps one grant: the
current access and refresh tokens. ``POST /oauth2/token`` exchanges ``CODE`` (authorization_code)
or the current refresh token (refresh_token) for new tokens, rotating both, and refuses any other
with 400 ``invalid_grant``; ``refreshes`` counts the refreshes it granted, and ``before_refresh``
(a callable) runs before each is answered (a test lines up concurrent collectors there).
``POST /graphql`` answers 401 to any token but the current access token, else by ``mode``:
``"jobs"`` (``jobs`` paged by ``pagination_eq``), ``"errors"`` (HTTP 200 with ``errors`` and no
data), ``"rate_limited"`` (429 with Retry-After) or ``"unauthorized"`` (401 to every token).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

CLIENT_ID = "charlee-test-client"
CLIENT_SECRET = "client-secret-5b1e"
CODE = "authorization-code-77"


def job_node(n: int, **overrides: Any) -> dict[str, Any]:
    """One ``MarketplaceJobPostingSearchResult`` in the documented shape; hourly when odd, fixed when even."""
    hourly = n % 2 == 1
    zero = {"rawValue": "0.0", "currency": "USD", "displayValue": "$0.00"}
    node: dict[str, Any] = {
        "id": f"14{n:08d}",
        "title": f"Job {n}: Python scraper",
        "description": f"Build scraper {n}.\nPython, Scrapy.",
        "ciphertext": f"~01abc{n:04d}",
        "createdDateTime": "2026-06-01T10:00:00.000Z",
        "publishedDateTime": f"2026-06-01T1{n % 10}:00:00.000Z",
        "category": "Web Development",
        "subcategory": "Scripts & Utilities",
        "engagement": "Less than 30 hrs/week",
        "durationLabel": "1 to 3 months",
        "experienceLevel": "INTERMEDIATE",
        "hourlyBudgetType": "DEFAULT" if hourly else None,
        "amount": zero if hourly else {"rawValue": f"{500 + n}.0", "currency": "USD", "displayValue": "$"},
        "hourlyBudgetMin": {"rawValue": "25.0", "currency": "USD", "displayValue": "$25"} if hourly else zero,
        "hourlyBudgetMax": {"rawValue": "45.0", "currency": "USD", "displayValue": "$45"} if hourly else zero,
        "skills": [{"name": "python", "prettyName": "Python"}, {"name": "scrapy", "prettyName": "Scrapy"}],
        "client": {"location": {"city": "Berlin", "country": "Germany"}},
    }
    node.update(overrides)
    return node


@dataclass
class UpworkServer:
    """The server's state and what it saw (see the module docstring)."""

    port: int = 0
    access_token: str = "access-0"
    refresh_token: str = "refresh-0"
    generation: int = 0
    refreshes: int = 0
    code_grants: int = 0
    mode: str = "jobs"
    jobs: list[dict[str, Any]] = field(default_factory=list)
    graphql_requests: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    before_refresh: Callable[[], None] = lambda: None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def grant(self, grant_type: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_requests.append(form)
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return 401, {"error": "invalid_client"}
            if grant_type == "authorization_code" and form.get("code") == CODE:
                self.code_grants += 1
            elif grant_type == "refresh_token" and form.get("refresh_token") == self.refresh_token:
                self.refreshes += 1
            else:
                return 400, {"error": "invalid_grant"}
            self.generation += 1
            self.access_token = f"access-{self.generation}"
            self.refresh_token = f"refresh-{self.generation}"
            return 200, {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "token_type": "Bearer",
                "expires_in": 86400,
            }

    def search(
        self, authorization: str, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.graphql_requests.append({"authorization": authorization, **request})
            if authorization != f"Bearer {self.access_token}" or self.mode == "unauthorized":
                return 401, {"message": "Unauthorized"}, {}
        if self.mode == "rate_limited":
            return 429, {"message": "Too Many Requests"}, {"Retry-After": "120"}
        if self.mode == "errors":
            errors = [
                {"message": "Variable 'searchType' has an invalid value: NOT_A_TYPE", "extensions": {}},
                {"message": "Validation error of type WrongType"},
            ]
            return 200, {"data": None, "errors": errors}, {}
        pagination = request["variables"]["filter"]["pagination_eq"]
        start = int(pagination.get("after") or 0)
        page = self.jobs[start : start + int(pagination["first"])]
        end = start + len(page)
        connection = {
            "totalCount": len(self.jobs),
            "edges": [{"cursor": str(start + i + 1), "node": node} for i, node in enumerate(page)],
            "pageInfo": {"endCursor": str(end), "hasNextPage": end < len(self.jobs)},
        }
        return 200, {"data": {"marketplaceJobPostingsSearch": connection}}, {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        received = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.server.state
        headers: dict[str, str] = {}
        if self.path == "/oauth2/token":
            form = {key: values[0] for key, values in parse_qs(received.decode()).items()}
            grant_type = form.get("grant_type", "")
            if grant_type == "refresh_token":
                state.before_refresh()
            status, answer = state.grant(grant_type, form)
        elif self.path == "/graphql":
            status, answer, headers = state.search(
                self.headers.get("Authorization", ""), json.loads(received)
            )
        else:
            status, answer = 404, {"message": "no such path"}
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: UpworkServer


@pytest.fixture
def upwork_server() -> Iterator[UpworkServer]:
    """A fresh stand-in on a port of its own for one test."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = UpworkServer(port=int(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
