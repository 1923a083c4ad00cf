"""The Lambda handlers a local run calls, and a Lambda context to call them with.

They are the handler functions the Lambdas run (``charlee_collector.handlers``; the
``functions/*_handler.py`` files only import them), so a local run and AWS share one path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

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
    """The collector, dispatcher and notifier entry points a local run calls."""

    collector: Handler
    dispatcher: Handler
    notifier: Handler | None = None


def load_handlers() -> Handlers:
    """The very handler functions the Lambdas run (``charlee_collector.handlers``)."""
    from charlee_collector.handlers import collector, dispatcher, notifier

    return Handlers(collector.handler, dispatcher.handler, notifier.handler)


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
