"""Raw-socket parts for hostile-network tests: a server that answers as slowly as told, a port
that listens and never answers, and a record of every socket connect this process makes.

``DripServer`` (127.0.0.1, random port) sends each route's answer piece by piece, ``interval``
seconds apart, so every single read the client makes is quick while the whole answer is slow
(or never ends)::

    server.route("/feed", dripping_headers(), interval=0.2)     # a status line, then headers forever
    server.route("/slow", in_pieces(response(200, b"{}"), 16), interval=0.1)
    server.redirect_chain("/hop", hops=6, final=response(200, b"{}"), interval=0.1)
    server.requests                                              # the paths asked for, in order

Every answer stops when the test ends (``stop``), so no thread outlives it. ``silent_listener``
is a socket whose backlog completes the TCP handshake while nothing ever reads or answers (a
TLS handshake to it never ends). ``ConnectRecorder`` sees every ``socket.connect`` through an
audit hook, so a test can say "no connection was even attempted".
"""

from __future__ import annotations

import itertools
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

Pieces = Callable[[], Iterable[bytes]]


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    lines = [f"HTTP/1.1 {status} Whatever"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body


def in_pieces(data: bytes, size: int) -> Pieces:
    """``data`` cut into pieces of ``size`` bytes."""
    return lambda: (data[start : start + size] for start in range(0, len(data), size))


def dripping_headers() -> Pieces:
    """A status line, then one header whose value never ends, one byte per piece."""
    return lambda: itertools.chain(
        (bytes([b]) for b in b"HTTP/1.1 200 OK\r\nX-Drip: "), itertools.repeat(b"a")
    )


def dripping_body() -> Pieces:
    """Headers at once, then a chunked body of one byte per piece, forever."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return lambda: itertools.chain([head], itertools.repeat(b"1\r\n \r\n"))


class DripServer:
    """The slow server; see the module docstring."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[Pieces, float]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.requests: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, name="drip-accept", daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, pieces: Pieces, *, interval: float) -> None:
        """Answer ``path`` with ``pieces``, one every ``interval`` seconds."""
        with self._lock:
            self._routes[path] = (pieces, interval)

    def redirect_chain(self, prefix: str, *, hops: int, final: bytes, interval: float) -> None:
        """``{prefix}/0`` redirects to ``{prefix}/1`` ... up to ``{prefix}/{hops - 1}``, which
        answers ``final``; every answer is sent in 16-byte pieces, ``interval`` apart."""
        for hop in range(hops):
            answer = final if hop == hops - 1 else response(302, headers={"Location": f"{prefix}/{hop + 1}"})
            self.route(f"{prefix}/{hop}", in_pieces(answer, 16), interval=interval)

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(conn,), name="drip", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            path = self._read_path(conn)
            if path is None:
                return
            with self._lock:
                self.requests.append(path)
                pieces, interval = self._routes.get(path, (in_pieces(response(404), 64), 0.0))
            try:
                for piece in pieces():
                    if self._stopped.is_set():
                        return
                    conn.sendall(piece)
                    self._stopped.wait(interval)
            except OSError:
                return  # the client hung up: what a deadline does

    @staticmethod
    def _read_path(conn: socket.socket) -> str | None:
        conn.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return None
                data += chunk
        except OSError:
            return None
        parts = data.split(b"\r\n", 1)[0].split(b" ")
        return parts[1].decode("latin-1").split("?", 1)[0] if len(parts) > 1 else None


@contextmanager
def drip_server() -> Iterator[DripServer]:
    server = DripServer()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog does) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield int(listener.getsockname()[1])


class ConnectRecorder:
    """The addresses of every ``socket.connect`` made while recording (any thread)."""

    _installed = False
    _active: list[ConnectRecorder] = []
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.addresses: list[Any] = []

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect" and cls._active:
            for recorder in list(cls._active):
                recorder.addresses.append(args[1])

    @contextmanager
    def recording(self) -> Iterator[ConnectRecorder]:
        with self._lock:
            if not ConnectRecorder._installed:
                sys.addaudithook(ConnectRecorder._hook)  # hooks cannot be removed: install once
                ConnectRecorder._installed = True
            ConnectRecorder._active.append(self)
        try:
            yield self
        finally:
            with self._lock:
                ConnectRecorder._active.remove(self)
