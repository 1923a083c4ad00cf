"""The Powertools logger, with every record scrubbed before any handler formats it.

Every record the Powertools handler writes, and every record the handlers on the root logger at
import see, passes ``redaction``: the message, extra and appended keys, and tracebacks with their
chained causes (a record whose traceback needed it carries the masked text and loses its raw
``exc_info``). The package's own loggers (``charlee_collector.*``) write through the same handler,
so their lines are JSON with the correlation keys too, at the Powertools logger's level.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from charlee_collector.observability.redaction import redact, scrub
from charlee_collector.observability.service import service

PACKAGE_LOGGER = "charlee_collector"


_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Scrubs a record in place, before any handler after it formats the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Mapping) and not record.args:
            record.msg = scrub(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a malformed %-format: keep what there is, masked
                message = f"{record.msg} {record.args}"
            record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRS:
                record.__dict__[key] = scrub(value)
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            masked = redact(text)
            if masked != text:
                # The raw exception would be formatted again by every formatter; hand them the
                # masked text instead (Powertools reads `exception`, logging.Formatter exc_text).
                record.exception = masked
                record.exception_name = type(record.exc_info[1]).__name__
                record.exc_info, record.exc_text = None, masked
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingFormatter(LambdaPowertoolsFormatter):
    """The Powertools JSON formatter, scrubbing the keys appended to the logger as well."""

    def serialize(self, log: Mapping[str, Any]) -> str:
        return super().serialize(scrub(log))


class _PackageLevelFilter(logging.Filter):
    """Package loggers follow the Powertools logger's level (the CLI and LOG_LEVEL set that one)."""

    def __init__(self, service_logger: logging.Logger) -> None:
        super().__init__()
        self._service_logger = service_logger

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(PACKAGE_LOGGER):
            return True
        return record.levelno >= self._service_logger.getEffectiveLevel()


logger = Logger(service=service(), logger_formatter=RedactingFormatter())


def _install_log_safety() -> None:
    handler = logger.registered_handler
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(_PackageLevelFilter(logging.getLogger(logger.name)))
        handler.addFilter(RedactingFilter())
    package = logging.getLogger(PACKAGE_LOGGER)
    if handler not in package.handlers:
        package.addHandler(handler)
    package.setLevel(logging.DEBUG)  # the handler's level filter decides
    package.propagate = False
    # Lambda's own handler on the root logger prints the libraries' lines: scrub those too.
    for root_handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in root_handler.filters):
            root_handler.addFilter(RedactingFilter())
    # botocore logs whole response bodies at DEBUG, GetSecretValue's SecretString included.
    logging.getLogger("botocore.parsers").setLevel(logging.INFO)


_install_log_safety()
