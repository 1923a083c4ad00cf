"""observability: secrets scrubbed from every log line, metrics safe from worker threads."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import idna
import pytest

from charlee_collector.observability import metrics as observability_metrics
from charlee_collector.observability import service as observability_service
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import ThreadSafeMetrics
from charlee_collector.observability.redaction import REDACTED, mask_values, redact, register_secret_values

SECRET = "unit-SECRET-4f1c9"


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What the Powertools handler writes (its stream swapped for a buffer); caplog sees the rest."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.stream
    handler.stream = buffer
    caplog.set_level(logging.DEBUG)
    try:
        yield buffer
    finally:
        handler.stream = previous
        logger.thread_safe_clear_keys()


def parsed(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


# --- redact ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:pa55word@db:5432/x", f"postgresql://app:{REDACTED}@db:5432/x"),
        ("see https://TOKEN123@api.example.com/v1", f"see https://{REDACTED}@api.example.com/v1"),
        (
            "GET https://a.example/jobs?q=python&api_key=abc123&page=2",
            f"GET https://a.example/jobs?q=python&api_key={REDACTED}&page=2",
        ),
        (
            "https://a.example/x?token=t0k&access_token=zz",
            f"https://a.example/x?token={REDACTED}&access_token={REDACTED}",
        ),
        ("https://a.example/x?X-Amz-Signature=deadbeef", f"https://a.example/x?X-Amz-Signature={REDACTED}"),
        ("Authorization: Bearer abcdefghijkl.mnop", f"Authorization: Bearer {REDACTED}"),
        ("mail me at someone@example.org", "mail me at someone@example.org"),
        ("https://a.example/path@v2/x?q=1", "https://a.example/path@v2/x?q=1"),
        ("keyword=python monkey=1", "keyword=python monkey=1"),
    ],
)
def test_redact_masks_url_credentials_and_tokens(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_values_are_masked_in_every_form_they_take() -> None:
    value = 'k3y/with+"quote"\n'
    register_secret_values([value, "abc", None, 12345])  # short and non-string values are ignored
    for form in (
        value,
        value.strip(),
        json.dumps(value)[1:-1],
        repr(value.encode())[2:-1],
        quote(value, safe=""),
    ):
        assert "k3y" not in redact(f"error: {form} ..."), form
    assert redact("abc 12345") == "abc 12345"


def _encoded(value: str) -> str:
    return "".join(f"%{byte:02X}" for byte in value.encode())


MASKED_FORMS = {
    "as is": "Tok3n-Mixed_Case",
    "lower-cased (a host name)": "tok3n-mixed_case",
    "upper-cased": "TOK3N-MIXED_CASE",
    "percent-encoded": _encoded("Tok3n-Mixed_Case"),
    "percent-encoded, lower hex": _encoded("Tok3n-Mixed_Case").lower(),
    "partly percent-encoded": "Tok%33n-Mi%78ed_Case",
    "percent-encoded twice": _encoded("Tok3n-Mixed_Case").replace("%", "%25"),
    "JSON-escaped": json.dumps("Tok3n-Mixed_Case")[1:-1],
}


@pytest.mark.parametrize("form", list(MASKED_FORMS.values()), ids=list(MASKED_FORMS))
def test_a_value_is_masked_whatever_a_url_made_of_it(form: str) -> None:
    text = f"could not resolve host '{form}.invalid' (see http://{form}.invalid/x)"
    assert (
        mask_values(text, ["Tok3n-Mixed_Case"])
        == "could not resolve host '***.invalid' (see http://***.invalid/x)"
    )


IDNA_SECRET = "Sëcret-Ünïcode-Tøken"


@pytest.mark.parametrize(
    "label",
    [
        idna.encode(IDNA_SECRET.lower()).decode(),  # the whole label
        idna.encode(f"pre-{IDNA_SECRET.lower()}-post").decode(),  # inside a longer label
        idna.encode(IDNA_SECRET.lower()).decode().upper(),
    ],
    ids=["label", "inside-a-label", "upper-case"],
)
def test_a_value_inside_an_idna_label_is_masked(label: str) -> None:
    masked = mask_values(f"could not resolve host '{label}.invalid'", [IDNA_SECRET])
    assert masked == "could not resolve host '***.invalid'"


def test_a_value_in_a_unicode_host_is_masked_in_any_case() -> None:
    # httpx's URL.host gives the Unicode form, lower-cased.
    assert mask_values("host sëcret-ünïcode-tøken.invalid", [IDNA_SECRET]) == "host ***.invalid"
    assert mask_values("host SËCRET-ÜNÏCODE-TØKEN.invalid", [IDNA_SECRET]) == "host ***.invalid"


def test_registered_values_are_masked_in_logs_whatever_their_case_or_encoding() -> None:
    register_secret_values(["Reg1stered-Secret"])
    for form in ("reg1stered-secret", _encoded("Reg1stered-Secret").lower(), "REG1STERED-SECRET"):
        assert "reg1stered" not in redact(f"redirected to http://{form}.invalid/").lower(), form


def test_masking_leaves_everything_else_alone() -> None:
    text = "xn--bcher-kva.example answered 404 for https://a.example/jobs: check the url"
    assert mask_values(text, ["Tok3n-Mixed_Case", "ab"]) == text  # "ab" is too short to mask


def test_the_database_url_password_is_known_without_registering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:Env-Pa%24%24word@127.0.0.1:9/x")
    assert redact("failed with Env-Pa$$word and Env-Pa%24%24word") == f"failed with {REDACTED} and {REDACTED}"


# --- log lines -------------------------------------------------------------------------------


def _chained_failure() -> None:
    try:
        raise ValueError(f"upstream said: key={SECRET} at https://u:pw-{SECRET}@h.example/?api_key=1")
    except ValueError as exc:
        raise RuntimeError("collection failed") from exc


def test_no_secret_in_message_extra_keys_or_traceback(
    lines: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    register_secret_values([SECRET])
    logger.append_keys(header=f"X-Api-Key: {SECRET}")
    try:
        logger.info(
            "fetching %s", f"https://h.example/jobs?apikey={SECRET}", extra={"detail": {"k": [SECRET]}}
        )
        try:
            _chained_failure()
        except RuntimeError:
            logger.exception("record failed")
    finally:
        logger.remove_keys(["header"])

    written = lines.getvalue()
    assert SECRET not in written
    assert SECRET not in caplog.text
    info, failure = parsed(lines)
    assert info["detail"] == {"k": [REDACTED]}
    assert failure["exception_name"] == "RuntimeError"
    # The traceback is still there, the chained cause included, only masked.
    assert "upstream said: key=***" in str(failure["exception"])
    assert "collection failed" in str(failure["exception"])
    assert "collection failed" in caplog.text and "upstream said: key=***" in caplog.text


def test_a_traceback_without_secrets_keeps_its_structured_stack_trace(lines: io.StringIO) -> None:
    try:
        raise KeyError("plain")
    except KeyError:
        logger.exception("plain failure")
    (line,) = parsed(lines)
    assert line["exception_name"] == "KeyError"
    assert isinstance(line["stack_trace"], dict) and line["stack_trace"]["frames"]


def test_package_loggers_write_json_with_the_thread_correlation_keys(lines: io.StringIO) -> None:
    package_log = logging.getLogger("charlee_collector.fetching.client")
    logger.thread_safe_append_keys(platform_id=7, message_id="m-7", trigger="schedule")
    package_log.info("connect to %s failed; retrying once", "h.example")
    package_log.debug("below the Powertools logger's level: dropped")
    (line,) = parsed(lines)
    assert line["message"] == "connect to h.example failed; retrying once"
    assert (line["platform_id"], line["message_id"], line["trigger"]) == (7, "m-7", "schedule")
    assert line["service"] == logger.service


def test_thread_keys_stay_with_their_thread(lines: io.StringIO) -> None:
    def work(n: int) -> None:
        logger.thread_safe_append_keys(platform_id=n, message_id=f"m-{n}")
        for _ in range(20):
            logger.info("step")
        logger.thread_safe_clear_keys()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(32)))
    records = parsed(lines)
    assert len(records) == 32 * 20
    assert all(line["message_id"] == f"m-{line['platform_id']}" for line in records)


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_added_from_many_threads_are_all_flushed(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = ThreadSafeMetrics(namespace="UnitTest", service="unit")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to expose races
    try:
        for _ in range(20):
            barrier = threading.Barrier(8)

            def work(barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                for name in ("A", "B", "C", "D"):
                    metrics.add_metric(name=name, unit="Count", value=1)

            threads = [threading.Thread(target=work) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            blob = metrics.serialize_metric_set()
            assert [len(blob[name]) for name in "ABCD"] == [8, 8, 8, 8]  # type: ignore[literal-required]
            metrics.clear_metrics()
    finally:
        sys.setswitchinterval(previous)
    capsys.readouterr()


def test_handlers_flushing_while_other_threads_add_lose_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    """The local worker's batches in flight: one invocation's ``log_metrics`` flush runs while
    another's threads add. Every value added is printed once, in some blob."""
    metrics = ThreadSafeMetrics(namespace="UnitTest", service="unit")
    handler = metrics.log_metrics(lambda event, context: None)
    adders_done = threading.Event()

    def add() -> None:
        for _ in range(3000):
            metrics.add_metric(name="A", unit="Count", value=1)

    def flush_until_done() -> None:
        while not adders_done.is_set():
            handler({}, None)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to expose races
    try:
        with ThreadPoolExecutor(5) as pool:
            flusher = pool.submit(flush_until_done)
            for adder in [pool.submit(add) for _ in range(4)]:
                adder.result()
            adders_done.set()
            flusher.result()
    finally:
        sys.setswitchinterval(previous)
    metrics.flush_metrics()
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum(len(blob.get("A", [])) for blob in blobs) == 4 * 3000


def test_a_flush_after_another_invocation_published_everything_is_silent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two invocations in one process (the local worker's batches in flight): the first flush
    publishes both one's metrics, the second finds none and neither warns nor prints."""
    metrics = ThreadSafeMetrics(namespace="UnitTest", service="unit")
    metrics.add_metric(name="A", unit="Count", value=1)
    metrics.add_metric(name="A", unit="Count", value=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Powertools' "No application metrics" would raise here
        metrics.flush_metrics()
        metrics.flush_metrics()
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [blob["A"] for blob in blobs] == [[1.0, 2.0]]
    with pytest.raises(
        Exception, match="at least one metric"
    ):  # asked to refuse an empty flush: still refuses
        metrics.flush_metrics(raise_on_empty_metrics=True)


def test_the_shared_metrics_are_thread_safe_and_carry_the_service() -> None:
    assert isinstance(observability_metrics.metrics, ThreadSafeMetrics)
    assert observability_metrics.metrics.provider.service == observability_service.service()
    assert observability_metrics.metrics.provider.namespace == observability_service.namespace()
