"""What sources' terms let us keep, and for how long: source key -> hours its content may stay.

Here rather than on each ``Source`` so that the dispatcher, which purges (``app.retention``), needs
no source module (nor the parsers and httpx they import) at cold start.
"""

from __future__ import annotations

# Upwork's API terms: its data may be cached for at most 24 hours.
CONTENT_KEPT_HOURS: dict[str, int] = {"upwork": 24}
