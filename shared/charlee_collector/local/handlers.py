"""The two Lambda handlers, found on this machine, with a Lambda context to call them with.

The handler modules live in the repository's ``functions/`` folders, not in the package: they
are put on ``sys.path`` from ``<repo>/functions/{collector,dispatcher}`` (found relative to the
package). An installed wheel has no ``functions/``: then the same package functions the handlers
call (``collect.collect_message`` per record, ``dispatch.dispatch``) stand in for them, with the
same event in and the same answer out, minus the Powertools decorators.
"""

from __future__ import annotations

import importlib
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charlee_collector

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

FUNCTIONS = Path(charlee_collector.__file__).resolve().parents[2] / "functions"
ACCOUNT = "123456789012"


@dataclass
class LocalLambdaContext:
    """What Powertools and the handlers read from a Lambda context."""

    function_name: str
    timeout_seconds: int = 900
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


@dataclass(frozen=True)
class Handlers:
    """The collector and dispatcher entry points, and where they came from."""

    collector: Handler
    dispatcher: Handler
    from_functions: bool  # False: the package fallbacks (an installed wheel has no functions/)


def load_handlers(functions: Path = FUNCTIONS) -> Handlers:
    """The real handler modules when the repository is here, else the package fallbacks."""
    collector_dir, dispatcher_dir = functions / "collector", functions / "dispatcher"
    if (collector_dir / "collector_handler.py").is_file() and (
        dispatcher_dir / "dispatcher_handler.py"
    ).is_file():
        for folder in (collector_dir, dispatcher_dir):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        collector = importlib.import_module("collector_handler")
        dispatcher = importlib.import_module("dispatcher_handler")
        return Handlers(collector.handler, dispatcher.handler, from_functions=True)
    return Handlers(collector_fallback, dispatcher_fallback, from_functions=False)


def collector_fallback(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What collector_handler does, without Powertools: one collection per record, failures reported."""
    from charlee_collector.collect import collect_message
    from charlee_collector.errors import InvalidMessage
    from charlee_collector.runtime import get_runtime

    if not event.get("Records"):
        raise InvalidMessage("collector event has no Records: expected an SQS batch")
    runtime = get_runtime()
    failures = []
    for record in event["Records"]:
        try:
            attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
            collect_message(runtime, record["body"], message_id=record["messageId"], attempt=attempt)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def dispatcher_fallback(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What dispatcher_handler does, without Powertools."""
    from charlee_collector import outbox
    from charlee_collector.dispatch import dispatch
    from charlee_collector.messages import parse_dispatch_event
    from charlee_collector.runtime import get_runtime

    runtime = get_runtime()
    summary = dispatch(
        runtime.engine,
        runtime.sqs,
        runtime.queue_url,
        parse_dispatch_event(event),
        batch_size=runtime.settings.dispatch_batch_size,
        time_left_ms=context.get_remaining_time_in_millis,
        margin_ms=runtime.settings.time_margin_ms,
    )
    outbox.tick(
        runtime.engine,
        runtime.event_bus,
        time_left_ms=context.get_remaining_time_in_millis,
        margin_ms=runtime.settings.time_margin_ms,
    )
    return summary.as_dict()


def scheduled_event() -> dict[str, Any]:
    """The event EventBridge sends the dispatcher on its schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/charlee-collector-schedule"],
        "detail": {},
    }
