"""``platforms add|list|show|update|pause|resume|remove``: the watched sources (``import`` and
``export`` are in ``platform_transfer``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from charlee_collector.app.messages import DuplicateKey, unique_keys
from charlee_collector.core.clock import utcnow
from charlee_collector.core.limits import MAX_INTERVAL_MINUTES
from charlee_collector.core.opportunity import format_budget
from charlee_collector.core.scheduling import check_interval
from charlee_collector.fetching.client import Fetcher
from charlee_collector.store.silence import silent_platforms
from charlee_collector.store.tables import opportunities, platforms, runs
from charlee_collector_tools.cli.common import (
    BadInput,
    CliError,
    NotFound,
    SuggestingGroup,
    check_platform_id,
    check_user_id,
    clip,
    err,
    is_text,
    open_engine,
    out,
    print_json,
    quiet_handler_logs,
    settings,
    table,
    warning_line,
    when,
)

app = typer.Typer(
    cls=SuggestingGroup,
    help="Add, inspect, change, pause and remove watched platforms.",
    no_args_is_help=True,
)

PlatformId = Annotated[
    int,
    typer.Argument(
        help="The platform's id (see `platforms list`).", metavar="PLATFORM_ID", callback=check_platform_id
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]
ConfigText = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="The source's config as a JSON object; `charlee-collector sources NAME` shows its keys.",
    ),
]
# Checked by ``interval_minutes`` rather than typer's min/max, for a one-line error.
INTERVAL_HELP = f"Minutes between collections, 1 to {MAX_INTERVAL_MINUTES} (30 days)."
DEFAULT_INTERVAL_MINUTES = 15
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config-file", help="Read the config JSON object from this file instead.", dir_okay=False),
]


# --- input -------------------------------------------------------------------------------------


# A platform's config is a small JSON object (its lists and strings have bounds of their own);
# this only keeps a wrong file (a log, an image) from being read whole.
MAX_CONFIG_FILE_BYTES = 1_000_000


def _read_config_file(path: Path, where: str) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_FILE_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"cannot read {where}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_FILE_BYTES:
        raise BadInput(f"{where} is larger than {MAX_CONFIG_FILE_BYTES:,} bytes: not a platform config")
    try:
        return data.decode("utf-8-sig")  # a BOM from an editor is not part of the JSON
    except UnicodeDecodeError as exc:
        raise BadInput(f"{where} is not UTF-8 text (byte {exc.start}): a config is a JSON object") from None


def read_config(config: str | None, config_file: Path | None, *, required: bool) -> dict[str, Any] | None:
    """The config JSON object from ``--config`` or ``--config-file`` (never both)."""
    if config is not None and config_file is not None:
        raise BadInput("give --config or --config-file, not both")
    if config_file is not None:
        where = f"--config-file {config_file}"
        config = _read_config_file(config_file, where)
    else:
        where = "--config"
    if config is None:
        return {} if required else None
    try:
        value = json.loads(config, object_pairs_hook=unique_keys)
    except DuplicateKey as exc:
        raise BadInput(f"{where}: {exc}") from None
    except RecursionError:
        raise BadInput(f"{where} is nested too deeply to be a platform config") from None
    except ValueError as exc:  # JSONDecodeError, or a number of more than 4,300 digits
        raise BadInput(f"{where} is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise BadInput(f"{where} must be a JSON object, got {type(value).__name__}")
    _check_storable(value, where, "")
    return value


# Far deeper than any source's config (json_api's fields are two levels); past it, a bound
# rather than a RecursionError.
MAX_CONFIG_DEPTH = 32


def _check_storable(value: Any, where: str, path: str, depth: int = 0) -> None:
    """Every key and string of the config must be storable text: PostgreSQL's jsonb refuses NUL
    (``\\u0000``) and no encoder takes a lone surrogate (``\\ud800``); refused here with the
    field's path instead of as a database error after validation."""
    if depth > MAX_CONFIG_DEPTH:
        raise BadInput(f"{where}: field {path[:200]!r} is nested deeper than {MAX_CONFIG_DEPTH} levels")
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        field = f"{path}.{key}" if path else str(key)
        if not (_storable(key) and _storable(item)):
            raise BadInput(
                f"{where}: field {field[:200]!r} holds a NUL or a lone surrogate, which cannot be stored"
            )
        _check_storable(item, where, field, depth + 1)


def _storable(value: Any) -> bool:
    return not isinstance(value, str) or ("\x00" not in value and is_text(value))


def validate(source: str, config: dict[str, Any]) -> None:
    """Check the source exists, the config matches its schema (exit 2, naming the field) and its
    URLs pass the fetch layer's address guard."""
    from charlee_collector import sources
    from charlee_collector.core.errors import InvalidPlatformConfig

    try:
        validated = sources.validate_config(source, config)
    except InvalidPlatformConfig as exc:
        raise BadInput(str(exc)) from None
    refuse_forbidden_urls(validated)


def check_credentials(credentials_secret: str | None, config: Any) -> None:
    """Exit 2 for a credentials secret the stack's collector would refuse (``core/credentials``):
    a name outside PLATFORM_SECRET_PREFIX (or not charlee/<stack>/<name>), or a config with an
    http:// URL, which would carry the credentials in clear."""
    from charlee_collector.core.credentials import refuse_in_clear, refuse_outside_prefix, urls_in

    if not credentials_secret:
        return
    refusal = refuse_outside_prefix(credentials_secret, settings().platform_secret_prefix)
    refusal = refusal or refuse_in_clear(urls_in(config))
    if refusal:
        raise BadInput(refusal)


def refuse_forbidden_urls(config: Any) -> None:
    """Exit 2 when a config URL is an address the fetch layer refuses (``addresses.py``): cloud
    metadata always, a non-public one unless COLLECTOR_ALLOW_PRIVATE_NETWORKS is on.

    Only what needs no DNS lookup is judged here: IP literals in every form the resolver reads
    (``0xA9FEA9FE``, ``2852039166``, ``[::ffff:169.254.169.254]``) and ``localhost`` names. A
    host name is checked at every fetch and connect instead, where its answer is the one that
    counts (it may change, and adding a platform must not depend on this machine's DNS).
    """
    import httpx

    from charlee_collector.core.errors import PermanentSourceError
    from charlee_collector.fetching.addresses import known_addresses, refuse_forbidden
    from charlee_collector.sources.base import config_urls

    allow_private = settings().allow_private_networks
    for field, url in config_urls(config).items():
        host = httpx.URL(url).host
        try:
            refuse_forbidden(host, known_addresses(host), allow_private=allow_private)
        except PermanentSourceError as exc:
            raise BadInput(f"config field {field!r}: {exc}") from None


def interval_minutes(interval: int) -> int:
    """The --interval when it is in the allowed range; exit 2 saying the range otherwise."""
    try:
        return check_interval(interval)
    except ValueError as exc:
        raise BadInput(f"--interval {exc}") from None


def polite_interval(source: str, interval: int | None) -> int:
    """``--interval``, or when it is not given the larger of 15 minutes and the source's minimum
    (``Source.min_interval_minutes``, from its API's terms). An explicit interval shorter than
    that minimum is kept (the operator may have an agreement) with a warning saying why."""
    from charlee_collector.sources import get_source

    adapter = get_source(source)
    if interval is None:
        return max(DEFAULT_INTERVAL_MINUTES, adapter.min_interval_minutes)
    if interval < adapter.min_interval_minutes:
        err.print(
            warning_line(
                f"{source} asks for {adapter.min_interval_minutes} minutes or more "
                f"between collections: {adapter.interval_terms}"
            )
        )
    return interval


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise BadInput("--name must be 1 to 200 characters")
    return name


# --- reading -----------------------------------------------------------------------------------


def load(conn: Connection, platform_id: int) -> dict[str, Any]:
    """The platform row as a dict, or NotFound."""
    row = conn.execute(select(platforms).where(platforms.c.id == platform_id)).mappings().first()
    if row is None:
        raise NotFound(f"platform {platform_id} not found")
    return dict(row)


def state(row: dict[str, Any]) -> str:
    """One word for where a platform stands."""
    if row["paused_at"] is not None:
        return "paused"
    if not row["active"]:
        return "inactive"
    if row["consecutive_failures"]:
        return "failing"
    return "ok"


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "state": state(row)}


# --- commands ----------------------------------------------------------------------------------


@app.command("add")
def add(
    user: Annotated[int, typer.Option("--user", help="The owner's user id.", callback=check_user_id)],
    name: Annotated[str, typer.Option("--name", help="A name to recognise the platform by.")],
    source: Annotated[
        str, typer.Option("--source", help="The source adapter: `charlee-collector sources` lists them.")
    ],
    config: ConfigText = None,
    config_file: ConfigFile = None,
    interval: Annotated[
        int | None,
        typer.Option(
            "--interval",
            help=f"{INTERVAL_HELP} Default: {DEFAULT_INTERVAL_MINUTES}, or the source's minimum when larger "
            "(see `charlee-collector sources`).",
            show_default=False,
        ),
    ] = None,
    auto_collect: Annotated[
        bool, typer.Option("--auto-collect/--no-auto-collect", help="Collect on the schedule.")
    ] = True,
    credentials_secret: Annotated[
        str | None,
        typer.Option("--credentials-secret", help="Secrets Manager name holding the platform's credentials."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Fetch once and show the first items; store nothing.")
    ] = False,
    show: Annotated[int, typer.Option("--show", help="How many items --check shows.", min=1, max=1000)] = 5,
) -> None:
    """Add a platform and print its id (only the id, on stdout).

    The config is validated against the source's schema first; --check also fetches it once.
    """
    name = check_name(name)
    if interval is not None:
        interval = interval_minutes(interval)
    values = read_config(config, config_file, required=True) or {}
    validate(source, values)
    check_credentials(credentials_secret, values)
    interval = polite_interval(source, interval)
    if check:
        _check(source, values, credentials_secret, show)
        return
    now = utcnow()
    with open_engine() as engine, engine.begin() as conn:
        platform_id = conn.execute(
            insert(platforms)
            .values(
                user_id=user,
                name=name,
                source=source,
                config=values,
                credentials_secret=credentials_secret or None,
                active=True,
                auto_collect=auto_collect,
                collection_interval_minutes=interval,
                created_at=now,
                updated_at=now,
            )
            .returning(platforms.c.id)
        ).scalar_one()
    err.print(f"added platform {platform_id} ({name}, {source})")
    typer.echo(platform_id)


def _check(source: str, config: dict[str, Any], credentials_secret: str | None, show: int) -> None:
    quiet_handler_logs()
    from charlee_collector import sources
    from charlee_collector.app.platform_secrets import read_platform_secret
    from charlee_collector.core.errors import InvalidPlatformConfig, SourceError
    from charlee_collector.fetching.client import build_client

    current = settings()  # the fetch alone: no database is opened (or started) for a check
    client = build_client(current)
    try:
        secrets = read_platform_secret(credentials_secret) if credentials_secret else None
        with err.status(f"fetching {source} ..."):
            result = sources.fetch_platform(
                source, config, Fetcher(client, current), etag=None, last_modified=None, secrets=secrets
            )
    except InvalidPlatformConfig as exc:
        raise BadInput(str(exc)) from None
    except SourceError as exc:
        raise CliError(f"check failed: {exc}") from None
    finally:
        client.close()
    filtered = getattr(result, "filtered_out", 0)
    note = f" ({filtered} dropped by the filters)" if filtered else ""
    err.print(f"check passed: {len(result.items)} opportunities{note}; nothing was stored")
    out.print(
        table(
            f"First {min(show, len(result.items))} of {len(result.items)}",
            ["Title", "Posted", "Budget", "URL"],
            [
                (
                    clip(item.title, 70),
                    when(item.posted_at),
                    format_budget(item.client_budget, item.client_currency, item.budget_period),
                    item.url,
                )
                for item in result.items[:show]
            ],
        )
    )


@app.command("list")
def list_(
    user: Annotated[
        int | None, typer.Option("--user", help="Only this user's platforms.", callback=check_user_id)
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only platforms of this source.")] = None,
    as_json_: JsonFlag = False,
) -> None:
    """List platforms: state, schedule, totals."""
    if source is not None:
        from charlee_collector.sources import SOURCE_KEYS

        if source not in SOURCE_KEYS:
            raise BadInput(f"unknown source {source!r}: --source must be one of {', '.join(SOURCE_KEYS)}")
    query = select(platforms).order_by(platforms.c.id)
    if user is not None:
        query = query.where(platforms.c.user_id == user)
    if source is not None:
        query = query.where(platforms.c.source == source)
    with open_engine() as engine, engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
        total = len(rows) if rows else conn.execute(select(func.count()).select_from(platforms)).scalar_one()
    if as_json_:
        print_json([as_json(row) for row in rows])
        return
    if not total:
        err.print("no platforms yet: add one with `charlee-collector platforms add`")
        return
    if not rows:
        given = " ".join(
            f"{option} {value}"
            for option, value in (("--user", user), ("--source", source))
            if value is not None
        )
        err.print(
            f"no platform matches {given} ({total} platform(s) in all: `charlee-collector platforms list`)"
        )
        return
    out.print(
        table(
            None,
            ["ID", "User", "Name", "Source", "State", "Auto", "Every", "Next", "Last collected", "Total"],
            [
                (
                    row["id"],
                    row["user_id"],
                    row["name"],
                    row["source"],
                    state(row) + (f" ({row['consecutive_failures']})" if row["consecutive_failures"] else ""),
                    "yes" if row["auto_collect"] else "no",
                    f"{row['collection_interval_minutes']}m",
                    when(row["next_collection_at"], empty="now"),
                    when(row["last_collection_at"], empty="never"),
                    row["total_projects_collected"],
                )
                for row in rows
            ],
        )
    )


@app.command("show")
def show_(platform_id: PlatformId, as_json_: JsonFlag = False) -> None:
    """Show one platform: its config, state, last error and recent runs."""
    with open_engine() as engine, engine.connect() as conn:
        row = load(conn, platform_id)
        count = conn.execute(
            select(func.count()).select_from(opportunities).where(opportunities.c.platform_id == platform_id)
        ).scalar_one()
        recent = [
            dict(r)
            for r in conn.execute(
                select(runs).where(runs.c.platform_id == platform_id).order_by(runs.c.id.desc()).limit(5)
            ).mappings()
        ]
        silence = next(iter(silent_platforms(conn, [platform_id])), None)
    if as_json_:
        silent = {"recent_fetched": list(silence.recent), "usual_fetched": silence.usual} if silence else None
        print_json({**as_json(row), "opportunities": count, "recent_runs": recent, "silent": silent})
        return
    fields = [
        ("id", row["id"]),
        ("name", row["name"]),
        ("user", row["user_id"]),
        ("source", row["source"]),
        ("config", json.dumps(row["config"], ensure_ascii=False)),
        ("credentials secret", row["credentials_secret"] or "-"),
        ("state", state(row)),
        ("auto collect", "yes" if row["auto_collect"] else "no"),
        ("interval", f"{row['collection_interval_minutes']} minutes"),
        ("next collection", when(row["next_collection_at"], empty="now")),
        ("last collection", when(row["last_collection_at"], empty="never")),
        ("last count", row["last_collection_count"]),
        ("opportunities stored", count),
        ("consecutive failures", row["consecutive_failures"]),
        ("last error", row["last_error"] or "-"),
        ("last error at", when(row["last_error_at"])),
        ("paused at", when(row["paused_at"])),
        ("silent", silence.describe() if silence else "no"),
        ("created", when(row["created_at"])),
    ]
    out.print(table(f"Platform {row['id']}", ["Field", "Value"], fields))
    if recent:
        out.print(
            table(
                "Recent runs",
                ["ID", "Started", "Trigger", "Outcome", "Fetched", "Filtered", "New", "Error"],
                [
                    (
                        r["id"],
                        when(r["started_at"]),
                        r["trigger"],
                        r["outcome"],
                        r["fetched"],
                        r["filtered"],
                        r["inserted"],
                        clip(r["error"], 60),
                    )
                    for r in recent
                ],
            )
        )


@app.command("update")
def update_(
    platform_id: PlatformId,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="A new source (give its --config too).")
    ] = None,
    config: ConfigText = None,
    config_file: ConfigFile = None,
    interval: Annotated[int | None, typer.Option("--interval", help=INTERVAL_HELP)] = None,
    auto_collect: Annotated[
        bool | None, typer.Option("--auto-collect/--no-auto-collect", help="Collect on the schedule.")
    ] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Switch the platform on or off.")
    ] = None,
    user: Annotated[
        int | None, typer.Option("--user", help="Move the platform to another user.", callback=check_user_id)
    ] = None,
    credentials_secret: Annotated[
        str | None, typer.Option("--credentials-secret", help='Secrets Manager name ("" removes it).')
    ] = None,
) -> None:
    """Change a platform; a new config (or source) is validated before it is stored.

    A new config replaces the old one as a whole, and forgets the stored ETag/Last-Modified.
    Only what differs from what is stored is written, and named in the message.
    """
    new_config = read_config(config, config_file, required=False)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = check_name(name)
    if interval is not None:
        values["collection_interval_minutes"] = interval_minutes(interval)
    if auto_collect is not None:
        values["auto_collect"] = auto_collect
    if active is not None:
        values["active"] = active
    if user is not None:
        values["user_id"] = user
    if credentials_secret is not None:
        values["credentials_secret"] = credentials_secret or None
    if not values and source is None and new_config is None:
        raise BadInput("nothing to update: give at least one option (see --help)")
    with open_engine() as engine, engine.begin() as conn:
        row = load(conn, platform_id)
        if source is not None or new_config is not None:
            final_source = source or row["source"]
            final_config = new_config if new_config is not None else row["config"]
            validate(final_source, final_config)
            values.update(source=final_source, config=final_config)
        secret = values["credentials_secret"] if "credentials_secret" in values else row["credentials_secret"]
        check_credentials(secret, values.get("config", row["config"]))
        if interval is not None:
            polite_interval(source or row["source"], values["collection_interval_minutes"])
        changed = {key: value for key, value in values.items() if row[key] != value}
        if not changed:
            err.print(f"platform {platform_id} unchanged: it already had every value given")
            return
        if "source" in changed or "config" in changed:  # a new request: the old validators do not apply
            changed.update(etag=None, last_modified=None)
        conn.execute(
            update(platforms).where(platforms.c.id == platform_id).values(**changed, updated_at=utcnow())
        )
    named = sorted(key for key in changed if key not in ("etag", "last_modified"))
    err.print(f"updated platform {platform_id}: {', '.join(named)}")


@app.command("pause")
def pause(
    platform_id: PlatformId,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, shown by `status`.")] = None,
) -> None:
    """Stop collecting a platform on the schedule until it is resumed."""
    now = utcnow()
    with open_engine() as engine, engine.begin() as conn:
        row = load(conn, platform_id)
        if row["paused_at"] is not None:
            err.print(f"platform {platform_id} was already paused")
            return
        conn.execute(
            update(platforms)
            .where(platforms.c.id == platform_id)
            .values(
                paused_at=now,
                updated_at=now,
                last_error=f"paused by an operator: {reason or 'no reason given'}",
            )
        )
    err.print(f"paused platform {platform_id}")


@app.command("resume")
def resume(platform_id: PlatformId) -> None:
    """Resume a paused platform: its failures are forgiven and it is due at once.

    A platform that is not paused is left as it is (exit 0, as ``pause`` of a paused one).
    """
    with open_engine() as engine, engine.begin() as conn:
        row = load(conn, platform_id)
        if row["paused_at"] is None:
            err.print(f"platform {platform_id} is not paused: nothing to resume")
            return
        conn.execute(
            update(platforms)
            .where(platforms.c.id == platform_id)
            .values(paused_at=None, consecutive_failures=0, next_collection_at=None, updated_at=utcnow())
        )
    note = "" if row["active"] else " (it is inactive: `platforms update --active` switches it on)"
    err.print(f"resumed platform {platform_id}{note}")


@app.command("remove")
def remove(
    platform_id: PlatformId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a platform with its collected opportunities and its run history."""
    with open_engine() as engine:
        with engine.connect() as conn:
            row = load(conn, platform_id)
            stored = _count(conn, opportunities, platform_id)
        if not yes:
            if not sys.stdin.isatty():
                raise BadInput("removing deletes the platform's opportunities too: pass --yes to confirm")
            typer.confirm(
                f"Delete platform {platform_id} ({row['name']}) and its {stored} opportunities?", abort=True
            )
        _delete(engine, platform_id)
    err.print(f"removed platform {platform_id} ({row['name']}) and its {stored} opportunities")


def _count(conn: Connection, tbl: Any, platform_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(tbl).where(tbl.c.platform_id == platform_id)
        ).scalar_one()
    )


def _delete(engine: Engine, platform_id: int) -> None:
    # Its opportunities and runs go with it (ON DELETE CASCADE, migration 0001).
    with engine.begin() as conn:
        conn.execute(delete(platforms).where(platforms.c.id == platform_id))
