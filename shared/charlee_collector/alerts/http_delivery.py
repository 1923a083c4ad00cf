"""One POST to a channel, retried, and what the channel answered.

A 429 or a 5xx, or no connection at all (refused, timed out), is tried again, up to
``ATTEMPTS`` times: after the Retry-After the channel sent (seconds or an HTTP date, read as the
fetcher reads it), else after 1, 2, 4 s; a wait longer than ``MAX_WAIT_SECONDS`` is not waited
(the delivery is left to the next one, and the answer says when the channel asked to come back).
Any other answer is final, and so is a request that may have arrived without an answer coming
back (``maybe_delivered``: a read timeout, a connection cut): sending it again could send twice. Nothing is raised for an HTTP answer: the ``ChannelAnswer`` says it;
the caller decides what a failure means (``alerts test`` prints it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx

from charlee_collector.core.clock import utcnow
from charlee_collector.fetching.client import parse_retry_after

ATTEMPTS = 4
BACKOFF_SECONDS = (1.0, 2.0, 4.0)
MAX_WAIT_SECONDS = 30.0
MAX_DETAIL_CHARS = 300


@dataclass(frozen=True)
class ChannelAnswer:
    """What a channel answered the last attempt: its status (None: no answer), a bounded excerpt
    of its body (or the network error), how many attempts were made, and when it asked to be
    retried, if it did."""

    ok: bool
    status: int | None
    detail: str
    attempts: int
    retry_at: datetime | None = None
    # The request may have reached the channel though no answer came back (a read timeout, a
    # connection cut mid-answer): sending again could be sending twice.
    maybe_delivered: bool = False

    def describe(self, channel: str) -> str:
        """The answer on one line: "slack answered HTTP 200 (1 attempt): ok"."""
        said = f"HTTP {self.status}" if self.status is not None else "nothing"
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        line = f"{channel} answered {said} ({tries}): {self.detail or '(empty)'}"
        return line + (f"; retry after {self.retry_at.isoformat()}" if self.retry_at else "")


# Failures before a byte of the request left: trying again cannot make a second copy.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _retried(status: int) -> bool:
    return status == 429 or status >= 500


def post_with_retries(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    sign: Callable[[], Mapping[str, str]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ChannelAnswer:
    """POST ``content`` to ``url`` with retries (module docstring). ``sign`` gives headers made
    afresh for each attempt (a signature over a new timestamp); ``sleep`` waits between them."""
    answer = ChannelAnswer(False, None, "not sent", 0)
    for attempt in range(1, ATTEMPTS + 1):
        sent_headers = {**headers, **(sign() if sign else {})}
        try:
            response = client.post(url, content=content, headers=sent_headers)
        except httpx.HTTPError as exc:
            # The host and the error's class: never the URL's path or query (Slack's and
            # Telegram's tokens are in the path).
            host = httpx.URL(url).host
            unsent = isinstance(exc, _NEVER_SENT)
            answer = ChannelAnswer(
                False, None, f"{type(exc).__name__} reaching {host}", attempt, maybe_delivered=not unsent
            )
            if not unsent:
                return answer  # at most once: a request that may have arrived is not sent again
            wait = BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]
        else:
            detail = " ".join(response.text.split())[:MAX_DETAIL_CHARS]
            retry_at = parse_retry_after(response.headers.get("retry-after"), now=utcnow())
            answer = ChannelAnswer(response.is_success, response.status_code, detail, attempt, retry_at)
            if not _retried(response.status_code):
                return answer
            wait = (
                (retry_at - utcnow()).total_seconds()
                if retry_at is not None
                else BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]
            )
        if attempt == ATTEMPTS or wait > MAX_WAIT_SECONDS:
            return answer
        sleep(max(wait, 0.0))
    return answer
