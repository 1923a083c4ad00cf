"""click's exception classes as typer raises them, reached through typer's public face.

typer 0.2x carries its own copy of click (``typer._click``, a private module) and raises that
copy's exceptions, so ``import click`` names other classes that never match. typer re-exports
``BadParameter`` publicly, and click documents its bases: ``UsageError``, then
``ClickException``. Those are the classes caught here; nothing names typer's private module.
"""

from __future__ import annotations

from typing import Any

import typer


def _base_of_bad_parameter(name: str) -> Any:
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == name)


UsageError: Any = _base_of_bad_parameter("UsageError")
ClickException: Any = _base_of_bad_parameter("ClickException")


def is_no_args_help(exc: BaseException) -> bool:
    """A group called without its command (click's ``NoArgsIsHelpError``): its help, not an error."""
    return isinstance(exc, UsageError) and type(exc).__name__ == "NoArgsIsHelpError"
