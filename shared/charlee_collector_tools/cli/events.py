"""``events list`` and ``events publish``: the OpportunitiesCollected outbox, read and flushed.

``list`` reads the outbox table of the command's database (the embedded PostgreSQL, or the
stack's PostgreSQL through DATABASE_URL): published and dead-lettered rows (kept
``publishing.RETENTION``) and pending ones. ``publish`` sends what is pending, oldest first, with the
code the dispatcher's tick runs: to the stack's bus with ``--bus-name`` (or EVENT_BUS_NAME), else
to the local bus (and its webhook, EVENTS_WEBHOOK_URL), rows backing off after a refusal included
(the operator's flush does not wait for their ``retry_at``). Rows a collector still holds (its
lease, at most ``publishing.LEASE``) are left to it. Exit 1 when an event was refused (it backs
off with its error, or is dead-lettered after ``publishing.MAX_ATTEMPTS``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy import func, select

from charlee_collector.core.settings import Settings
from charlee_collector.store.tables import event_outbox
from charlee_collector_tools.cli.common import (
    CliError,
    SuggestingGroup,
    check_url,
    clip,
    command_settings,
    err,
    limit_option,
    open_engine,
    out,
    print_json,
    table,
    when,
)

if TYPE_CHECKING:
    from charlee_collector.app.publishing import EventBus

app = typer.Typer(
    cls=SuggestingGroup,
    help="The OpportunitiesCollected events: list them, publish what is pending.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON array instead of a table.")]
PUBLISH_ALL = 1_000_000  # an operator's flush is not bounded like a tick


@app.command("list")
def list_command(
    pending: Annotated[bool, typer.Option("--pending", help="Only events not published yet.")] = False,
    dead_lettered: Annotated[
        bool, typer.Option("--dead-lettered", help="Only events EventBridge refused every time.")
    ] = False,
    limit: Annotated[int, limit_option("Show the newest N events.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List events, newest first: when, platform, published, pending or dead-lettered (attempts,
    last error), summary."""
    t = event_outbox.c
    query = select(event_outbox).order_by(t.id.desc()).limit(limit)
    if pending:
        query = query.where(t.published_at.is_(None), t.dead_lettered_at.is_(None))
    if dead_lettered:
        query = query.where(t.dead_lettered_at.is_not(None))
    with open_engine() as engine, engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        row["detail"] = _detail(row["detail"])
    if as_json:
        print_json([{key: value for key, value in row.items() if key != "claimed_until"} for row in rows])
        return
    if not rows:
        err.print(
            "no dead-lettered events"
            if dead_lettered
            else "no pending events"
            if pending
            else "no events yet"
        )
        return
    out.print(
        table(
            None,
            ["ID", "Created", "Platform", "Published", "Attempts", "Error", "Summary"],
            [
                (
                    r["id"],
                    when(r["created_at"]),
                    r["platform_id"],
                    _state(r),
                    r["attempts"],
                    clip(r["last_error"], 40),
                    clip(r["detail"].get("summary") if isinstance(r["detail"], dict) else r["detail"], 100),
                )
                for r in rows
            ],
        )
    )


@app.command("publish")
def publish_command(
    bus_name: Annotated[
        str | None,
        typer.Option(
            "--bus-name", envvar="EVENT_BUS_NAME", help="The stack's event bus (default: the local bus)."
        ),
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", callback=check_url, help="A non-AWS EventBridge endpoint.")
    ] = None,
) -> None:
    """Publish every pending event now, oldest first (after an outage), those backing off after a
    refusal included; refused ones stay pending (dead-lettered after their last attempt)."""
    from charlee_collector.app import publishing as outbox

    settings = replace(command_settings(), event_bus_name=bus_name)
    bus, where = command_event_bus(settings, endpoint_url=endpoint_url)
    with open_engine() as engine:
        summary = outbox.publish_pending(engine, bus, max_rows=PUBLISH_ALL, flush=True)
        with engine.connect() as conn:
            left = _pending(conn)
    if summary.failed:
        dead = f" ({summary.dead_lettered} of them dead-lettered)" if summary.dead_lettered else ""
        raise CliError(
            f"published {summary.published} event(s) to {where}; {summary.failed} refused{dead}, {left} still "
            "pending (their errors: `charlee-collector events list --pending`, `--dead-lettered`)"
        )
    err.print(f"published {summary.published} event(s) to {where}")
    if left:
        err.print(f"{left} event(s) still held by a collector; the next tick publishes them")


def command_event_bus(settings: Settings, *, endpoint_url: str | None = None) -> tuple[EventBus, str]:
    """Where a command publishes: the stack's bus when EVENT_BUS_NAME (or --bus-name) names one,
    else the local bus (with its webhook); and how to say so."""
    from charlee_collector.app.publishing import EventBus

    if settings.event_bus_name:
        from charlee_collector.app.runtime import new_events_client

        client = new_events_client(endpoint_url=endpoint_url)
        return EventBus(client, settings.event_bus_name), f"event bus {settings.event_bus_name}"
    from charlee_collector_tools.local.event_bus import local_event_bus

    webhook = " and its webhook" if settings.events_webhook_url else ""
    return local_event_bus(settings), f"the local bus{webhook}"


def _detail(text: str) -> Any:
    """The event's detail as JSON; a detail that is not JSON (EventBridge refuses it, so it may
    well be the one dead-lettered) as its text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _state(row: dict[str, Any]) -> str:
    """Published (when), dead-lettered (when), or pending (backing off until when)."""
    if row["dead_lettered_at"] is not None:
        return f"dead-lettered {when(row['dead_lettered_at'])}"
    if row["published_at"] is None and row["retry_at"] is not None:
        return f"pending, retry {when(row['retry_at'])}"
    return when(row["published_at"], empty="pending")


def _pending(conn: Any) -> int:
    t = event_outbox.c
    pending = select(func.count()).where(t.published_at.is_(None), t.dead_lettered_at.is_(None))
    return int(conn.execute(pending).scalar_one())
