"""A moto server on 127.0.0.1 with the collect queue and its DLQ, for tests that need a real
endpoint (the AWS CLI, a subprocess) rather than the in-process mock (a pytest plugin).

Fixtures:

``moto_server``   the session's ``ThreadedMotoServer`` (random port): ``.endpoint``, ``.env``
                  (dummy credentials, region and ``AWS_ENDPOINT_URL`` for a subprocess)
``moto_queues``   a fresh collect queue + DLQ on it for one test (unique names, created with
                  ``local.sqs.create_collect_queues``, so configured like the template):
                  ``.queue_url``, ``.dlq_url``, ``.sqs`` (a boto3 client), ``.messages(url)``,
                  ``.depth(url)``
``fault_proxy``   a proxy in front of the server that can fail or hold chosen SQS actions:
                  ``proxy.fail("DeleteMessageBatch")``, ``proxy.hold("DeleteMessageBatch")`` then
                  ``proxy.held.wait()``; ``proxy.endpoint`` is where the client under test points
"""

from __future__ import annotations

import http.client
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from charlee_collector_tools.local.sqs import CollectQueues, create_collect_queues

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should talk to this server."""
        return {**DUMMY_AWS, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self, endpoint: str | None = None) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=endpoint or self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto server on 127.0.0.1 for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoServer(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@dataclass
class MotoQueues:
    """One test's collect queue and DLQ on the moto server."""

    server: MotoServer
    sqs: Any
    queues: CollectQueues

    @property
    def queue_url(self) -> str:
        return self.queues.queue_url

    @property
    def dlq_url(self) -> str:
        return self.queues.dlq_url

    def depth(self, url: str) -> dict[str, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {
            "visible": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        }

    def messages(self, url: str) -> list[dict[str, Any]]:
        """Every visible message's body (received, then made visible again)."""
        received: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", []):
            received.extend(batch)
        for m in received:
            self.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
        return received


@pytest.fixture
def moto_queues(moto_server: MotoServer) -> MotoQueues:
    """A fresh collect queue + DLQ (RedrivePolicy maxReceiveCount 5, short visibility timeout)."""
    sqs = moto_server.client()
    queues = create_collect_queues(sqs, f"collect-{uuid.uuid4().hex[:8]}", visibility_timeout=2)
    return MotoQueues(moto_server, sqs, queues)


@dataclass
class FaultProxy:
    """Forwards SQS calls to the moto server, except the actions told to fail or hang."""

    upstream: str
    failing: set[str] = field(default_factory=set)
    holding: set[str] = field(default_factory=set)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    seen: list[str] = field(default_factory=list)
    endpoint: str = ""

    def fail(self, action: str) -> None:
        """Answer ``action`` with a non-retryable error (as if the call was refused)."""
        self.failing.add(action)

    def hold(self, action: str) -> None:
        """Never answer ``action`` (until released): the caller hangs there, to be killed."""
        self.holding.add(action)


def _proxy_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            action = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
            proxy.seen.append(action)
            if action in proxy.holding:
                proxy.held.set()
                proxy.release.wait(timeout=30)
                self.close_connection = True
                return
            if action in proxy.failing:
                payload = b'{"__type": "com.amazonaws.sqs#AccessDenied", "message": "injected fault"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-query-error", "AccessDenied;Sender")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request("POST", self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

    return Handler


@pytest.fixture
def fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the moto server."""
    proxy = FaultProxy(moto_server.endpoint)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(proxy))
    server.daemon_threads = True
    proxy.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.release.set()
        server.shutdown()
        server.server_close()
