"""Logger, metrics and tracer, and the one list of metric names (DESIGN section 7).

The template's dashboard and alarms are held equal to ``METRIC_NAMES`` by a test, so a metric
is added here first. Dimensions stay low-cardinality: the service, and the source kind where
useful; never a platform id.

No secret reaches a log line. Every record the Powertools handler writes (and every record the
handlers that were on the root logger at import see) is scrubbed first: values registered with
``register_secret_values`` (and the password of ``DATABASE_URL``) in every form a message may
give them (any case, escaped, percent-encoded, inside an IDNA host label), the userinfo of any URL,
credential-like query parameters and ``Bearer``/``Basic`` tokens become ``***``. That covers the
message, extra keys, appended keys and exception tracebacks, chained causes included: a record
whose traceback needed scrubbing carries the scrubbed text in ``exception`` and loses its raw
``exc_info``. The package's own loggers (``charlee_collector.*``) write through the same handler,
so their lines are JSON with the correlation keys too, at the Powertools logger's level.

The collector adds metrics from worker threads, and the local worker runs several invocations at
once: ``metrics`` takes one lock around each change and each flush, because Powertools'
check-then-set on a new metric name would otherwise drop a value, and a flush racing an add would
clear what it had not printed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import traceback
import unicodedata
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

NAMESPACE_DEFAULT = "CharleeCollector"
SERVICE_DEFAULT = "charlee-collector"
PACKAGE_LOGGER = "charlee_collector"
REDACTED = "***"
# Shorter values (a flag, "1", "true") would blank out ordinary words; real secrets are longer.
MIN_SECRET_LENGTH = 4


class Metric(StrEnum):
    """Every metric the code emits."""

    PLATFORMS_DUE = "PlatformsDue"
    DISPATCHED = "PlatformsDispatched"
    DISPATCH_FAILURES = "DispatchFailures"
    COLLECTION_SUCCESS = "CollectionSuccess"
    COLLECTION_NOT_MODIFIED = "CollectionNotModified"
    COLLECTION_RATE_LIMITED = "CollectionRateLimited"
    COLLECTION_FAILED = "CollectionFailed"
    COLLECTION_SKIPPED = "CollectionSkipped"
    COLLECTION_DEFERRED = "CollectionDeferred"
    COLLECTION_RETRIED = "CollectionRetried"
    # A record handed back to SQS with no run recorded: the database unreachable, or a bug.
    RECORDS_FAILED = "RecordsFailed"
    INVALID_MESSAGES = "InvalidMessages"
    UNKNOWN_PLATFORMS = "UnknownPlatforms"
    OPPORTUNITIES_FETCHED = "OpportunitiesFetched"
    OPPORTUNITIES_INSERTED = "OpportunitiesInserted"
    OPPORTUNITIES_UPDATED = "OpportunitiesUpdated"
    COLLECTION_DURATION = "CollectionDuration"
    PLATFORMS_PAUSED = "PlatformsPaused"
    # The event outbox (outbox.py): entries EventBridge accepted / refused, from the collector
    # (right after its commit) and the dispatcher (its tick); the age from the dispatcher only.
    EVENTS_PUBLISHED = "EventsPublished"
    EVENTS_FAILED = "EventsFailed"
    OUTBOX_OLDEST_PENDING_AGE = "OutboxOldestPendingAge"


METRIC_NAMES: frozenset[str] = frozenset(m.value for m in Metric)

# Each run outcome (collection_runs.outcome) counts into one metric.
OUTCOME_METRIC: dict[str, Metric] = {
    "success": Metric.COLLECTION_SUCCESS,
    "not_modified": Metric.COLLECTION_NOT_MODIFIED,
    "rate_limited": Metric.COLLECTION_RATE_LIMITED,
    "failed": Metric.COLLECTION_FAILED,
    "skipped": Metric.COLLECTION_SKIPPED,
    "deferred": Metric.COLLECTION_DEFERRED,
}

# ColdStart is emitted by Powertools itself (capture_cold_start_metric=True); it is on the
# dashboard too, so the template test adds it to METRIC_NAMES.
POWERTOOLS_METRICS: frozenset[str] = frozenset({"ColdStart"})


def namespace() -> str:
    """The metrics namespace: the template's parameter, passed as POWERTOOLS_METRICS_NAMESPACE."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT)


def service() -> str:
    """The service name (the ``service`` dimension and log key): POWERTOOLS_SERVICE_NAME."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_DEFAULT


# --- secrets out of log lines ----------------------------------------------------------------

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/?#@\s\"'<>]+)@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:api[_-]?key|access[_-]?token|auth(?:orization)?|client[_-]?secret|key|"
    r"pass(?:word|wd)?|pwd|secret|sig(?:nature)?|token|x-amz-(?:credential|security-token|signature))=)"
    r"[^&#\s\"'<>]+"
)
_AUTH_TOKEN = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{8,}")

_secrets_lock = threading.Lock()
_secret_values: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None
_database_url_seen: str | None = None
# An IDNA label (a host name as httpx sends it): a secret inside one is no longer its own text.
_PUNYCODE_LABEL = re.compile(r"(?i)\bxn--[a-z0-9-]+")


def _char_forms(char: str) -> list[str]:
    # One character as a message may show it: as is, JSON-, repr- or bytes-repr-escaped, and
    # percent-encoded once or twice (any hex case: the pattern ignores case), "+" for a space.
    encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    forms = {
        char,
        json.dumps(char)[1:-1],
        repr(char)[1:-1],
        repr(char.encode("utf-8", "surrogatepass"))[2:-1],
        encoded,
        encoded.replace("%", "%25"),
    }
    if char == " ":
        forms.add("+")
    return sorted(forms, key=len, reverse=True)


def _value_pattern(value: str) -> str:
    return "".join("(?:" + "|".join(re.escape(form) for form in _char_forms(char)) + ")" for char in value)


def _all_variants(values: Iterable[object]) -> set[str]:
    # Each value, without the trailing newline a pasted secret often has, and as Unicode
    # normalisation (IDNA, NFKC) and case folding may have rewritten it.
    forms: set[str] = set()
    for value in values:
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LENGTH:
            for base in {value, value.strip()}:
                forms |= {base, base.casefold(), unicodedata.normalize("NFKC", base).casefold()}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _pattern(values: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(values, key=len, reverse=True)  # longest first: no partial hits
    # Case-insensitive: a host name reaches a message lower-cased, percent-encoding in any case.
    return re.compile("|".join(_value_pattern(value) for value in ordered), re.IGNORECASE)


def _decoded_label(label: str) -> str:
    try:
        return label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    text = pattern.sub(REDACTED, text)
    # A secret in a host name with non-ASCII letters leaves as punycode: look inside each label.
    return _PUNYCODE_LABEL.sub(lambda m: REDACTED if pattern.search(_decoded_label(m[0])) else m[0], text)


def mask_values(text: str, values: Iterable[object]) -> str:
    """``text`` with each of ``values`` masked in every form it may take: any letter case,
    JSON/repr-escaped, percent-encoded (wholly or in part, any hex case), inside an IDNA host
    label, NFKC-normalised."""
    forms = _all_variants(values)
    return _mask(text, _pattern(forms)) if forms else text


def register_secret_values(values: Iterable[object]) -> None:
    """Never log these values (strings of at least MIN_SECRET_LENGTH characters; others ignored)."""
    global _secret_pattern
    new = _all_variants(values)
    with _secrets_lock:
        if new - _secret_values:
            _secret_values.update(new)
            _secret_pattern = _pattern(_secret_values)


def _register_database_url_password() -> None:
    global _database_url_seen
    raw = os.environ.get("DATABASE_URL") or ""
    if raw == _database_url_seen:
        return
    _database_url_seen = raw
    try:
        password = urlsplit(raw).password
    except ValueError:
        password = None
    if password:
        register_secret_values([password, unquote(password)])


def redact(text: str) -> str:
    """``text`` with known secret values, URL userinfo, credential query values and tokens masked."""
    _register_database_url_password()
    pattern = _secret_pattern
    if pattern is not None:
        text = _mask(text, pattern)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _SECRET_QUERY.sub(lambda m: m[1] + REDACTED, text)
    return _AUTH_TOKEN.sub(lambda m: f"{m[1]} {REDACTED}", text)


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match[2].partition(":")
    # A lone userinfo is often a token (https://TOKEN@host); a user before a colon is kept.
    return f"{match[1]}{user}:{REDACTED}@" if colon else f"{match[1]}{REDACTED}@"


def _scrub(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item) for item in value]
    return redact(str(value))  # what the JSON serializer would write (json_default=str), masked


_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Scrubs a record in place, before any handler after it formats the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Mapping) and not record.args:
            record.msg = _scrub(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a malformed %-format: keep what there is, masked
                message = f"{record.msg} {record.args}"
            record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRS:
                record.__dict__[key] = _scrub(value)
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
        return super().serialize(_scrub(log))


class _PackageLevelFilter(logging.Filter):
    """Package loggers follow the Powertools logger's level (the CLI and LOG_LEVEL set that one)."""

    def __init__(self, service_logger: logging.Logger) -> None:
        super().__init__()
        self._service_logger = service_logger

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(PACKAGE_LOGGER):
            return True
        return record.levelno >= self._service_logger.getEffectiveLevel()


# --- metrics from worker threads --------------------------------------------------------------


class _LockedEMFProvider(AmazonCloudWatchEMFProvider):
    """The EMF provider with one lock around every change and every flush.

    The lock is on the provider because every ``Metrics`` call ends here, and so does the
    ``log_metrics`` decorator's flush, which never passes through ``Metrics.flush_metrics``."""

    _lock = threading.RLock()

    def add_metric(
        self,
        name: str,
        unit: MetricUnit | str,
        value: float,
        resolution: MetricResolution | int = 60,
    ) -> None:
        with self._lock:
            super().add_metric(name=name, unit=unit, value=value, resolution=resolution)

    def add_dimension(self, name: str, value: str) -> None:
        with self._lock:
            super().add_dimension(name=name, value=value)

    def add_metadata(self, key: str, value: Any) -> None:
        with self._lock:
            super().add_metadata(key=key, value=value)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        with self._lock:
            # Every invocation of ours adds metrics before it flushes, so an empty set means an
            # invocation running beside this one in the process (the local worker's batches in
            # flight) has already published them: nothing is lost, and Powertools' "no metrics"
            # warning would only be noise on the command's stderr.
            if not self.metric_set and not raise_on_empty_metrics:
                return
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


class ThreadSafeMetrics(Metrics):
    """Powertools Metrics whose calls, and whose handlers' flushes, may come from several threads
    at once (the collector's worker threads; the local worker's batches in flight)."""

    def __init__(self, service: str | None = None, namespace: str | None = None) -> None:
        provider = _LockedEMFProvider(
            metric_set=Metrics._metrics,
            dimension_set=Metrics._dimensions,
            metadata_set=Metrics._metadata,
            default_dimensions=Metrics._default_dimensions,
            namespace=namespace,
            service=service,
        )
        super().__init__(service=service, namespace=namespace, provider=provider)


# --- the instances every module uses ----------------------------------------------------------

logger = Logger(service=service(), logger_formatter=RedactingFormatter())
metrics = ThreadSafeMetrics(namespace=namespace(), service=service())
# httpx and pg8000 calls become X-Ray subsegments; POWERTOOLS_TRACE_DISABLED=true turns tracing off.
tracer = Tracer(service=service(), patch_modules=("httpx", "pg8000", "botocore"))


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
