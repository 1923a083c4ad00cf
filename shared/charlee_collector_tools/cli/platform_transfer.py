"""``platforms import FILE`` and ``platforms export``: many platforms at once (``platform_files``).

An import is all or nothing: every row is checked as ``platforms add`` checks it (name, source,
config, interval) before anything is stored, each bad row is one line naming it, and one bad row
stores nothing unless ``--skip-bad``. A row whose user, source and config are those of a stored
platform (or of an earlier row) is left out as already there, so importing a file twice adds
nothing the second time. The new ids go to stdout, one a line, as ``platforms add`` prints its id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from sqlalchemy import Connection, insert, select

from charlee_collector.core.clock import utcnow
from charlee_collector.store.tables import platforms
from charlee_collector_tools.cli.common import (
    BadInput,
    CliError,
    check_user_id,
    err,
    error_line,
    open_engine,
    out,
    table,
    warning_line,
)
from charlee_collector_tools.cli.platform_files import (
    MAX_FILE_BYTES,
    BadRow,
    PlatformRow,
    UnreadableFile,
    read_platform_file,
    to_csv,
    to_opml,
)
from charlee_collector_tools.cli.platforms import check_name, interval_minutes, polite_interval, validate


def _same(source: str, config: Any) -> str:
    """What makes two platforms of one user the same watch: source and config, key order aside."""
    return source + "\0" + json.dumps(config, sort_keys=True, ensure_ascii=False)


def _checked(row: PlatformRow) -> PlatformRow | BadRow:
    """The row with its name, interval and config checked as ``platforms add`` checks them."""
    try:
        name = check_name(row.name)
        validate(row.source, row.config)
        interval = interval_minutes(row.interval) if row.interval is not None else None
    except CliError as exc:
        # The checks speak of options (--name, --interval); here they are columns.
        return BadRow(row.where, f"{row.name[:80]!r}: {exc.message.removeprefix('--')}")
    return PlatformRow(
        row.where, name, row.source, row.config, interval, row.auto_collect, row.credentials_secret
    )


def _read(file: Path) -> bytes:
    try:
        with file.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"cannot read {file}: {exc.strerror}") from None


def _stored_watches(conn: Connection, user: int) -> set[str]:
    query = select(platforms.c.source, platforms.c.config).where(platforms.c.user_id == user)
    return {_same(row.source, row.config) for row in conn.execute(query)}


def import_command(
    file: Annotated[
        Path, typer.Argument(help="An OPML export of a feed reader, or a CSV file.", dir_okay=False)
    ],
    user: Annotated[int, typer.Option("--user", help="The owner of every platform.", callback=check_user_id)],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and say what would be added.")
    ] = False,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good rows even when some are bad.")
    ] = False,
) -> None:
    """Add the platforms an OPML or CSV file lists (docs/cli.md gives the CSV columns).

    Nothing is stored when any row is bad, unless --skip-bad; rows already stored are left out.
    """
    try:
        rows = read_platform_file(_read(file))
    except UnreadableFile as exc:
        raise BadInput(f"{file}: {exc}") from None
    checked = [_checked(row) for row in rows.good]
    good = [row for row in checked if isinstance(row, PlatformRow)]
    bad = rows.bad + [row for row in checked if isinstance(row, BadRow)]
    bad.sort(key=lambda row: int(row.where.split()[-1]))
    for bad_row in bad:
        err.print((warning_line if skip_bad else error_line)(f"{file} {bad_row.where}: {bad_row.reason}"))
    if bad and not skip_bad:
        raise BadInput(f"{len(bad)} bad row(s) in {file}: nothing imported (--skip-bad imports the others)")
    if not good:
        raise BadInput(f"{file} lists no platform to import")
    with open_engine() as engine, engine.begin() as conn:
        seen = _stored_watches(conn, user)
        new: list[PlatformRow] = []
        for row in good:
            key = _same(row.source, row.config)
            if key not in seen:
                seen.add(key)
                new.append(row)
        if dry_run:
            _show(good, new)
            err.print(
                f"dry run: {len(new)} platform(s) would be added, {len(good) - len(new)} already there"
                f"{f', {len(bad)} bad row(s) skipped' if bad else ''}; nothing was stored"
            )
            return
        ids = [_insert(conn, user, row) for row in new]
    for platform_id in ids:
        typer.echo(platform_id)
    err.print(
        f"imported {len(ids)} platform(s) for user {user} from {file}"
        f" ({len(good) - len(new)} already there{f', {len(bad)} bad row(s) skipped' if bad else ''})"
    )


def _insert(conn: Connection, user: int, row: PlatformRow) -> int:
    now = utcnow()
    values = {
        "user_id": user,
        "name": row.name,
        "source": row.source,
        "config": row.config,
        "credentials_secret": row.credentials_secret,
        "active": True,
        "auto_collect": True if row.auto_collect is None else row.auto_collect,
        "collection_interval_minutes": polite_interval(row.source, row.interval),
        "created_at": now,
        "updated_at": now,
    }
    return int(conn.execute(insert(platforms).values(**values).returning(platforms.c.id)).scalar_one())


def _show(good: list[PlatformRow], new: list[PlatformRow]) -> None:
    adding = {id(row) for row in new}
    out.print(
        table(
            None,
            ["Where", "Name", "Source", "Would"],
            [
                (row.where, row.name, row.source, "add" if id(row) in adding else "skip (already there)")
                for row in good
            ],
        )
    )


def export_command(
    user: Annotated[
        int | None, typer.Option("--user", help="Only this user's platforms.", callback=check_user_id)
    ] = None,
    format_: Annotated[
        Literal["csv", "opml"],
        typer.Option("--format", help="csv: every platform, whole; opml: the rss platforms' feeds."),
    ] = "csv",
) -> None:
    """Print platforms as a file `platforms import` reads back (CSV), or feeds as OPML."""
    query = select(platforms).order_by(platforms.c.id)
    if user is not None:
        query = query.where(platforms.c.user_id == user)
    with open_engine() as engine, engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    if format_ == "csv":
        typer.echo(to_csv(rows), nl=False)
        err.print(f"exported {len(rows)} platform(s)")
        return
    feeds = [row for row in rows if row["source"] == "rss"]
    typer.echo(to_opml(feeds), nl=False)
    # OPML holds a feed's address and name only: filters and settings need the CSV.
    trimmed = sum(1 for row in feeds if set(row["config"]) != {"url"})
    notes = (
        [f"{len(rows) - len(feeds)} platform(s) of other sources left out"] if len(rows) > len(feeds) else []
    )
    if trimmed:
        notes.append(f"the config beyond the url of {trimmed} left out (--format csv keeps it)")
    err.print(f"exported {len(feeds)} feed(s)" + (f"; {'; '.join(notes)}" if notes else ""))
