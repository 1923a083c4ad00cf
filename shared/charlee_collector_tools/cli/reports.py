"""``runs``, ``opportunities`` and ``status``: what was collected and how it went."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy import Connection, func, or_, select, update

from charlee_collector.app.messages import IdRange
from charlee_collector.core.clock import utcnow
from charlee_collector.core.opportunity import format_budget
from charlee_collector.store.silence import silent_platforms
from charlee_collector.store.tables import opportunities, platforms, runs
from charlee_collector_tools.cli.common import (
    BadInput,
    NotFound,
    SqsEndpointUrl,
    SuggestingGroup,
    check_ids,
    check_platform_id,
    check_url,
    check_user_id,
    clip,
    err,
    labelled,
    limit_option,
    open_engine,
    out,
    print_json,
    require_platform,
    seconds,
    sqs_client,
    table,
    when,
)
from charlee_collector_tools.cli.opportunity_view import print_opportunities

if TYPE_CHECKING:
    from charlee_collector.normalize.filters import BudgetMinimums

PlatformFilter = Annotated[
    int | None, typer.Option("--platform", help="Only this platform.", callback=check_platform_id)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON array instead of a table.")]


def runs_command(
    platform: PlatformFilter = None,
    limit: Annotated[int, limit_option("Show the newest N runs.")] = 20,
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
            "Filtered",
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
                r["filtered"],
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


opportunities_app = typer.Typer(
    cls=SuggestingGroup,
    help="List collected opportunities (filters, table/csv/json), and mark them applied or dismissed.",
    invoke_without_command=True,
    no_args_is_help=False,
)

STATUSES = ("new", "applied", "dismissed")
CONTRACT_TYPES = ("fixed_price", "hourly")
FORMATS = ("table", "csv", "json")
# The listing's fields, the same in JSON and CSV (the CSV header row): the table's columns but
# ``raw`` and ``content_hash``, then the platform, then the budget as one reads it.
LISTING_FIELDS = (
    "id",
    "user_id",
    "platform_id",
    "platform_name",
    "source",
    "external_id",
    "title",
    "url",
    "client_name",
    "client_country",
    "category",
    "required_skills",
    "budget",
    "currency",
    "budget_period",
    "contract_type",
    "client_budget",
    "client_currency",
    "budget_text",
    "status",
    "posted_at",
    "collected_at",
    "updated_at",
    "description",
    "score",
    "duplicate_of",
    "also_on",
)
SORTS = ("posted", "score")


def _one_of(option: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise BadInput(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _min_budgets(values: list[str] | None) -> BudgetMinimums | None:
    """``--min-budget`` values as the platform filters read ``min_budget`` (same rule, same code)."""
    if not values:
        return None
    from charlee_collector.normalize.filters import parse_min_budget

    try:
        return parse_min_budget(values)
    except ValueError as exc:
        raise BadInput(f"--min-budget: {exc}") from None


def listing_record(row: dict[str, Any]) -> dict[str, Any]:
    """One opportunity as ``--format json`` and ``csv`` give it (``LISTING_FIELDS``)."""
    record = {name: row.get(name) for name in LISTING_FIELDS}
    record["also_on"] = row.get("also_on") or []
    record["budget"], record["currency"] = row["client_budget"], row["client_currency"]
    record["budget_text"] = format_budget(row["client_budget"], row["client_currency"], row["budget_period"])
    return record


def _csv_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return "" if value is None else value


def print_csv(records: list[dict[str, Any]]) -> None:
    """A header row, then one row per record; RFC 4180 quoting (CRLF line ends), times in ISO UTC."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LISTING_FIELDS, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for record in records:
        writer.writerow({name: _csv_cell(value) for name, value in record.items()})
    sys.stdout.write(buffer.getvalue())


@opportunities_app.callback()
def opportunities_command(
    ctx: typer.Context,
    platform: PlatformFilter = None,
    source: Annotated[str | None, typer.Option("--source", help="Only platforms of this source.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Posted (or, undated, collected) on or after this ISO date.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in the title, description or client name.")
    ] = None,
    min_budget: Annotated[
        list[str] | None,
        typer.Option(
            "--min-budget",
            metavar="AMOUNT/PERIOD",
            help="AMOUNT or AMOUNT/PERIOD (60/hour, 90000/year, 500/fixed; a bare AMOUNT: period unknown). "
            "Repeat it, one per period; as the platforms' min_budget: a minimum applies only to "
            "budgets of its period, items without a budget are kept.",
        ),
    ] = None,
    contract_type: Annotated[
        str | None, typer.Option("--contract-type", help="fixed_price or hourly.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="new, applied or dismissed.")] = None,
    user: Annotated[
        int | None, typer.Option("--user", help="Only this user's opportunities.", callback=check_user_id)
    ] = None,
    limit: Annotated[int, limit_option("Show the newest N.")] = 50,
    output_format: Annotated[
        str | None,
        typer.Option("--format", help="table (default), csv (a header row, for a spreadsheet) or json."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    min_score: Annotated[
        int | None,
        typer.Option("--min-score", min=0, max=100, help="Only opportunities scored at least N (0-100)."),
    ] = None,
    sort: Annotated[
        str, typer.Option("--sort", help="posted (newest first, the default) or score (best first).")
    ] = "posted",
    explain: Annotated[
        int | None,
        typer.Option(
            "--explain",
            metavar="ID",
            help="Show how one opportunity's score was made, and the job it repeats or the boards it is also on.",
        ),
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all", help="Also list the repeats of a job (hidden: their job's row says 'also on')."
        ),
    ] = False,
) -> None:
    """List collected opportunities, newest first; `opportunities mark` sets their status.
    A job seen on several boards is one row, "also on" the others."""
    if ctx.invoked_subcommand is not None:
        return
    if explain is not None:
        explain_opportunity(explain)
        return
    _one_of("--sort", sort, SORTS)
    _one_of("--format", output_format, FORMATS)
    if as_json and output_format not in (None, "json"):
        raise BadInput(f"--json and --format {output_format} contradict each other: give one")
    chosen = "json" if as_json else output_format or "table"
    _one_of("--contract-type", contract_type, CONTRACT_TYPES)
    _one_of("--status", status, STATUSES)
    minimums = _min_budgets(min_budget)
    if source is not None:
        from charlee_collector.sources import SOURCE_KEYS

        _one_of("--source", source, SOURCE_KEYS)
    posted = func.coalesce(opportunities.c.posted_at, opportunities.c.collected_at)
    order = [posted.desc(), opportunities.c.id.desc()]
    if sort == "score":
        order.insert(0, opportunities.c.score.desc().nulls_last())
    query = (
        select(opportunities, platforms.c.name.label("platform_name"), platforms.c.source)
        .join(platforms, platforms.c.id == opportunities.c.platform_id)
        .order_by(*order)
    )
    if not show_all:
        query = query.where(opportunities.c.duplicate_of.is_(None))
    if min_score is not None:
        query = query.where(opportunities.c.score >= min_score)
    if platform is not None:
        query = query.where(opportunities.c.platform_id == platform)
    if source is not None:
        query = query.where(platforms.c.source == source)
    if user is not None:
        query = query.where(opportunities.c.user_id == user)
    if contract_type is not None:
        query = query.where(opportunities.c.contract_type == contract_type)
    if status is not None:
        query = query.where(opportunities.c.status == status)
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
        if minimums is None:
            rows = [dict(row) for row in conn.execute(query.limit(limit)).mappings()]
        else:
            # The budget rule is the platform filters' own (BudgetMinimums.allows), applied here
            # to the rows as they stream, newest first, until ``limit`` pass.
            rows = []
            for row in conn.execution_options(yield_per=500).execute(query).mappings():
                if minimums.allows(row["client_budget"], row["budget_period"]):
                    rows.append(dict(row))
                    if len(rows) >= limit:
                        break
        also_on = boards_also_on(conn, [listed["id"] for listed in rows])
    for listed in rows:
        listed["also_on"] = also_on.get(listed["id"], [])
    if chosen == "json":
        print_json([listing_record(row) for row in rows])
        return
    if chosen == "csv":
        print_csv([listing_record(row) for row in rows])
        return
    if not rows:
        err.print("no opportunities match")
        return
    print_opportunities(out, rows)


def boards_also_on(conn: Connection, ids: list[int]) -> dict[int, list[str]]:
    """For each of ``ids``, the platforms its repeats were collected on (``duplicate_of``), by name."""
    if not ids:
        return {}
    query = (
        select(opportunities.c.duplicate_of, platforms.c.name)
        .join(platforms, platforms.c.id == opportunities.c.platform_id)
        .where(opportunities.c.duplicate_of.in_(ids))
        .distinct()
        .order_by(opportunities.c.duplicate_of, platforms.c.name)
    )
    boards: dict[int, list[str]] = {}
    for canonical, name in conn.execute(query):
        boards.setdefault(canonical, []).append(name)
    return boards


def explain_opportunity(opportunity_id: int) -> None:
    """``--explain ID``: the score's parts, then the job this one repeats or the boards it is also on."""
    from charlee_collector.normalize.scoring import explain

    with open_engine() as engine, engine.connect() as conn:
        row = (
            conn.execute(
                select(opportunities, platforms.c.name.label("platform_name"))
                .join(platforms, platforms.c.id == opportunities.c.platform_id)
                .where(opportunities.c.id == opportunity_id)
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise NotFound(f"opportunity {opportunity_id} not found")
        also_on = boards_also_on(conn, [opportunity_id]).get(opportunity_id, [])
    out.print(f"{row['id']} {row['title']} ({row['platform_name']})")
    if row["score_reasons"] is None:
        out.print(
            "score: none (its user had no profile when it was stored; `profile set` then `profile rescore`)"
        )
    else:
        rows = [
            (part, f"{points:g}", weight or "", why)
            for part, points, weight, why in explain(row["score_reasons"])
        ]
        out.print(table(f"Score {row['score']}", ["Part", "Points", "Of", "Why"], rows))
    if row["duplicate_of"] is not None:
        out.print(f"repeats opportunity {row['duplicate_of']} (found by {row['duplicate_reason']})")
    if also_on:
        out.print(f"also on: {', '.join(also_on)}")


@opportunities_app.command("mark")
def mark_command(
    ids: Annotated[
        list[int],
        typer.Argument(
            help="The opportunities' ids (see `opportunities`).",
            callback=check_ids(IdRange.of(opportunities.c.id), "an opportunity id"),
        ),
    ],
    status: Annotated[str, typer.Option("--status", help="applied, dismissed or new.")],
) -> None:
    """Set the status of opportunities: all of them, or none when an id is unknown."""
    _one_of("--status", status, STATUSES)
    wanted = sorted(set(ids))
    with open_engine() as engine, engine.begin() as conn:
        found = set(conn.execute(select(opportunities.c.id).where(opportunities.c.id.in_(wanted))).scalars())
        missing = [str(i) for i in wanted if i not in found]
        if missing:
            raise NotFound(
                f"opportunit{'y' if len(missing) == 1 else 'ies'} not found: {', '.join(missing)}; nothing was changed"
            )
        conn.execute(update(opportunities).where(opportunities.c.id.in_(wanted)).values(status=status))
    err.print(f"marked {len(wanted)} opportunit{'y' if len(wanted) == 1 else 'ies'} {status}")


def status_command(
    queue_url: Annotated[
        str | None,
        typer.Option(
            "--queue-url",
            callback=check_url,
            envvar="COLLECT_QUEUE_URL",
            help="Also show this queue's depth.",
        ),
    ] = None,
    dlq_url: Annotated[
        str | None,
        typer.Option(
            "--dlq-url",
            callback=check_url,
            envvar="COLLECT_DLQ_URL",
            help="The DLQ (default: from the queue).",
        ),
    ] = None,
    endpoint_url: SqsEndpointUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """What needs attention: platforms due, failing, paused and silent, the last runs, OAuth grants
    whose refresh token dies soon, alert rules failing or disabled and the alerts' freshness per
    source, the queues.

    Silent: the last 3 successful runs each fetched under a tenth of what the platform usually
    yields (the median of the 10 successful runs before them).
    """
    from charlee_collector_tools.cli.alerts import alerts_status, print_alerts_status
    from charlee_collector_tools.cli.collecting import due_now, due_since
    from charlee_collector_tools.cli.upwork import grant_health, print_grants

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
            silences = {s.platform_id: s for s in silent_platforms(conn)}
            silent = [
                {
                    **dict(r),
                    "recent_fetched": list(silences[r["id"]].recent),
                    "usual_fetched": silences[r["id"]].usual,
                }
                for r in conn.execute(
                    select(platforms.c.id, platforms.c.name, platforms.c.source)
                    .where(platforms.c.id.in_(list(silences)))
                    .order_by(platforms.c.id)
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
            alerts = alerts_status(conn, now=now)
        grants = grant_health(engine, now=now)  # reads their secrets: only when such platforms exist
    queues: dict[str, Any] | None = None
    if queue_url or dlq_url:
        from charlee_collector_tools.cli.dlq import depth, dlq_of

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
                "silent": silent,
                "last_runs": last_runs,
                "oauth_grants": [grant.as_json() for grant in grants],
                "alerts": alerts,
                "queues": queues,
            }
        )
        return
    out.print(
        f"{total} platform(s); {len(due)} due now, {len(failing)} failing, {len(paused)} paused, "
        f"{len(silent)} silent"
    )
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
    if silent:
        out.print(
            table(
                "Silent: successful runs that fetch (almost) nothing",
                ["ID", "Name", "Source", "Last fetched", "Usually"],
                [
                    (
                        p["id"],
                        p["name"],
                        p["source"],
                        ", ".join(str(n) for n in p["recent_fetched"]),
                        f"{p['usual_fetched']:g}",
                    )
                    for p in silent
                ],
            )
        )
        err.print(
            labelled(
                f"{len(silent)} source(s) went silent:",
                "yellow",
                "check each one's URL and what it serves (`charlee-collector platforms show ID`)",
            )
        )
    if last_runs:
        out.print(runs_table("Last runs", last_runs))
    print_grants(grants)
    print_alerts_status(alerts)
    if queues:
        rows = [
            (name, q["url"], q["visible"], q["in_flight"], q["delayed"])
            for name, q in (("collect queue", queues.get("queue")), ("dead-letter queue", queues.get("dlq")))
            if q
        ]
        out.print(table("Queues", ["Queue", "URL", "Visible", "In flight", "Delayed"], rows))
        if queues.get("dlq", {}).get("visible"):
            err.print(
                labelled("the dead-letter queue is not empty:", "yellow", "see `charlee-collector dlq list`")
            )
