"""TLS faults no retry can mend: a certificate that does not verify, an https:// URL on a port that
speaks plain HTTP. Each is one attempt and a permanent failure naming the cause (they were retried
at once, then by SQS five times, then dead-lettered as "could not connect").

The server is a real TLS listener on 127.0.0.1 with a self-signed certificate made for the test.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from charlee_collector.core.errors import PermanentSourceError, TransientSourceError
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.client import get
from tests.support.http_server import LocalHTTPServer

FEED = (
    b'<rss version="2.0"><channel><title>t</title><item><title>A</title><guid>a</guid></item></channel></rss>'
)


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, *args: object) -> None:
        pass


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class _CountingServer(ThreadingHTTPServer):
    """Counts the TCP connections it accepts (a handshake that fails still counts one)."""

    accepted = 0

    def get_request(self):  # type: ignore[no-untyped-def]
        request = super().get_request()
        self.accepted += 1
        return request


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[_CountingServer]:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = _CountingServer(("127.0.0.1", 0), _Feed)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_certificate_that_does_not_verify_is_permanent_after_one_attempt(
    self_signed_server: _CountingServer, http_client: httpx.Client, allow_private_networks: Settings
) -> None:
    url = f"https://localhost:{self_signed_server.server_address[1]}/feed"
    with pytest.raises(PermanentSourceError) as error:
        get(http_client, url, settings=allow_private_networks)
    assert "its TLS certificate could not be verified (self-signed certificate)" in str(error.value)
    assert "the collection will be retried" not in str(error.value)
    assert self_signed_server.accepted == 1  # no quick reconnect: the certificate would not change


def test_https_on_a_plain_http_port_is_permanent(
    http_server: LocalHTTPServer, http_client: httpx.Client, allow_private_networks: Settings
) -> None:
    http_server.route("/feed", body=FEED)
    url = http_server.url("/feed").replace("http://", "https://")
    with pytest.raises(
        PermanentSourceError, match=r"it does not speak TLS on that port \(WRONG_VERSION_NUMBER\)"
    ):
        get(http_client, url, settings=allow_private_networks)


def test_a_connection_refused_stays_transient(
    http_client: httpx.Client, allow_private_networks: Settings, unused_port: int
) -> None:
    """Only what a retry cannot mend is permanent."""
    with pytest.raises(TransientSourceError, match="could not connect"):
        get(http_client, f"https://127.0.0.1:{unused_port}/feed", settings=allow_private_networks)


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:  # bound, never listening: connecting is refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
