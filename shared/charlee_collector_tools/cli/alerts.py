"""``alerts add|list|remove|test``: a user's alert rules (``normalize/alert_rules.py``).

``add`` validates the rule whole (one line naming the field when it is not valid) and refuses a
secret outside the stack's alerts/ folder (``core/credentials.py``: the only secrets the
notifier may read): the channel's webhook URL, token or
address lives in Secrets Manager and the rule names it. A digest's time zone defaults to the
user's profile's, else UTC. Rules are not edited: remove one and add its replacement.
``test`` sends one message on a rule's channel and prints what the channel answered.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from charlee_collector.core.clock import utcnow
from charlee_collector.core.credentials import refuse_alert_secret
from charlee_collector.core.errors import InvalidAlertRule
from charlee_collector.normalize.alert_rules import CHANNELS, WEEKDAYS, alert_rule_document, parse_alert_rule
from charlee_collector.sources import SOURCE_KEYS
from charlee_collector.store.alert_rules import (
    StoredAlertRule,
    add_alert_rule,
    list_alert_rules,
    remove_alert_rule,
)
from charlee_collector.store.profiles import load_profile_document
from charlee_collector_tools.cli.common import (
    BadInput,
    CliError,
    NotFound,
    SuggestingGroup,
    check_user_id,
    clip,
    command_settings,
    err,
    labelled,
    open_engine,
    out,
    print_json,
    settings,
    table,
    when,
)

app = typer.Typer(
    cls=SuggestingGroup,
    help="Add, list or remove a user's alert rules: which jobs tell them, when, and where.",
    no_args_is_help=True,
)

User = Annotated[int, typer.Option("--user", help="The user's id.", callback=check_user_id)]


@app.command("add")
def add_command(
    user: User,
    channel: Annotated[str, typer.Option("--channel", help=f"Where it is sent: {', '.join(CHANNELS)}.")],
    secret: Annotated[
        str,
        typer.Option(
            "--secret",
            help="The Secrets Manager secret holding the channel's webhook URL, token or address "
            "(charlee/<stack>/alerts/<name>).",
        ),
    ],
    min_score: Annotated[
        int | None, typer.Option("--min-score", help="Only jobs scored at least this.")
    ] = None,
    keyword: Annotated[
        list[str] | None, typer.Option("--keyword", help="Only jobs naming one, as a whole word (repeat it).")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only jobs of this source (repeat it).")
    ] = None,
    min_budget: Annotated[
        list[str] | None,
        typer.Option(
            "--min-budget", metavar="AMOUNT/PERIOD", help="As the filters' min_budget: one per period."
        ),
    ] = None,
    contract_type: Annotated[
        list[str] | None, typer.Option("--contract-type", help="fixed_price or hourly (repeat it).")
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="instant (batched per minute) or digest (at a local hour).")
    ] = "instant",
    every: Annotated[str | None, typer.Option("--every", help="A digest's period: daily or weekly.")] = None,
    hour: Annotated[int | None, typer.Option("--hour", help="A digest's local hour, 0-23.")] = None,
    weekday: Annotated[
        str | None, typer.Option("--weekday", help=f"A weekly digest's day: {', '.join(WEEKDAYS)}.")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="A digest's IANA time zone. Default: the profile's, else UTC."),
    ] = None,
    more_url: Annotated[
        str | None, typer.Option("--more-url", help="Where a message cut short links to for the rest.")
    ] = None,
) -> None:
    """Add an alert rule for a user; prints its id."""
    given: dict[str, Any] = {
        "channel": channel,
        "secret": secret,
        "min_score": min_score,
        "keywords": keyword,
        "sources": source,
        "min_budget": min_budget,
        "contract_types": contract_type,
        "mode": mode,
        "every": every,
        "hour": hour,
        "weekday": weekday,
        "timezone": timezone,
        "more_url": more_url,
    }
    document = {name: value for name, value in given.items() if value is not None}
    refusal = refuse_alert_secret(secret, settings().platform_secret_prefix)
    if refusal is not None:
        raise BadInput(f"invalid alert rule: field 'secret': {refusal}")
    with open_engine() as engine, engine.begin() as conn:
        if timezone is None and mode == "digest":
            document["timezone"] = (load_profile_document(conn, user) or {}).get("timezone") or "UTC"
        try:
            rule = parse_alert_rule(document, known_sources=SOURCE_KEYS)
        except InvalidAlertRule as exc:
            raise BadInput(str(exc)) from None
        rule_id = add_alert_rule(conn, user, rule, now=utcnow())
    out.print(str(rule_id))
    err.print(f"alert rule {rule_id} of user {user} added: {_summary(alert_rule_document(rule))}")


def _summary(rule: dict[str, Any]) -> str:
    """A rule on one line: what alerts, how soon, where."""
    what = []
    if "min_score" in rule:
        what.append(f"score >= {rule['min_score']}")
    for name in ("keywords", "sources", "contract_types"):
        if rule.get(name):
            what.append(f"{name} {', '.join(rule[name])}")
    if "min_budget" in rule:
        budget = rule["min_budget"]
        what.append(f"budget >= {', '.join(budget) if isinstance(budget, list) else budget}")
    if rule["mode"] == "digest":
        day = f" on {rule['weekday']}" if rule.get("weekday") else ""
        how = f"{rule['every']} digest at {rule['hour']:02d}:00{day} {rule['timezone']}"
    else:
        how = "instant"
    return f"{'; '.join(what) or 'every job'}; {how}; {rule['channel']} via {rule['secret']}"


@app.command("list")
def list_command(
    user: Annotated[
        int | None, typer.Option("--user", help="Only this user's rules.", callback=check_user_id)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """The alert rules, of one user or of all."""
    with open_engine() as engine, engine.connect() as conn:
        rules = list_alert_rules(conn, user)
    if as_json:
        print_json(
            [
                {"id": r.id, "user_id": r.user_id, "created_at": r.created_at, **alert_rule_document(r.rule)}
                for r in rules
            ]
        )
        return
    rows = [(r.id, r.user_id, _summary(alert_rule_document(r.rule)), when(r.created_at)) for r in rules]
    out.print(table("Alert rules", ["Id", "User", "Rule", "Added"], rows))


@app.command("remove")
def remove_command(
    rule_id: Annotated[int, typer.Argument(metavar="ID", help="The rule's id (alerts list).")],
    user: Annotated[
        int | None, typer.Option("--user", help="Only when the rule is this user's.", callback=check_user_id)
    ] = None,
) -> None:
    """Remove an alert rule."""
    with open_engine() as engine, engine.begin() as conn:
        removed = remove_alert_rule(conn, rule_id, user_id=user)
    if not removed:
        raise NotFound(f"alert rule {rule_id} not found" + (f" for user {user}" if user is not None else ""))
    err.print(f"alert rule {rule_id} removed")


TEST_MESSAGE_ITEM_TITLE = "A job like this one, when it matches the rule"


@app.command("test")
def test_command(
    rule_id: Annotated[int, typer.Argument(metavar="ID", help="The rule's id (alerts list).")],
) -> None:
    """Send one test message on a rule's channel and print what the channel answered."""
    from charlee_collector.alerts.channels import Transports, send_alert
    from charlee_collector.alerts.message import AlertItem, AlertMessage
    from charlee_collector.core.aws import aws_cause, aws_region, read_secret_json
    from charlee_collector.core.errors import InvalidChannelSecret
    from charlee_collector.fetching.client import build_client
    from charlee_collector.store.alert_rules import load_alert_rule

    with open_engine() as engine, engine.connect() as conn:
        stored = load_alert_rule(conn, rule_id)
    if stored is None:
        raise NotFound(f"alert rule {rule_id} not found")
    rule = stored.rule
    try:
        secret = read_secret_json(rule.secret, max_age=5)
    except Exception as exc:  # Powertools wraps every failure; the cause is what the operator needs
        raise CliError(f"cannot read secret {rule.secret}: {aws_cause(exc)}") from None
    message = AlertMessage(
        f"Charlee Collector: a test of alert rule {rule_id}",
        [AlertItem(TEST_MESSAGE_ITEM_TITLE, rule.more_url, "charlee-collector", None)],
        more_url=rule.more_url,
    )
    ses = None
    if rule.channel == "email":
        import boto3

        ses = boto3.session.Session(region_name=aws_region()).client("ses")
    with build_client(command_settings()) as client:
        try:
            answer = send_alert(rule.channel, secret, message, Transports(http=client, ses=ses))
        except InvalidChannelSecret as exc:
            raise CliError(f"secret {rule.secret}: {exc}") from None
    out.print(answer.describe(rule.channel))
    if not answer.ok:
        raise CliError(f"the {rule.channel} channel did not take the message (HTTP {answer.status or '-'})")


# --- what `status` shows of the alerts ---------------------------------------------------------

FRESHNESS_WINDOW = timedelta(days=7)


def alerts_status(conn: Connection, *, now: datetime) -> dict[str, Any]:
    """The alerts' part of ``status``: rules disabled or failing, alerts whose send is unknown,
    and each source's freshness (p50/p95 seconds) over the last 7 days."""
    from charlee_collector.store.alert_deliveries import abandoned_claims, freshness_by_source
    from charlee_collector.store.alert_rules import disabled_rules, failing_rules

    def described(stored: StoredAlertRule) -> dict[str, Any]:
        return {
            "id": stored.id,
            "user_id": stored.user_id,
            "channel": stored.rule.channel,
            "failing_since": stored.failing_since,
            "disabled_at": stored.disabled_at,
            "last_error": stored.last_error,
        }

    return {
        "disabled": [described(r) for r in disabled_rules(conn)],
        "failing": [described(r) for r in failing_rules(conn)],
        "unknown_sends": abandoned_claims(conn, now=now),
        "freshness": [asdict(f) for f in freshness_by_source(conn, since=now - FRESHNESS_WINDOW)],
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def print_alerts_status(status: dict[str, Any]) -> None:
    """The alerts' tables of ``status`` (nothing when there is nothing to say)."""
    for title, rows in (("Alert rules disabled (a day of failures)", status["disabled"]),
                        ("Alert rules failing", status["failing"])):  # fmt: skip
        if rows:
            out.print(
                table(
                    title,
                    ["Rule", "User", "Channel", "Failing since", "Disabled", "Last answer"],
                    [
                        (
                            r["id"],
                            r["user_id"],
                            r["channel"],
                            when(r["failing_since"]),
                            when(r["disabled_at"]),
                            clip(r["last_error"], 80),
                        )
                        for r in rows
                    ],
                )
            )
    if status["disabled"]:
        err.print(
            labelled(
                f"{len(status['disabled'])} alert rule(s) disabled:",
                "yellow",
                "fix the channel's secret, check it with `charlee-collector alerts test ID`, then add the rule again",
            )
        )
    if status["freshness"]:
        out.print(
            table(
                "Alert freshness, last 7 days (seconds to notification)",
                ["Source", "Alerts", "From posting p50", "p95", "From collection p50", "p95"],
                [
                    (
                        f["source"],
                        f["alerts"],
                        _seconds(f["posted_p50"]),
                        _seconds(f["posted_p95"]),
                        _seconds(f["collected_p50"]),
                        _seconds(f["collected_p95"]),
                    )
                    for f in status["freshness"]
                ],
            )
        )
    if status["unknown_sends"]:
        err.print(
            labelled(
                f"{status['unknown_sends']} alert(s) may not have been sent:",
                "yellow",
                "the notifier stopped between the send and its record; they are never sent twice",
            )
        )
