"""``profile set|show|rescore``: a user's scoring profile (``normalize/profiles.py``) and its rescoring.

``set`` changes the fields it is given and keeps the others; the profile is validated whole (one
line naming the field when it is not valid) and every open opportunity of the user is marked to
rescore, which ``rescore`` does now, batch by batch, and a scheduled dispatcher tick does otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import InvalidProfile
from charlee_collector.normalize.profiles import parse_profile, profile_document
from charlee_collector.store.profiles import load_profile_document, save_profile_document
from charlee_collector.store.tables import opportunities, user_profiles
from charlee_collector_tools.cli.common import (
    BadInput,
    NotFound,
    SuggestingGroup,
    check_user_id,
    err,
    open_engine,
    out,
    print_json,
    table,
    when,
)

app = typer.Typer(
    cls=SuggestingGroup,
    help="Set or show a user's scoring profile; rescore their opportunities.",
    no_args_is_help=True,
)

User = Annotated[int, typer.Option("--user", help="The user's id.", callback=check_user_id)]


def _skills(values: list[str]) -> dict[str, Any]:
    """``NAME=WEIGHT`` (or ``NAME``: weight 1) options as the profile's ``skills``."""
    skills: dict[str, Any] = {}
    for value in values:
        name, _, weight = value.rpartition("=") if "=" in value else (value, "", "1")
        if not name.strip():
            raise BadInput(f"--skill takes NAME=WEIGHT (python=5), got {value!r}")
        try:
            skills[name.strip()] = int(weight)
        except ValueError:
            raise BadInput(f"--skill {value!r}: the weight is a whole number from 1 to 10") from None
    return skills


@app.command("set")
def set_command(
    user: User,
    skill: Annotated[
        list[str] | None,
        typer.Option("--skill", metavar="NAME=WEIGHT", help="A skill and its weight, 1-10 (repeat it)."),
    ] = None,
    language: Annotated[list[str] | None, typer.Option("--language", help="A language (repeat it).")] = None,
    min_budget: Annotated[
        list[str] | None,
        typer.Option(
            "--min-budget", metavar="AMOUNT/PERIOD", help="As the platforms' min_budget: one per period."
        ),
    ] = None,
    contract_type: Annotated[
        list[str] | None, typer.Option("--contract-type", help="fixed_price or hourly (repeat it).")
    ] = None,
    exclude_keyword: Annotated[
        list[str] | None, typer.Option("--exclude-keyword", help="A job naming it scores 0 (repeat it).")
    ] = None,
    exclude_company: Annotated[
        list[str] | None, typer.Option("--exclude-company", help="A job of it scores 0 (repeat it).")
    ] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="An IANA time zone.")] = None,
) -> None:
    """Change the given fields of a user's profile (the rest stay) and mark their open
    opportunities to rescore."""
    given: dict[str, Any] = {
        "skills": _skills(skill) if skill is not None else None,
        "languages": language,
        "min_budget": min_budget,
        "contract_types": contract_type,
        "exclude_keywords": exclude_keyword,
        "exclude_companies": exclude_company,
        "timezone": timezone,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    with open_engine() as engine, engine.begin() as conn:
        document = {**(load_profile_document(conn, user) or {}), **changes}
        try:
            profile = parse_profile(document)
        except InvalidProfile as exc:
            raise BadInput(str(exc)) from None
        save_profile_document(conn, user, profile_document(profile), now=utcnow())
        pending = conn.execute(
            select(func.count())
            .select_from(opportunities)
            .where(opportunities.c.user_id == user, opportunities.c.status == "new")
        ).scalar_one()
    err.print(
        f"profile of user {user} saved; {pending} open opportunit{'y' if pending == 1 else 'ies'} to rescore "
        f"(`charlee-collector profile rescore --user {user}`, or the next scheduled dispatcher tick)"
    )


@app.command("show")
def show_command(
    user: User,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A user's profile and whether their rescoring is finished."""
    with open_engine() as engine, engine.connect() as conn:
        row = (
            conn.execute(select(user_profiles).where(user_profiles.c.user_id == user))
            .mappings()
            .one_or_none()
        )
    if row is None:
        raise NotFound(
            f"user {user} has no profile: set one with `charlee-collector profile set --user {user}`"
        )
    if as_json:
        print_json(
            {
                "user_id": user,
                "profile": row["profile"],
                "updated_at": row["updated_at"],
                "rescore_pending": row["rescore_after_id"] is not None,
            }
        )
        return
    profile = row["profile"]
    skills = ", ".join(f"{name}={weight}" for name, weight in profile.get("skills", {}).items())
    rows = [
        ("skills", skills or "-"),
        ("languages", ", ".join(profile.get("languages", [])) or "-"),
        ("min_budget", _listed(profile.get("min_budget"))),
        ("contract_types", ", ".join(profile.get("contract_types", [])) or "-"),
        ("exclude_keywords", ", ".join(profile.get("exclude_keywords", [])) or "-"),
        ("exclude_companies", ", ".join(profile.get("exclude_companies", [])) or "-"),
        ("timezone", profile.get("timezone") or "-"),
        ("updated", when(row["updated_at"])),
        ("rescoring", "pending" if row["rescore_after_id"] is not None else "done"),
    ]
    out.print(table(f"Profile of user {user}", ["Field", "Value"], rows))


def _listed(value: Any) -> str:
    if value is None:
        return "-"
    return ", ".join(value) if isinstance(value, list) else str(value)


@app.command("rescore")
def rescore_command(user: User) -> None:
    """Rescore a user's open opportunities now, in batches (each its own transaction)."""
    from charlee_collector.app.scoring import rescore_user

    with open_engine() as engine:
        total = rescore_user(engine, user)
    err.print(f"rescored {total} opportunit{'y' if total == 1 else 'ies'} of user {user}")
