"""Which secrets a platform may name as its credentials, and where credentials may be sent.

A name under the stack's prefix (``charlee/<stack>/``: all the collector's role may read), and
never over ``http://``. The CLI refuses both when a platform is added or updated; the collector
refuses the name when it collects (``app/collect.py``) and an http:// request of a platform with
credentials when it fetches (``politeness/gate.py``), each a permanent failure of the collection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from charlee_collector.core.hosts import is_loopback

# OAuth2 grants (Upwork) live in this folder under the stack's prefix: the only secrets the
# collector may write (their refresh tokens rotate; template.yaml, WriteRotatedOAuthTokens).
OAUTH_FOLDER = "oauth/"
# Alert channels' webhook URLs, tokens and addresses: the only secrets the notifier may read
# (template.yaml, ReadAlertChannelSecrets).
ALERTS_FOLDER = "alerts/"
_ALERT_SECRET_SHAPE = re.compile(r"charlee/[^/]+/alerts/.+")
# charlee/<stack>/<name>, as a name or inside a secret's ARN (":secret:charlee/...").
_SECRET_SHAPE = re.compile(r"charlee/[^/]+/.+")


def _secret_name(name_or_arn: str) -> str:
    return name_or_arn.split(":secret:", 1)[1] if ":secret:" in name_or_arn else name_or_arn


def refuse_outside_prefix(name: str, prefix: str | None) -> str | None:
    """Why ``name`` may not be a platform's credentials secret (``PLATFORM_SECRET_PREFIX``, or
    the shape charlee/<stack>/<name> when none is set); None when it may."""
    secret = _secret_name(name)
    if prefix:
        if secret.startswith(prefix) and len(secret) > len(prefix):
            return None
        return (
            f"credentials secret {name} is outside {prefix}: the stack's functions may read only "
            f"secrets named {prefix}<name>"
        )
    if _SECRET_SHAPE.fullmatch(secret):
        return None
    return f"credentials secret {name} is not named charlee/<stack>/<name>, the only secrets a stack reads"


def refuse_alert_secret(name: str, prefix: str | None) -> str | None:
    """Why ``name`` may not be an alert channel's secret (``<PLATFORM_SECRET_PREFIX>alerts/<name>``,
    or the shape charlee/<stack>/alerts/<name> when no prefix is set); None when it may."""
    secret = _secret_name(name)
    if prefix:
        folder = prefix + ALERTS_FOLDER
        if secret.startswith(folder) and len(secret) > len(folder):
            return None
        return f"{name} is outside {folder}: the notifier may read only secrets named {folder}<name>"
    if _ALERT_SECRET_SHAPE.fullmatch(secret):
        return None
    return f"{name} is not named charlee/<stack>/alerts/<name>, the only secrets the notifier reads"


def oauth_secret_name(source: str, prefix: str | None) -> str:
    """Where an OAuth grant for ``source`` lives by default: ``<prefix>oauth/<source>``, or the
    shape to fill in (``charlee/<stack>/oauth/<source>``) when no prefix is set."""
    return f"{prefix or 'charlee/<stack>/'}{OAUTH_FOLDER}{source}"


def refuse_in_clear(urls: Iterable[str]) -> str | None:
    """Why credentials may not go to one of ``urls``: an http:// URL to another machine sends
    them in clear (this machine's own, a local test server, crosses no network); None otherwise."""
    for url in urls:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
            return f"a credentials secret is never sent over http:// ({url}): use the https:// URL"
    return None


def urls_in(config: Any) -> list[str]:
    """Every http(s) URL a platform's config holds, at any depth."""
    if isinstance(config, str):
        return [config] if config.strip().lower().startswith(("http://", "https://")) else []
    if isinstance(config, dict):
        return [url for value in config.values() for url in urls_in(value)]
    if isinstance(config, list):
        return [url for value in config for url in urls_in(value)]
    return []
