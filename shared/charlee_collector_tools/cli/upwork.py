"""``upwork authorize|purge``, and the OAuth grants ``status`` reports.

``authorize`` runs Upwork's authorization-code flow on the operator's machine: it prints the URL to
open (stdout), reads the address Upwork redirected to, or the bare code (stdin), exchanges the code
at the token endpoint and stores the grant in a Secrets Manager secret (created, or given a new
version): the secret the collector refreshes (``app/oauth_tokens.py``). The client secret comes
from ``UPWORK_CLIENT_SECRET`` or a hidden prompt, never from the command line. ``purge`` empties
what Upwork's terms do not let us keep (``app/retention.py``) without waiting for the dispatcher.
``grant_health`` says, per grant the platforms use, when its refresh token dies unused.
"""

from __future__ import annotations

import os
import secrets as token_bytes
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import typer
from sqlalchemy import Engine, select

from charlee_collector.core.clock import utcnow
from charlee_collector.core.credentials import oauth_secret_name, refuse_outside_prefix
from charlee_collector.core.errors import SourceError
from charlee_collector.sources.upwork import AUTHORIZE_URL, TOKEN_URL
from charlee_collector.store.tables import platforms
from charlee_collector_tools.cli.common import (
    BadInput,
    CliError,
    SuggestingGroup,
    err,
    open_engine,
    out,
    settings,
)

app = typer.Typer(
    cls=SuggestingGroup,
    help="Authorise Charlee Collector at Upwork, and purge what Upwork's terms do not let us keep.",
    no_args_is_help=True,
)

# Upwork asks for a redirect URI registered with the API key; a page that does not load is fine:
# the operator copies the address it was sent to.
DEFAULT_REDIRECT_URI = "https://localhost/charlee-collector/upwork"


def authorization_url(authorize_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """The address the operator opens to grant access."""
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state}
    return f"{authorize_url}?{urlencode(query)}"


def code_from(pasted: str, state: str) -> str:
    """The authorization code in what the operator pasted: the redirected address or the code."""
    pasted = pasted.strip()
    if not pasted:
        raise BadInput("nothing was pasted: paste the address Upwork redirected to, or its code")
    if "://" not in pasted and "?" not in pasted:
        return pasted
    query = parse_qs(urlsplit(pasted).query)
    if "error" in query:
        raise CliError(f"Upwork refused the authorisation: {query['error'][0][:200]}")
    if query.get("state", [state])[0] != state:
        raise BadInput(
            "the pasted address is the answer to another authorisation (its state differs): start again"
        )
    if not query.get("code"):
        raise BadInput("the pasted address holds no code: paste the address Upwork redirected to")
    return query["code"][0]


@app.command("authorize")
def authorize_command(
    client_id: Annotated[
        str, typer.Option("--client-id", help="The API key's client id (Upwork's key page).")
    ],
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            help="The Secrets Manager name to store the grant under. "
            "Default: $PLATFORM_SECRET_PREFIX + oauth/upwork (charlee/<stack>/oauth/upwork).",
        ),
    ] = None,
    redirect_uri: Annotated[
        str, typer.Option("--redirect-uri", help="The redirect URI registered with the API key.")
    ] = DEFAULT_REDIRECT_URI,
    authorize_url: Annotated[
        str, typer.Option("--authorize-url", help="Upwork's authorisation page.")
    ] = AUTHORIZE_URL,
    token_url: Annotated[str, typer.Option("--token-url", help="Upwork's token endpoint.")] = TOKEN_URL,
) -> None:
    """Authorise access to Upwork and store the tokens in a Secrets Manager secret.

    Prints the address to open; paste the address Upwork redirects to (or its code) when asked.
    """
    from charlee_collector.app.oauth_tokens import OAuthGrant, SecretsManagerTokens, request_tokens
    from charlee_collector.fetching.client import Fetcher, build_client

    # The collector may read only the stack's secrets, and write only its oauth/ folder.
    prefix = settings().platform_secret_prefix
    if secret is None:
        if not prefix:
            raise BadInput(
                f"name the secret: --secret {oauth_secret_name('upwork', None)} (your stack's name), "
                "or set PLATFORM_SECRET_PREFIX"
            )
        secret = oauth_secret_name("upwork", prefix)
    refusal = refuse_outside_prefix(secret, prefix)
    if refusal:
        raise BadInput(refusal)

    # Never an option: a command line shows in `ps` and the shell's history.
    client_secret = os.environ.get("UPWORK_CLIENT_SECRET") or typer.prompt(
        "Client secret", hide_input=True, err=True
    )
    state = token_bytes.token_urlsafe(16)
    typer.echo(authorization_url(authorize_url, client_id, redirect_uri, state))
    err.print("Open that address, allow access, then paste the address Upwork sent you to (or its code):")
    code = code_from(typer.prompt("", prompt_suffix="", err=True, default="", show_default=False), state)
    current = settings()
    client = build_client(current)
    try:
        answer = request_tokens(
            Fetcher(client, current),
            token_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "client_secret": client_secret,
            },
        )
        now = utcnow()
        grant = OAuthGrant(client_id, client_secret, token_url, refresh_token="").renewed(answer, now)
        if not grant.refresh_token:
            raise CliError(f"the token endpoint {token_url} answered without a refresh_token")
        SecretsManagerTokens().save(secret, grant.secret_values())
    except SourceError as exc:
        raise CliError(f"authorisation failed: {exc}") from None
    finally:
        client.close()
    dies = grant.refresh_token_dies_at
    err.print(
        f"stored the Upwork grant in secret {secret} (its refresh token dies if unused until "
        f"{dies:%Y-%m-%d %H:%M} UTC); use it with `charlee-collector platforms add --source upwork "
        f"--credentials-secret {secret} ...`"
    )


@app.command("purge")
def purge_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be purged.")] = False,
) -> None:
    """Empty the descriptions and raw bodies Upwork's terms do not let us keep (over 24 h old).

    The dispatcher does this on every tick; this runs it now, until nothing is left.
    """
    from charlee_collector.app.retention import purge_expired, purgeable

    with open_engine() as engine:
        if dry_run:
            err.print(f"{purgeable(engine, now=utcnow())} opportunities would be purged; nothing was changed")
            return
        summary = purge_expired(engine, now=utcnow(), max_batches=None)
    err.print(f"purged the description and raw body of {summary.purged} opportunities")


# --- what status reports ------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantHealth:
    """One OAuth grant some platforms use, and how long its refresh token has."""

    secret: str
    platform_ids: list[int]
    refresh_token_dies_at: datetime | None
    warning: str | None

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def grant_health(engine: Engine, *, now: datetime) -> list[GrantHealth]:
    """The grants of active platforms of OAuth sources; a warning when a refresh token has less than
    ``REFRESH_WARNING`` left (or is dead, or the secret cannot be read). No platform: no AWS call."""
    from charlee_collector.app.oauth_tokens import REFRESH_WARNING, OAuthGrant, SecretsManagerTokens
    from charlee_collector.sources import REGISTRY

    oauth_sources = [key for key, source in REGISTRY.items() if source.oauth_tokens]
    query = select(platforms.c.id, platforms.c.credentials_secret).where(
        platforms.c.source.in_(oauth_sources), platforms.c.active, platforms.c.credentials_secret.is_not(None)
    )
    with engine.connect() as conn:
        users: dict[str, list[int]] = defaultdict(list)
        for row in conn.execute(query.order_by(platforms.c.id)):
            users[row.credentials_secret].append(row.id)
    store = SecretsManagerTokens()
    report = []
    for name, ids in users.items():
        dies: datetime | None = None
        try:
            dies = OAuthGrant.from_secret(store.read(name), name).refresh_token_dies_at
        except SourceError as exc:
            warning: str | None = str(exc)
        else:
            warning = _refresh_warning(name, dies, ids, now, REFRESH_WARNING)
        report.append(GrantHealth(name, ids, dies, warning))
    return report


def _refresh_warning(
    name: str, dies: datetime | None, ids: list[int], now: datetime, within: Any
) -> str | None:
    again = f"run `charlee-collector upwork authorize --secret {name}`"
    if dies is None:
        return f"secret {name} does not say when its refresh token was issued: {again} to be sure"
    if dies <= now:
        return f"the refresh token in secret {name} died unused on {dies:%Y-%m-%d %H:%M} UTC: {again}"
    if dies - now <= within:
        days = (dies - now).total_seconds() / 86400
        return (
            f"the refresh token in secret {name} dies unused on {dies:%Y-%m-%d %H:%M} UTC ({days:.1f} days): "
            f"collect platform {ids[0]} (`charlee-collector collect {ids[0]}`) to renew it, or {again}"
        )
    return None


def print_grants(report: list[GrantHealth]) -> None:
    """The grants as a table (``status``), each warning also one line on stderr."""
    from charlee_collector_tools.cli.common import labelled, table, when

    if not report:
        return
    out.print(
        table(
            "OAuth grants",
            ["Secret", "Platforms", "Refresh token dies unused", "State"],
            [
                (
                    g.secret,
                    ", ".join(map(str, g.platform_ids)),
                    when(g.refresh_token_dies_at),
                    "attention" if g.warning else "ok",
                )
                for g in report
            ],
        )
    )
    for grant in report:
        if grant.warning:
            err.print(labelled("warning:", "yellow", grant.warning))
