"""An SQS stand-in for benchmarks: botocore's JSON protocol, a fixed latency per call, almost no CPU.

moto's SQS spends 1.3-1.5 ms of CPU per message and bounds any dispatcher measured against it;
real SQS answers a SendMessageBatch in roughly 10-30 ms of network and service time while the
client spends almost nothing. This server answers the calls the dispatcher makes after sleeping
``--latency-ms`` (a sleeping thread costs no CPU), so a figure measured against it is the
dispatcher's own cost plus the wait it overlaps, as against real SQS.

Run as its own process: ``python bench/sqs_standin.py --latency-ms 15`` prints its port, then
serves until killed. It keeps only counts (messages accepted per queue), readable through
``GetQueueAttributes`` (``ApproximateNumberOfMessages``), so a bench can check every message
arrived.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
_counts: Counter[str] = Counter()
_lock = threading.Lock()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _queue_name(request: dict[str, Any]) -> str:
    return str(request.get("QueueUrl") or request.get("QueueName") or "").rsplit("/", 1)[-1]


def answer(action: str, request: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The JSON body SQS gives for ``action`` (the subset a dispatcher and a bench use)."""
    name = _queue_name(request)
    if action in ("CreateQueue", "GetQueueUrl"):
        return {"QueueUrl": f"{endpoint}/{ACCOUNT}/{name}"}
    if action == "SendMessage":
        with _lock:
            _counts[name] += 1
        return {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": _md5(request["MessageBody"])}
    if action == "SendMessageBatch":
        entries = request["Entries"]
        with _lock:
            _counts[name] += len(entries)
        return {
            "Successful": [
                {"Id": e["Id"], "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": _md5(e["MessageBody"])}
                for e in entries
            ],
            "Failed": [],
        }
    if action == "GetQueueAttributes":
        with _lock:
            return {"Attributes": {"ApproximateNumberOfMessages": str(_counts[name])}}
    if action == "PurgeQueue":
        with _lock:
            _counts[name] = 0
        return {}
    raise KeyError(action)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects
    # Headers and body go out in two writes: with Nagle on, the second waits for the client's
    # delayed ACK (~40 ms on Linux), which would add to every call a latency SQS does not have.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        action = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        time.sleep(self.server.latency)
        try:
            status, payload = 200, answer(action, request, f"http://127.0.0.1:{self.server.server_port}")
        except KeyError:
            status, payload = 400, {"__type": "InvalidAction", "message": f"not served: {action}"}
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    latency = 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency-ms", type=float, default=15.0)
    args = parser.parse_args()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.latency = args.latency_ms / 1000
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
