"""Posting dates from whatever a platform serves (ISO 8601, RFC 2822, epoch), bounded to believable ones."""

from __future__ import annotations

import calendar
import math
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from charlee_collector.core.clock import utcnow


def parse_datetime(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from ISO-8601, RFC 822, epoch seconds/milliseconds or a
    ``time.struct_time``; naive values are taken as UTC and anything unreadable gives ``None``.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, datetime):
            result: datetime | None = value
        elif isinstance(value, time.struct_time):
            result = datetime.fromtimestamp(calendar.timegm(value), UTC)
        elif isinstance(value, int | float):
            result = _from_epoch(float(value))
        else:
            result = _from_string(value.strip()) if isinstance(value, str) else None
        if result is None:
            return None
        # Inside the try: "0001-01-01T00:00+14:00" overflows when moved to UTC.
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def _from_epoch(seconds: float) -> datetime | None:
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    # Some APIs document milliseconds (Himalayas) and serve seconds; 1e11 s is the year 5138.
    return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)


def _from_string(text: str) -> datetime | None:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _from_epoch(float(text))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        pass
    # Upwork's "Posted On" line: "March 07, 2018 03:00 UTC"; Recruitee's "2026-09-18 13:27:28 UTC".
    patterns = (
        "%B %d, %Y %H:%M UTC",
        "%B %d, %Y %H:%M",
        "%Y-%m-%d %H:%M:%S UTC",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d",
    )
    for pattern in patterns:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


# A posting from later than a day ahead (time zones, a date-only value, a skewed clock) or from
# before 1970 is a platform's mistake: kept as one it would sort first (or last) for ever. The
# item is kept undated (listed by its collection date); ``raw`` keeps what the platform said.
_POSTED_AHEAD = timedelta(days=1)


_POSTED_SINCE = datetime(1970, 1, 1, tzinfo=UTC)


def believable_posting_date(posted_at: datetime | None) -> datetime | None:
    if posted_at is None or not _POSTED_SINCE <= posted_at <= utcnow() + _POSTED_AHEAD:
        return None
    return posted_at
