"""``local run`` (the whole pipeline on this machine) and ``local poll`` (work a real queue here)."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from charlee_collector.core.clock import utcnow
from charlee_collector.core.limits import MAX_INTERVAL_MINUTES
from charlee_collector_tools.cli.common import (
    BadInput,
    SqsEndpointUrl,
    SuggestingGroup,
    check_url,
    clip,
    database_url,
    err,
    labelled,
    open_engine,
    out,
    print_json,
    results_table,
    sqs_client,
    table,
    when,
)
from charlee_collector_tools.local.runner import BATCHES_IN_FLIGHT, UNKNOWN, TickReport

if TYPE_CHECKING:
    from rich.status import Status

    from charlee_collector_tools.local.poller import Poller, PollStats

app = typer.Typer(
    cls=SuggestingGroup,
    help="Run the pipeline on this machine (the embedded PostgreSQL or DATABASE_URL, in-process SQS).",
)

LogLevel = Annotated[
    str,
    typer.Option("--log-level", help="Handler log level on stderr: debug, info, warning, error."),
]
ExitZero = Annotated[
    bool, typer.Option("--exit-zero", help="Exit 0 even when platforms failed (the summary says which).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print each summary as one JSON array.")]

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smh]?)\s*$")


# The longest --every or --time-limit: the longest interval a platform can have.
MAX_DURATION = timedelta(minutes=MAX_INTERVAL_MINUTES)


def parse_interval(value: str, *, option: str = "--every") -> timedelta:
    """``90s``, ``15m``, ``1h``; a bare number is minutes; at most ``MAX_DURATION``."""
    match = _INTERVAL.match(value)
    if not match or int(match.group(1)) == 0:
        raise BadInput(f"{option} takes a duration such as 30s, 15m or 1h, got {value!r}")
    amount, unit = int(match.group(1)), match.group(2) or "m"
    seconds = amount * {"s": 1, "m": 60, "h": 3600}[unit]
    if seconds > MAX_DURATION.total_seconds():  # compared as an int: timedelta overflows first
        raise BadInput(f"{option} is at most {MAX_DURATION.days} days, got {value.strip()!r}")
    return timedelta(seconds=seconds)


def _check_level(level: str) -> str:
    if level.lower() not in {"debug", "info", "warning", "error", "critical"}:
        raise BadInput(f"--log-level must be debug, info, warning or error, got {level!r}")
    return level


def handler_stdout(level: str) -> TextIO:
    """Where the handlers' prints (EMF metric lines) go: stderr when logging at info or below."""
    return sys.stderr if level.lower() in ("debug", "info") else _Discard()


class _Discard(io.StringIO):
    """A sink that keeps nothing (a StringIO would grow for as long as --every runs)."""

    def write(self, text: str) -> int:
        return len(text)


def print_summary(report: TickReport, as_json: bool, *, title: str, see: str) -> None:
    """What ``local run`` and ``local poll`` print: a row per platform, what went to the DLQ.

    stdout: the table (or the platforms as one JSON array) and the dead-lettered messages that
    name no platform; stderr: one line saying what failed and where to look (``see``).
    """
    if as_json:
        print_json([p.as_dict() for p in report.platforms])
    else:
        out.print(results_table(title, report.platforms, attempts=True))
        if report.poison:
            out.print(
                table(
                    f"Dead-lettered messages that name no platform ({len(report.poison)})",
                    ["Message", "Problem"],
                    [(p.message_id, clip(p.problem, 160)) for p in report.poison],
                )
            )
    unknown = sum(p.outcome == UNKNOWN for p in report.platforms)
    if unknown:
        err.print(
            f"{unknown} message(s) named no platform: acknowledged, nothing collected (see the Error column)"
        )
    for problem in report.handler_errors:
        err.print(labelled("collector handler failed a whole batch:", "red", problem))
    if report.failed:
        failed = sum(p.outcome == "failed" for p in report.platforms)
        dead = f", {len(report.dead_lettered)} message(s) dead-lettered" if report.dead_lettered else ""
        err.print(f"{failed} platform(s) failed{dead}; see the Error column (and {see})")


def _print_tick(report: TickReport, as_json: bool, *, hint: bool = True) -> bool:
    """Print what the tick did; True when it was idle (the --force hint printed only with ``hint``)."""
    dispatch = report.dispatch
    if not as_json and not report.platforms and not dispatch.get("dispatched") and report.finished:
        line = f"nothing is due; next collection at {when(report.next_due, empty='-')}"
        if hint:
            line += " (--force collects every active platform now: `charlee-collector local run --force`)"
        out.print(line)
        return True
    title = (
        f"Local run: {dispatch.get('dispatched', 0)} platform(s) dispatched, "
        f"{sum(p.inserted for p in report.platforms)} new opportunities, {report.seconds:.1f}s"
    )
    print_summary(report, as_json, title=title, see="`charlee-collector status`")
    return False


def _print_unfinished(report: TickReport) -> None:
    if not report.finished:
        err.print(
            labelled(
                "the tick did not finish:",
                "red",
                f"{report.uncollected} platform(s) left uncollected "
                f"after {report.seconds:.0f}s (the time limit); the next tick takes those still due",
            )
        )


@app.command("run")
def run(
    every: Annotated[
        str | None, typer.Option("--every", help="Keep going: one tick every INTERVAL (30s, 15m, 1h).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Collect every active platform now, due or not.")
    ] = False,
    seed: Annotated[
        bool, typer.Option("--seed/--no-seed", help="Add the default public platforms to an empty database.")
    ] = True,
    time_limit: Annotated[
        str | None,
        typer.Option(
            "--time-limit",
            help="Stop a tick after this long (30s, 15m, 1h): no more platforms claimed or started; "
            "the count left is printed and the command exits 1.",
        ),
    ] = None,
    batches: Annotated[
        int,
        typer.Option(
            "--batches", min=1, max=64, help="Collector batches in flight at once (10 messages each)."
        ),
    ] = BATCHES_IN_FLIGHT,
    log_level: LogLevel = "error",
    exit_zero: ExitZero = False,
    as_json: JsonFlag = False,
) -> None:
    """Collect what is due, on this machine: dispatcher -> in-process SQS -> collector.

    Migrates the database, adds the default public platforms when it has none, runs the
    dispatcher handler with a scheduled event until everything due is sent, polls the queue
    (several batches at once) until it is drained (failed messages retried up to the DLQ, as in
    AWS) and prints a summary per platform. Exit 1 when a platform failed (unless --exit-zero),
    and always when a tick stopped at --time-limit with platforms left. With --every it keeps
    ticking until Ctrl-C.
    """
    interval = parse_interval(every) if every else None
    limit = parse_interval(time_limit, option="--time-limit").total_seconds() if time_limit else None
    _check_level(log_level)
    from charlee_collector_tools.local.defaults import seed_defaults
    from charlee_collector_tools.local.runner import LocalRunner, local_environment, quiet_logs
    from charlee_collector_tools.local.sqs import local_sqs

    url = database_url()
    overrides = {"DATABASE_URL": url.render_as_string(hide_password=False)}
    failed = unfinished = False
    with open_engine(upgrade=True) as engine:
        if seed and (added := seed_defaults(engine)):
            err.print(f"the database had no platforms: added {len(added)} default public ones (user 1)")
        with local_environment(overrides), local_sqs() as sqs:
            quiet_logs(log_level)
            os.environ["COLLECT_QUEUE_URL"] = sqs.queues.queue_url
            try:
                with err.status("starting") as status:
                    runner = LocalRunner(
                        engine,
                        sqs,
                        on_progress=status.update,
                        handler_stdout=handler_stdout(log_level),
                        batches_in_flight=batches,
                    )
                    hinted = False  # the --force hint: once per command, not on every idle tick
                    while True:
                        started = time.monotonic()
                        report = runner.tick(force=force, time_limit_seconds=limit)
                        status.stop()
                        hinted |= _print_tick(report, as_json, hint=not hinted)
                        _print_unfinished(report)
                        failed, unfinished = report.failed, not report.finished
                        if interval is None:
                            break
                        pause = max(interval.total_seconds() - (time.monotonic() - started), 0)
                        err.print(f"next tick in {pause:.0f}s (Ctrl-C stops)")
                        time.sleep(pause)
                        status.start()
            except KeyboardInterrupt:
                err.print("stopped")
                failed = unfinished = False
            finally:
                from charlee_collector.store.engine import dispose_engines

                dispose_engines()
    if unfinished or (failed and not exit_zero):
        raise typer.Exit(1)


@app.command("poll")
def poll(
    queue_url: Annotated[
        str,
        typer.Option(
            "--queue-url", callback=check_url, envvar="COLLECT_QUEUE_URL", help="The collect queue to work."
        ),
    ],
    endpoint_url: SqsEndpointUrl = None,
    forever: Annotated[
        bool, typer.Option("--forever", help="Keep long-polling instead of stopping when the queue is empty.")
    ] = False,
    log_level: LogLevel = "error",
    exit_zero: ExitZero = False,
    as_json: JsonFlag = False,
) -> None:
    """Work an SQS collect queue here: its messages go to the collector handler on this machine.

    Failed records are made visible again at once, so they reach the queue's DLQ after its
    maxReceiveCount. Stops when the queue is empty (unless --forever) and prints the summary
    `local run` prints: a row per platform and the messages that went to the DLQ. Exit 1 when a
    platform failed or a message was dead-lettered (unless --exit-zero).
    """
    _check_level(log_level)
    from charlee_collector_tools.cli.dead_letters import max_receive_count
    from charlee_collector_tools.local.handlers import load_handlers
    from charlee_collector_tools.local.poller import Poller
    from charlee_collector_tools.local.runner import local_environment, quiet_logs, tick_report
    from charlee_collector_tools.local.sqs import queue_arn

    url = database_url()
    sqs = sqs_client(queue_url, endpoint_url)
    overrides = {"DATABASE_URL": url.render_as_string(hide_password=False), "COLLECT_QUEUE_URL": queue_url}
    with open_engine() as engine:
        arn = queue_arn(sqs, queue_url)
        with local_environment(overrides, mocked_aws=False):
            quiet_logs(log_level)
            started = time.monotonic()
            poller = Poller(
                sqs,
                queue_url,
                arn,
                load_handlers().collector,
                handler_stdout=handler_stdout(log_level),
                max_receive_count=max_receive_count(sqs, queue_url),
            )
            try:
                with err.status("polling") as status:
                    poller.on_batch = _progress(status, lines=forever and not err.is_terminal)
                    if forever:
                        with _stop_on_sigterm(poller):
                            poller.run_forever()
                        err.print("stopped")  # it returns only when SIGTERM stopped it between batches
                    else:
                        poller.drain()
            except KeyboardInterrupt:
                err.print("stopped")
            finally:
                from charlee_collector.store.engine import dispose_engines

                dispose_engines()
        stats = poller.stats
        report = tick_report(
            engine,
            stats,
            stats.dead_lettered,
            dispatch={"received": stats.received},
            seconds=time.monotonic() - started,
        )
    if not stats.message_ids and not as_json:
        out.print("the queue was empty")
        return
    title = f"Polled {report.messages} message(s) in {report.seconds:.1f}s"
    if stats.received > report.messages:
        title += f" ({stats.received} receives: retries included)"
    print_summary(report, as_json, title=title, see="`charlee-collector dlq list`")
    if report.failed and not exit_zero:
        raise typer.Exit(1)


def _progress(status: Status, *, lines: bool) -> Callable[[PollStats], None]:
    """What ``local poll`` shows after each batch: the spinner's text, or with ``lines`` (--forever
    with no terminal to hold a spinner: a service's log) one line per batch on stderr."""

    def show(stats: PollStats) -> None:
        text = f"polling: {stats.succeeded} done, {stats.failed} to retry"
        if lines:
            err.print(f"{when(utcnow())} {text} ({stats.messages} message(s) so far)")
        else:
            status.update(text)

    return show


@contextmanager
def _stop_on_sigterm(poller: Poller) -> Iterator[None]:
    """SIGTERM (systemd, docker stop, kill) stops ``run_forever`` as Ctrl-C does, so the summary is
    printed: the batch in hand is settled first; a wait for messages is cut short at once."""

    def stop(_signum: int, _frame: object) -> None:
        poller.stop()
        if poller.receiving:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command("stop")
def stop() -> None:
    """Stop the embedded PostgreSQL ($CHARLEE_HOME/pgdata); its data stays for the next command.

    The server keeps running between commands so each one connects at once; this ends it (the
    next command that needs it starts it again).
    """
    from charlee_collector_tools.local import embedded_server

    pgdata = embedded_server.data_dir()
    if embedded_server.stop(pgdata):
        err.print(f"stopped the embedded PostgreSQL (data kept in {pgdata})")
    else:
        err.print(f"the embedded PostgreSQL was not running (data dir {pgdata})")
