"""MkDocs hook: the CLI reference page, generated from the typer app at every build.

The page walks the click command tree typer builds from the app and writes, for every command
and sub-command, what ``charlee-collector ... --help`` prints: its usage, its help text and
each argument and option with its help (defaults, ranges, environment variables). Nothing is
written by hand, so the reference cannot drift from the code.

``CLI_APP`` below is the one place that names the app's module.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

CLI_APP = "charlee_collector_tools.cli:app"  # "module:attribute" of the typer app
PROGRAM = "charlee-collector"  # the console script's name (pyproject.toml)
PAGE = "cli-reference.md"  # where the page sits in the site (mkdocs.yml's nav names it)

_CODE_SPAN = re.compile(r"(``.+?``|`[^`]+`)")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated page to the site's files, before the nav is built from them."""
    files.append(File.generated(config, PAGE, content=render(load_app(CLI_APP))))
    return files


def load_app(spec: str) -> Any:
    """The object ``module:attribute`` names."""
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def render(app: Any) -> str:
    """The whole reference page as Markdown."""
    import typer  # the docs build runs in the project's venv, where typer is installed

    root = typer.main.get_command(app)
    lines = [
        "# CLI reference",
        "",
        f"Every command and sub-command of `{PROGRAM}`, generated from the command's own code when",
        "the site is built: it is what `--help` (`-h`) prints. [The CLI guide](cli.md) explains the",
        "commands with examples; the output conventions and exit codes are there too.",
        "",
    ]
    _command(root, [PROGRAM], None, lines)
    return "\n".join(lines) + "\n"


def _command(command: Any, path: list[str], parent: Any, lines: list[str]) -> None:
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    level = "##" if len(path) <= 2 else "###"
    lines += [f"{level} `{' '.join(path)}`", ""]
    lines += _help_text(command.help or "")
    usage = command.get_usage(ctx).removeprefix("Usage:").strip()
    lines += ["```text", usage, "```", ""]

    rows = [record for param in command.params if (record := _help_record(param, ctx))]
    if rows:
        lines += ["| Argument or option | Description |", "|---|---|"]
        lines += [f"| `{_cell(opts)}` | {_cell(_escape(text))} |" for opts, text in rows]
        lines.append("")

    subcommands = _subcommands(command, ctx)
    if subcommands:
        lines += ["| Command | Description |", "|---|---|"]
        for name, sub in subcommands:
            anchor = _slug(" ".join([*path, name]))
            summary = _escape(sub.get_short_help_str(limit=200))
            lines.append(f"| [`{name}`](#{anchor}) | {_cell(summary)} |")
        lines.append("")
        for name, sub in subcommands:
            _command(sub, [*path, name], ctx, lines)


def _subcommands(command: Any, ctx: Any) -> list[tuple[str, Any]]:
    """The visible sub-commands of a group, in the order its ``--help`` lists them."""
    if not hasattr(command, "list_commands"):
        return []
    found = ((name, command.get_command(ctx, name)) for name in command.list_commands(ctx))
    return [(name, sub) for name, sub in found if sub is not None and not sub.hidden]


def _help_record(param: Any, ctx: Any) -> tuple[str, str] | None:
    if getattr(param, "hidden", False):
        return None
    record = param.get_help_record(ctx)
    if record is None:  # a plain click argument: no help of its own
        return (param.human_readable_name, "")
    return (record[0], record[1] or "")


def _help_text(text: str) -> list[str]:
    """The help as Markdown paragraphs; click's ``\\b`` (do not rewrap) blocks stay as they are."""
    out: list[str] = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if paragraph.startswith("\b"):
            out += ["```text", paragraph.removeprefix("\b").strip("\n"), "```", ""]
        elif paragraph.strip():
            out += [_escape(paragraph), ""]
    return out


def _escape(text: str) -> str:
    """Text as Markdown shows it literally: HTML-escaped outside its code spans."""
    parts = _CODE_SPAN.split(text)
    return "".join(part if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts))


def _cell(text: str) -> str:
    """Text that stays inside one table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _slug(heading: str) -> str:
    """The anchor the site gives a heading (pymdownx.slugs, as mkdocs.yml configures it)."""
    from pymdownx.slugs import slugify

    return slugify(case="lower")(heading, "-")
