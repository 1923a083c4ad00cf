"""A TLS endpoint for PostgreSQL in front of a server of the test's own, whatever it was built with.

PostgreSQL negotiates TLS inside its own protocol: the client sends an SSLRequest (8 bytes), the
server answers ``S`` and the TLS handshake follows on the same connection. The front does exactly
that with the certificate it is given, then relays the decrypted stream to ``upstream`` as a plain
connection, whose server reads an ordinary startup. A client that starts without an SSLRequest is
relayed as it came. The embedded PostgreSQL wheel, the server on a machine without PostgreSQL of its
own, is built without TLS: through the front, the TLS tests run there too, against the same driver
code and the same verification as a server speaking TLS itself.

``sessions`` records each connection as ``"tls"``, ``"plain"`` or ``"refused"`` (a failed
handshake: the client refused the certificate), in the order they were accepted.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import tempfile
import threading
from pathlib import Path

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


class PostgresTlsFront:
    """Listens on 127.0.0.1 (``port``); ``close()`` stops it and every relay."""

    def __init__(self, upstream: tuple[str, int], certificate: bytes, key: bytes) -> None:
        self.upstream = upstream
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as scratch:
            cert, key_file = Path(scratch, "server.crt"), Path(scratch, "server.key")
            cert.write_bytes(certificate)
            key_file.write_bytes(key)
            self.context.load_cert_chain(cert, key_file)
        self.sessions: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.callback(client.close)
            first = _read_exactly(client, 8)
            if first is None:
                return
            pending = b""
            if first == SSL_REQUEST:
                client.sendall(b"S")
                try:
                    client = self.context.wrap_socket(client, server_side=True)
                except (ssl.SSLError, OSError):
                    self.sessions.append("refused")
                    return
                stack.callback(client.close)
                self.sessions.append("tls")
            else:
                self.sessions.append("plain")
                pending = first
            server = socket.create_connection(self.upstream)
            stack.callback(server.close)
            server.sendall(pending)
            self._pump(client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        # One thread reads and writes both sides: an SSL socket must not be used by two at once.
        while not self._closed.is_set():
            pending = isinstance(client, ssl.SSLSocket) and client.pending()
            ready = [client] if pending else select.select([client, server], [], [], 0.5)[0]
            for side in ready:
                try:
                    data = side.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                (server if side is client else client).sendall(data)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
