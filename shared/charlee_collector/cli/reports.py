"""``runs``, ``opportunities`` and ``status``: what was collected and how it went."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from sqlalchemy import func, or_, select

from charlee_collector.cli.common import (
    BadInput,
    check_platform_id,
    check_user_id,
    clip,
    err,
    open_engine,
    out,
    print_json,
    require_platform,
    seconds,
    sqs_client,
    table,
    when,
)
from charlee_collector.models import opportunities, platforms, runs, utcnow

PlatformFilter = Annotated[
    int | None, typer.Option("--platform", help="Only this platform.", callback=check_platform_id)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON array instead of a table.")]


def runs_command(
    platform: PlatformFilter = None,
    limit: Annotated[int, typer.Option("--limit", help="Show the newest N runs.", min=1)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List collection runs, newest first: outcome, counts, duration, error."""
    query = (
        select(runs, platforms.c.name.label("platform_name"))
        .join(platforms, platforms.c.id == runs.c.platform_id)
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(limit)
    )
    if platform is not None:
        query = query.where(runs.c.platform_id == platform)
    with open_engine() as engine, engine.connect() as conn:
        if platform is not None:
            require_platform(conn, platform)
        rows = [dict(row) for row in conn.execute(query).mappings()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print("no collection runs yet")
        return
    out.print(runs_table(None, rows))


def runs_table(title: str | None, rows: list[dict[str, Any]]) -> Any:
    result = table(
        title,
        [
            "ID",
            "Platform",
            "Trigger",
            "Outcome",
            "Started",
            "Duration",
            "HTTP",
            "Fetched",
            "New",
            "Updated",
            "Error",
        ],
        [
            (
                r["id"],
                f"{r['platform_id']} {r['platform_name']}",
                r["trigger"],
                r["outcome"],
                when(r["started_at"]),
                seconds(r["duration_ms"]),
                r["http_status"] or "-",
                r["fetched"],
                r["inserted"],
                r["updated"],
                clip(r["error"], 80),
            )
            for r in rows
        ],
    )
    return result


def parse_since(value: str) -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            raise BadInput(f"--since must be an ISO date or date-time (2024-05-01), got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def opportunities_command(
    platform: PlatformFilter = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Posted (or, undated, collected) on or after this ISO date.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in the title, description or client name.")
    ] = None,
    user: Annotated[
        int | None, typer.Option("--user", help="Only this user's opportunities.", callback=check_user_id)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show the newest N.", min=1)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List collected opportunities, newest first."""
    posted = func.coalesce(opportunities.c.posted_at, opportunities.c.collected_at)
    query = (
        select(opportunities, platforms.c.name.label("platform_name"))
        .join(platforms, platforms.c.id == opportunities.c.platform_id)
        .order_by(posted.desc(), opportunities.c.id.desc())
        .limit(limit)
    )
    if platform is not None:
        query = query.where(opportunities.c.platform_id == platform)
    if user is not None:
        query = query.where(opportunities.c.user_id == user)
    if since is not None:
        query = query.where(posted >= parse_since(since))
    if search:
        pattern = f"%{search}%"
        query = query.where(
            or_(
                opportunities.c.title.ilike(pattern),
                opportunities.c.description.ilike(pattern),
                opportunities.c.client_name.ilike(pattern),
            )
        )
    with open_engine() as engine, engine.connect() as conn:
        if platform is not None:
            require_platform(conn, platform)
        rows = [dict(row) for row in conn.execute(query).mappings()]
    if as_json:
        print_json([{k: v for k, v in row.items() if k != "raw"} for row in rows])
        return
    if not rows:
        err.print("no opportunities match")
        return
    out.print(
        table(
            None,
            ["ID", "Platform", "Title", "Client", "Posted", "Budget", "URL"],
            [
                (
                    r["id"],
                    r["platform_name"],
                    clip(r["title"], 70),
                    clip(r["client_name"], 30),
                    when(r["posted_at"]),
                    f"{r['client_budget']} {r['client_currency'] or ''}".strip()
                    if r["client_budget"]
                    else "",
                    r["url"] or "",
                )
                for r in rows
            ],
        )
    )


def status_command(
    queue_url: Annotated[
        str | None,
        typer.Option("--queue-url", envvar="COLLECT_QUEUE_URL", help="Also show this queue's depth."),
    ] = None,
    dlq_url: Annotated[
        str | None,
        typer.Option("--dlq-url", envvar="COLLECT_DLQ_URL", help="The DLQ (default: from the queue)."),
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="A non-AWS SQS endpoint.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """What needs attention: platforms due, failing and paused, the last runs, the queues."""
    from charlee_collector.cli.collecting import due_now, due_since

    now = utcnow()
    columns = [
        platforms.c.id,
        platforms.c.name,
        platforms.c.source,
        platforms.c.consecutive_failures,
        platforms.c.last_error,
        platforms.c.last_error_at,
        platforms.c.paused_at,
        platforms.c.next_collection_at,
    ]
    with open_engine() as engine:
        due = due_now(engine, now)
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(platforms)).scalar_one()
            failing = [
                dict(r)
                for r in conn.execute(
                    select(*columns)
                    .where(platforms.c.consecutive_failures > 0, platforms.c.paused_at.is_(None))
                    .order_by(platforms.c.consecutive_failures.desc(), platforms.c.id)
                ).mappings()
            ]
            paused = [
                dict(r)
                for r in conn.execute(
                    select(*columns).where(platforms.c.paused_at.is_not(None)).order_by(platforms.c.paused_at)
                ).mappings()
            ]
            last_runs = [
                dict(r)
                for r in conn.execute(
                    select(runs, platforms.c.name.label("platform_name"))
                    .join(platforms, platforms.c.id == runs.c.platform_id)
                    .order_by(runs.c.started_at.desc(), runs.c.id.desc())
                    .limit(10)
                ).mappings()
            ]
    queues: dict[str, Any] | None = None
    if queue_url or dlq_url:
        from charlee_collector.cli.dlq import depth, dlq_of

        sqs = sqs_client(queue_url or dlq_url, endpoint_url)
        queues = {}
        if queue_url:
            queues["queue"] = {"url": queue_url, **depth(sqs, queue_url)}
            dlq_url = dlq_url or dlq_of(sqs, queue_url)
        if dlq_url:
            queues["dlq"] = {"url": dlq_url, **depth(sqs, dlq_url)}
    if as_json:
        print_json(
            {
                "platforms": total,
                "due": due,
                "failing": failing,
                "paused": paused,
                "last_runs": last_runs,
                "queues": queues,
            }
        )
        return
    out.print(f"{total} platform(s); {len(due)} due now, {len(failing)} failing, {len(paused)} paused")
    if due:
        out.print(
            table(
                "Due now",
                ["ID", "Name", "Source", "Due since"],
                [(d["id"], d["name"], d["source"], due_since(d)) for d in due],
            )
        )
    if failing:
        out.print(
            table(
                "Failing",
                ["ID", "Name", "Source", "Failures", "Last error", "At", "Next try"],
                [
                    (
                        f["id"],
                        f["name"],
                        f["source"],
                        f["consecutive_failures"],
                        clip(f["last_error"], 80),
                        when(f["last_error_at"]),
                        when(f["next_collection_at"]),
                    )
                    for f in failing
                ],
            )
        )
    if paused:
        out.print(
            table(
                "Paused",
                ["ID", "Name", "Source", "Paused at", "Reason"],
                [
                    (p["id"], p["name"], p["source"], when(p["paused_at"]), clip(p["last_error"], 90))
                    for p in paused
                ],
            )
        )
    if last_runs:
        out.print(runs_table("Last runs", last_runs))
    if queues:
        rows = [
            (name, q["url"], q["visible"], q["in_flight"], q["delayed"])
            for name, q in (("collect queue", queues.get("queue")), ("dead-letter queue", queues.get("dlq")))
            if q
        ]
        out.print(table("Queues", ["Queue", "URL", "Visible", "In flight", "Delayed"], rows))
        if queues.get("dlq", {}).get("visible"):
            err.print("[yellow]the dead-letter queue is not empty:[/] see `charlee-collector dlq list`")
