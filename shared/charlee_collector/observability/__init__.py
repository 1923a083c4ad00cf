"""Logs, metrics and traces, and keeping secrets out of them.

``service``    the service name and metrics namespace every signal carries
``redaction``  masking secret values, URL userinfo, credential parameters and tokens in any text
``logger``     the Powertools logger, with every record scrubbed (installed on import)
``metrics``    the one list of metric names, and metrics safe to add from worker threads
``tracer``     the X-Ray tracer
Imports only the stdlib, Powertools and itself; importing any part installs the log scrubbing first.
"""

from charlee_collector.observability import logger as _logger  # noqa: F401  (installs the scrubbing)
