"""``charlee-collector``: the operator command (``app``, run by ``main``).

``migrate`` (here); ``platforms`` (``import``/``export``: ``platform_transfer``); ``sources``;
``collect`` and ``dispatch`` (``collecting``, ``waiting``); ``runs``, ``opportunities`` and ``status``
(``reports``); ``dlq`` (``dead_letters``); ``events``; ``hosts``; ``upwork authorize|purge``;
``profile set|show|rescore`` (``profiles``); ``alerts add|list|remove|test`` (``alerts``); ``local run|poll|stop`` (``local_mode``). Every command uses ``--db``, else
``DATABASE_URL`` (or ``DB_SECRET_ARN``), else the embedded PostgreSQL (data in
``$CHARLEE_HOME/pgdata``), started, created and upgraded on first use and running until
``local stop``. Exit codes are in ``common``; every command and option in docs/cli.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from charlee_collector import __version__
from charlee_collector_tools.cli import (
    alerts,
    collecting,
    dlq,
    events,
    hosts,
    local_mode,
    platform_transfer,
    platforms,
    profiles,
    reports,
    sources,
    upwork,
)
from charlee_collector_tools.cli.click_errors import ClickException, UsageError, is_no_args_help
from charlee_collector_tools.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    BadInput,
    CliError,
    SuggestingGroup,
    describe_db,
    err,
    error_line,
    is_text,
    open_engine,
    options,
)

app = typer.Typer(
    cls=SuggestingGroup,
    name="charlee-collector",
    help="Operate Charlee Collector: platforms, collections, the queues, and the local run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help: typer's rich panels show every flag (--json, --help) with a ``<bool>``
    # metavar, promising a value a flag does not take. Flags take no value; ``--no-x`` negates.
    # The sub-apps (platforms, dlq, local) inherit this.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
platforms.app.command("import")(platform_transfer.import_command)
platforms.app.command("export")(platform_transfer.export_command)
app.add_typer(platforms.app, name="platforms")
app.add_typer(dlq.app, name="dlq")
app.add_typer(events.app, name="events")
app.add_typer(hosts.app, name="hosts")
app.add_typer(local_mode.app, name="local")
app.add_typer(upwork.app, name="upwork")
app.add_typer(profiles.app, name="profile")
app.add_typer(alerts.app, name="alerts")
app.command("collect")(collecting.collect_command)
app.command("dispatch")(collecting.dispatch_command)
app.command("runs")(reports.runs_command)
app.add_typer(reports.opportunities_app, name="opportunities")
app.command("status")(reports.status_command)
app.command("sources")(sources.sources_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"charlee-collector {__version__}")
        raise typer.Exit()


@app.callback()
def callback(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="PostgreSQL URL. Default: $DATABASE_URL, else the embedded PostgreSQL ($CHARLEE_HOME/pgdata).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Operate Charlee Collector: platforms, collections, the queues, and the local run."""
    options.db = db


@app.command("migrate")
def migrate_command() -> None:
    """Create the schema, or upgrade it to this version."""
    from charlee_collector_tools.cli.common import database_url, head_revision

    url = database_url()
    with open_engine(upgrade=True):
        pass
    err.print(f"{describe_db(url)} is at revision {head_revision()}")


def _explain(exc: BaseException) -> tuple[str, int] | None:
    """A message and exit code for the errors an operator can meet and fix; None for bugs."""
    from charlee_collector.store.engine import explain_error
    from charlee_collector_tools.cli.common import database_url

    explained = explain_error(exc, database_url)
    if explained is None:
        return None
    message, usage = explained
    return message, EXIT_USAGE if usage else EXIT_FAILED


def usage_line(exc: Any) -> str:
    """Click's message on one line, pointing to the command's help (instead of Click's three:
    usage, hint, error)."""
    message = " ".join(exc.format_message().split())
    ctx = exc.ctx if isinstance(exc, UsageError) else None
    return f"{message} (see `{ctx.command_path} --help`)" if ctx is not None else message


def global_option_line(exc: Any) -> str | None:
    """For an option of ``charlee-collector`` itself (``--db``, ``--version``) given after the
    command: where it goes instead, on one line; None for any other error."""
    name = getattr(exc, "option_name", None)
    ctx = exc.ctx if isinstance(exc, UsageError) else None
    if not name or ctx is None or ctx.parent is None or not exc.format_message().startswith("No such option"):
        return None
    root = ctx.find_root()
    param = next((p for p in root.command.params if name in getattr(p, "opts", ())), None)
    if param is None:
        return None
    command = ctx.command_path.removeprefix(root.command_path).strip()
    shown = name if getattr(param, "is_flag", False) else f"{name} {param.metavar or 'URL'}"
    example = f"{root.command_path} {shown}" if param.is_eager else f"{root.command_path} {shown} {command}"
    return f"{name} is an option of {root.command_path} itself: put it before the command ({example})"


def _check_text(args: Sequence[str]) -> None:
    """Every argument must be text: bytes that are not UTF-8 reach Python as lone surrogates, which
    no database, JSON document or terminal takes (one check here covers every option)."""
    for position, arg in enumerate(args, start=1):
        if not is_text(arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise BadInput(f"argument {position} is not UTF-8 text: '{shown[:200]}'")


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run the app, turning expected errors into one line and an exit code."""
    try:
        _check_text(sys.argv[1:] if argv is None else argv)
        code = app(
            args=list(argv) if argv is not None else None,
            standalone_mode=False,
            prog_name="charlee-collector",
        )
    except CliError as exc:
        exc.show()
        code = exc.exit_code
    except ClickException as exc:
        if is_no_args_help(exc):  # a group without its command: its help
            exc.show()
        else:  # usage errors: a bad option, a missing argument; one line
            err.print(error_line(global_option_line(exc) or usage_line(exc)))
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        code = 130
    except Exception as exc:
        explained = _explain(exc)
        if explained is None:
            raise
        message, code = explained
        err.print(error_line(message))
    sys.exit(code if isinstance(code, int) else 0)
