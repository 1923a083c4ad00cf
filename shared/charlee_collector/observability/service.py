"""The service name and metrics namespace every log line, metric and trace carries."""

from __future__ import annotations

import os

NAMESPACE_DEFAULT = "CharleeCollector"


SERVICE_DEFAULT = "charlee-collector"


def namespace() -> str:
    """The metrics namespace: the template's parameter, passed as POWERTOOLS_METRICS_NAMESPACE."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT)


def service() -> str:
    """The service name (the ``service`` dimension and log key): POWERTOOLS_SERVICE_NAME."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_DEFAULT
