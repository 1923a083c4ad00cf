"""The click exception classes the CLI catches are the ones typer raises (through its public face)."""

from __future__ import annotations

import pytest
import typer

from charlee_collector_tools.cli.click_errors import ClickException, UsageError, is_no_args_help


def _app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command()
    def hello(name: str) -> None:
        typer.echo(name)

    @app.command()
    def other() -> None:
        pass

    return app


def test_a_bad_option_raises_the_usage_error_caught():
    with pytest.raises(UsageError) as raised:
        _app()(["hello", "--bogus"], standalone_mode=False)
    assert isinstance(raised.value, ClickException)
    assert "No such option" in raised.value.format_message()
    assert not is_no_args_help(raised.value)


def test_a_group_without_its_command_is_told_apart():
    with pytest.raises(ClickException) as raised:
        _app()([], standalone_mode=False)
    assert is_no_args_help(raised.value)
