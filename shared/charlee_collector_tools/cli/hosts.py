"""``hosts list|set|clear``: the fleet-wide per-host limits (``store/host_slots.py``) and their overrides."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import select

from charlee_collector.core.clock import utcnow
from charlee_collector.store import host_slots as host_limits
from charlee_collector.store.tables import fetch_hosts
from charlee_collector_tools.cli.common import (
    BadInput,
    SuggestingGroup,
    err,
    open_engine,
    out,
    print_json,
    table,
    when,
)

app = typer.Typer(
    cls=SuggestingGroup,
    help="Show the per-host request limits; override them for one host.",
    no_args_is_help=True,
)

# Far above any host's fair share, and inside the column's integer (larger values reached the
# database as an OverflowError).
MAX_CONCURRENT = 10_000

Host = Annotated[str, typer.Argument(help="The host name as in the platforms' URLs, e.g. remotive.com.")]


def at_once(max_concurrent: int) -> str:
    """The "At once" figure: "unlimited" for the loopback hosts' no-limit value (1,000,000,
    ``host_slots.LOOPBACK``), which an override cannot reach (at most ``MAX_CONCURRENT``)."""
    return "unlimited" if max_concurrent >= host_limits.LOOPBACK.max_concurrent else str(max_concurrent)


def figures(limit: host_limits.HostLimit) -> str:
    return f"{at_once(limit.max_concurrent)} at once, {limit.min_spacing.total_seconds():g}s apart"


def _host(value: str) -> str:
    host = value.strip().lower()
    if not host or any(c in host for c in "/:@?# \t"):
        raise BadInput(f"{value!r} is not a host name: give only the host, e.g. remotive.com")
    return host


@app.command("list")
def list_(as_json_: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False) -> None:
    """Every known or seen host: its limit, where the figure comes from, its state."""
    with open_engine() as engine, engine.connect() as conn:
        rows = {row.host: row for row in conn.execute(select(fetch_hosts))}
        hosts = sorted(set(host_limits.KNOWN_HOSTS) | set(rows))
        limits = {host: host_limits.limit_for(conn, host) for host in hosts}
    listed: list[dict[str, Any]] = [
        {
            "host": host,
            "max_concurrent": limits[host].max_concurrent,
            "min_spacing_seconds": limits[host].min_spacing.total_seconds(),
            "source": limits[host].source,
            "next_request_at": rows[host].next_request_at if host in rows else None,
            "retry_after_until": rows[host].retry_after_until if host in rows else None,
        }
        for host in hosts
    ]
    default = host_limits.GLOBAL_DEFAULT
    if as_json_:
        everyone_else = {
            "host": "*",
            "max_concurrent": default.max_concurrent,
            "min_spacing_seconds": default.min_spacing.total_seconds(),
            "source": default.source,
            "next_request_at": None,
            "retry_after_until": None,
        }
        print_json([*listed, everyone_else])  # one array, as every listing; "*": any other host
        return
    out.print(
        table(
            None,
            ["Host", "At once", "Spacing", "Held until", "Limit from"],
            [
                [
                    h["host"],
                    at_once(h["max_concurrent"]),
                    f"{h['min_spacing_seconds']:g}s",
                    when(h["retry_after_until"]),
                    h["source"],
                ]
                for h in listed
            ],
        )
    )
    err.print(f"any other host: {default.source}")


@app.command("set")
def set_(
    host: Host,
    max_concurrent: Annotated[
        int | None,
        typer.Option(
            "--max-concurrent", help=f"Requests in flight at once, fleet-wide (1 to {MAX_CONCURRENT})."
        ),
    ] = None,
    min_spacing: Annotated[
        float | None,
        typer.Option("--min-spacing", help="Seconds between two requests to the host (0 or more)."),
    ] = None,
) -> None:
    """Override the limit of one host (what is not given keeps the default)."""
    if max_concurrent is None and min_spacing is None:
        raise BadInput("give --max-concurrent, --min-spacing or both (`hosts clear` removes an override)")
    # Checked here rather than by typer's min, for a one-line error.
    if max_concurrent is not None and not 1 <= max_concurrent <= MAX_CONCURRENT:
        raise BadInput(f"--max-concurrent must be 1 to {MAX_CONCURRENT}, got {max_concurrent}")
    if min_spacing is not None and not 0 <= min_spacing <= 86_400:
        raise BadInput(f"--min-spacing must be 0 to 86400 seconds, got {min_spacing:g}")
    name = _host(host)
    spacing_ms = None if min_spacing is None else round(min_spacing * 1000)
    with open_engine() as engine, engine.begin() as conn:
        host_limits.set_override(
            conn, name, max_concurrent=max_concurrent, min_spacing_ms=spacing_ms, now=utcnow()
        )
        limit = host_limits.limit_for(conn, name)
    out.print(f"{name}: {figures(limit)}")


@app.command("clear")
def clear(host: Host) -> None:
    """Remove the override of one host: its known or the global default applies again.

    A host without an override is left as it is and says so (exit 0, as `platforms resume` of a
    platform that is not paused).
    """
    name = _host(host)
    with open_engine() as engine, engine.begin() as conn:
        row = conn.execute(
            select(fetch_hosts.c.max_concurrent, fetch_hosts.c.min_spacing_ms).where(
                fetch_hosts.c.host == name
            )
        ).first()
        if row is None or (row.max_concurrent is None and row.min_spacing_ms is None):
            limit = host_limits.limit_for(conn, name)
            err.print(f"{name} has no override: nothing to clear (it keeps {figures(limit)}: {limit.source})")
            return
        host_limits.set_override(conn, name, max_concurrent=None, min_spacing_ms=None, now=utcnow())
        limit = host_limits.limit_for(conn, name)
    out.print(f"{name}: {figures(limit)} ({limit.source})")
