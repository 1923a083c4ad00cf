"""``collect`` and ``dispatch``: collect now, through the queue or in this process."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine, or_, select

from charlee_collector.core.clock import utcnow
from charlee_collector.core.scheduling import due_before
from charlee_collector.store.tables import platforms
from charlee_collector_tools.cli.common import (
    BadInput,
    CliError,
    NotFound,
    SqsEndpointUrl,
    check_platform_id,
    check_url,
    check_user_id,
    command_settings,
    err,
    open_engine,
    out,
    platform_names,
    print_json,
    quiet_handler_logs,
    require_platform,
    results_table,
    sqs_client,
    table,
    when,
)
from charlee_collector_tools.local.runner import PlatformOutcome

QueueUrl = Annotated[
    str | None,
    typer.Option(
        "--queue-url",
        callback=check_url,
        envvar="COLLECT_QUEUE_URL",
        help="The collect queue; when set, messages go there instead of collecting here.",
    ),
]

ON_DEMAND = {"trigger": "on_demand", "force": True}


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),  # the description holds a platform's name
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def collect_in_process(
    engine: Engine, ids: Sequence[int], *, trigger: str, force: bool
) -> list[PlatformOutcome]:
    """Collect the platforms one after another in this process, with a progress bar."""
    quiet_handler_logs()
    from charlee_collector.app import collect
    from charlee_collector.app.messages import CollectMessage
    from charlee_collector.core.errors import SourceError
    from charlee_collector.fetching.client import build_client
    from charlee_collector_tools.cli.events import command_event_bus

    current = command_settings()
    names = platform_names(engine, ids)
    rows: list[PlatformOutcome] = []
    client = build_client(current)
    bus, _where = command_event_bus(current)  # each run's event, published after its commit
    try:
        with progress() as bar:
            task = bar.add_task("collecting", total=len(ids))
            for platform_id in ids:
                bar.update(task, description=f"collecting {names.get(platform_id, platform_id)}")
                message = CollectMessage(platform_id=platform_id, trigger=trigger, force=force)  # type: ignore[arg-type]
                try:
                    result = collect.collect_platform(engine, client, message, current, event_bus=bus)
                except SourceError as exc:
                    # A transient failure: the run is already recorded failed (SQS would retry it).
                    rows.append(
                        PlatformOutcome(platform_id, names.get(platform_id, "?"), "failed", 1, error=str(exc))
                    )
                else:
                    rows.append(
                        PlatformOutcome(
                            platform_id,
                            names.get(platform_id, "?"),
                            result.outcome,
                            attempts=1,
                            fetched=result.fetched,
                            filtered=result.filtered,
                            inserted=result.inserted,
                            updated=result.updated,
                            duration_ms=result.duration_ms,
                            error=result.error,
                        )
                    )
                bar.advance(task)
    finally:
        client.close()
    return rows


def send_on_demand(sqs: Any, queue_url: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """One message per platform, the body a person would type with ``aws sqs send-message``."""
    sent: list[dict[str, Any]] = []
    failed: list[str] = []
    for start in range(0, len(ids), 10):
        chunk = ids[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(pid), "MessageBody": json.dumps({"platform_id": pid, **ON_DEMAND})}
                for pid in chunk
            ],
        )
        sent.extend(
            {"platform_id": int(e["Id"]), "message_id": e["MessageId"]}
            for e in response.get("Successful", [])
        )
        failed.extend(f"platform {e['Id']}: {e.get('Code')}" for e in response.get("Failed", []))
    if failed:
        raise CliError(f"{len(failed)} message(s) not sent: {'; '.join(failed)}")
    return sent


def report(rows: list[PlatformOutcome], title: str, as_json: bool) -> None:
    """Print the results; exit 1 when any platform failed."""
    if as_json:
        print_json([row.as_dict() for row in rows])
    else:
        out.print(results_table(title, rows))
    if any(row.outcome in ("failed", "unknown") for row in rows):
        raise typer.Exit(1)


def collect_command(
    platform_id: Annotated[
        int | None,
        typer.Argument(help="The platform to collect.", metavar="PLATFORM_ID", callback=check_platform_id),
    ] = None,
    user: Annotated[
        int | None,
        typer.Option("--user", help="Collect every active platform of this user.", callback=check_user_id),
    ] = None,
    queue_url: QueueUrl = None,
    endpoint_url: SqsEndpointUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as one JSON array.")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="With a queue: follow the run each message produces, print it, exit by its outcome. "
            "(Collecting here always waits.)",
        ),
    ] = False,
    timeout: Annotated[
        int | None,
        typer.Option(
            "--timeout",
            min=1,
            max=86_400,
            metavar="SECONDS",
            help="With --wait: how long to wait (default: the queue's visibility timeout, 720 s as deployed).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Collect a platform (or a user's platforms) now, due or not, even when paused.

    With a queue URL the collect messages go to SQS for the collector Lambda (with --wait, the
    command then follows their runs: exit 1 when one failed or none ended in time); without, the
    collection runs here and its outcome is printed (exit 1 when one failed).
    """
    if (platform_id is None) == (user is None):
        raise BadInput("give a PLATFORM_ID or --user USER_ID (one of them)")
    if timeout is not None and not wait:
        raise BadInput("--timeout goes with --wait")
    with open_engine() as engine:
        with engine.connect() as conn:
            if platform_id is not None:
                require_platform(conn, platform_id)
                ids = [platform_id]
            else:
                ids = list(
                    conn.execute(
                        select(platforms.c.id)
                        .where(platforms.c.user_id == user, platforms.c.active.is_(True))
                        .order_by(platforms.c.id)
                    ).scalars()
                )
                if not ids:
                    raise NotFound(f"user {user} has no active platforms")
            paused = paused_among(conn, ids)
        if queue_url:
            sqs = sqs_client(queue_url, endpoint_url)
            sent_at = utcnow()
            sent = send_on_demand(sqs, queue_url, ids)
            if as_json and not wait:
                print_json(sent)
            for item in [] if as_json else sent:
                out.print(f"queued platform {item['platform_id']} (message {item['message_id']})")
            if not wait:
                for platform_id in paused:
                    err.print(f"platform {platform_id} is paused: if this collection succeeds, it resumes it")
                return
            from charlee_collector_tools.cli.waiting import follow, queue_visibility_timeout

            seconds = timeout or queue_visibility_timeout(sqs, queue_url)
            try:
                follow(engine, sent, timeout_seconds=seconds, since=sent_at, as_json=as_json)
            finally:
                say_resumed(engine, paused)
            return
        rows = collect_in_process(engine, ids, trigger="on_demand", force=True)
        say_resumed(engine, paused)
    report(rows, "Collected", as_json)


def paused_among(conn: Connection, ids: Sequence[int]) -> list[int]:
    """The platforms of ``ids`` that are paused now."""
    query = select(platforms.c.id).where(platforms.c.id.in_(ids), platforms.c.paused_at.is_not(None))
    return sorted(conn.execute(query).scalars())


def say_resumed(engine: Engine, paused: Sequence[int]) -> None:
    """One line for each platform that was paused and is no longer: a successful collection
    resumes a paused platform (``store/runs.finish_run``), which the operator should know."""
    if not paused:
        return
    query = select(platforms.c.id).where(platforms.c.id.in_(paused), platforms.c.paused_at.is_(None))
    with engine.connect() as conn:
        resumed = sorted(conn.execute(query).scalars())
    for platform_id in resumed:
        err.print(
            f"resumed platform {platform_id}: it was paused, and this collection succeeded "
            f"(`charlee-collector platforms pause {platform_id}` pauses it again)"
        )


def due_now(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """What the scheduled dispatcher would take now (docs/architecture.md, Scheduling), read without claiming."""
    next_at = platforms.c.next_collection_at
    query = (
        select(
            platforms.c.id,
            platforms.c.user_id,
            platforms.c.name,
            platforms.c.source,
            next_at,
            platforms.c.last_collection_at,
        )
        .where(
            platforms.c.active.is_(True),
            platforms.c.auto_collect.is_(True),
            platforms.c.paused_at.is_(None),
            or_(next_at.is_(None), next_at <= due_before(now)),  # as the dispatcher counts it
        )
        .order_by(next_at.asc().nulls_first(), platforms.c.id)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def due_since(row: Mapping[str, Any]) -> str:
    """The "Due since" cell: the time it fell due, "now" when it was made due at once (a resume,
    a new config), or "never collected".

    A NULL ``next_collection_at`` means "due at once" whatever the history: ``platforms resume``
    clears it on a platform collected before, which used to read "never collected" beside its
    last collection time.
    """
    if row["next_collection_at"] is not None:
        return when(row["next_collection_at"])
    return "now" if row["last_collection_at"] is not None else "never collected"


def dispatch_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what is due; claim and send nothing.")
    ] = False,
    queue_url: QueueUrl = None,
    endpoint_url: SqsEndpointUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array instead of a table.")] = False,
) -> None:
    """Do the scheduled tick now: claim the due platforms and collect them.

    With a queue URL this is exactly the dispatcher Lambda (claim, send, release what was not
    sent). Without one, the claimed platforms are collected here, one after another, so a cron
    entry on a machine without AWS keeps the database fresh (exit 1 when one failed).
    """
    with open_engine() as engine:
        if dry_run:
            rows = due_now(engine, utcnow())
            if as_json:
                print_json(rows)
            elif not rows:
                err.print("nothing is due")
            else:
                out.print(
                    table(
                        f"Due now ({len(rows)})",
                        ["ID", "User", "Name", "Source", "Due since", "Last collected"],
                        [
                            (
                                r["id"],
                                r["user_id"],
                                r["name"],
                                r["source"],
                                due_since(r),
                                when(r["last_collection_at"], empty="never"),
                            )
                            for r in rows
                        ],
                    )
                )
            return
        current = command_settings()
        if queue_url:
            quiet_handler_logs()
            from charlee_collector.app.dispatch import dispatch
            from charlee_collector.app.messages import DispatchRequest

            summary = dispatch(
                engine,
                sqs_client(queue_url, endpoint_url),
                queue_url,
                DispatchRequest(kind="schedule"),
                batch_size=current.dispatch_batch_size,
            )
            if as_json:
                print_json([summary.as_dict()])
            else:
                out.print(f"due {summary.due}, dispatched {summary.dispatched}, failed {summary.failed}")
            if summary.failed:
                raise typer.Exit(1)
            return
        from charlee_collector.store.platforms import Claim, claim_due_platforms, settle_claims

        claimed: list[Claim] = []
        while True:
            with engine.begin() as conn:
                claims = claim_due_platforms(conn, now=utcnow(), limit=current.dispatch_batch_size)
            claimed.extend(claims)
            if len(claims) < current.dispatch_batch_size:
                break
        ids = [c.platform_id for c in claimed]
        if not ids:
            if as_json:
                print_json([])
            else:
                err.print("nothing is due")
            return
        results = collect_in_process(engine, ids, trigger="schedule", force=False)
        with engine.begin() as conn:
            # Collected here, as a sent message is collected: what a run did not move on (a
            # failure counted elsewhere, a skip) moves one interval on, as the dispatcher's does.
            settle_claims(conn, sent=claimed)
    report(results, "Dispatched and collected here", as_json)
