"""One address per job page: the URL with what only tracks the visit taken away.

``canonical_url`` lowercases scheme and host, drops ``www.``, the fragment, a trailing slash and
the query parameters that only say where the click came from (``utm_*``, ``ref``, ``source``,
``fbclid``...), and sorts the rest; ``None`` for anything that is not an http(s) URL. Two boards
linking the same page with their own tracking give the same text (``store/duplicates.py``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

# Parameters that name the visit, not the page.
TRACKING_PARAMETERS = frozenset(
    {
        "ref", "ref_src", "referrer", "source", "src", "via", "campaign", "medium", "channel",
        "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "trk", "trackingid",
        "_hsenc", "_hsmi", "lipi", "share", "from",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
# Most job links are plain: a scheme, "//", a host of ASCII letters, digits, dots and hyphens
# with maybe a port, then a path from "/", a query from the first "?" and a fragment from the first
# "#", with no whitespace. This regex's groups are then the parts ``urlsplit`` gives, at a fifth
# of its cost: ``urlsplit`` caches what it parsed, but a collection's links are new to it.
# Anything else (userinfo, brackets, non-ASCII hosts, whitespace) goes to ``urlsplit``.
_PLAIN_URL = re.compile(
    r"([A-Za-z]+)://([A-Za-z0-9.-]+(?::[0-9]*)?)(/[^?#\s]*)?(?:\?([^#\s]*))?(?:#\S*)?", re.ASCII
)


def _tracking(name: str) -> bool:
    folded = name.casefold()
    return folded in TRACKING_PARAMETERS or folded.startswith(TRACKING_PREFIXES)


def canonical_url(url: str | None) -> str | None:
    """The page ``url`` shows, without tracking (module docstring); ``None`` when it is no web URL."""
    if not url:
        return None
    url = url.strip()
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:
        scheme, netloc, path, query = plain.group(1, 2, 3, 4)
        path = path or ""
    else:
        try:
            scheme, netloc, path, query, _ = urlsplit(url)
        except ValueError:  # a bracketed host that is no IPv6 address
            return None
    if scheme.casefold() not in ("http", "https"):
        return None
    # netloc without userinfo, lowercased; a default port is no part of the address.
    netloc = netloc.rpartition("@")[2].casefold().removeprefix("www.")
    netloc = netloc.removesuffix(":443").removesuffix(":80")
    if not netloc:
        return None
    if query:
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _tracking(k)]
        query = urlencode(sorted(kept))
    # http and https serve one page: the scheme is not part of its identity. Joined as urlunsplit
    # joins them: with a host, the path is empty or starts with "/".
    return f"https://{netloc}{path.rstrip('/')}" + (f"?{query}" if query else "")
