"""``alerts add|list|remove``: the real command in a subprocess on PostgreSQL; each refusal one
line naming the field, exit 2, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Cli, Result, postgres_cli

SLACK = ("--channel", "slack", "--secret", "charlee/prod/alerts/slack-me")


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


def one_line_error(result: Result, *fragments: str) -> None:
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_add_list_and_remove_rules(cli: Cli) -> None:
    instant = cli(
        "alerts", "add", "--user", "1", *SLACK, "--min-score", "70", "--keyword", "python",
        "--source", "remotive", "--min-budget", "60/hour", "--contract-type", "hourly",
    )  # fmt: skip
    instant_id = int(instant.stdout)
    assert "score >= 70; keywords python; sources remotive; contract_types hourly" in instant.stderr
    assert "budget >= 60/hour; instant; slack via charlee/prod/alerts/slack-me" in instant.stderr

    # A digest's time zone is the profile's unless given.
    cli("profile", "set", "--user", "2", "--timezone", "Europe/Lisbon")
    digest = cli(
        "alerts", "add", "--user", "2", "--channel", "email", "--secret", "charlee/prod/alerts/mail",
        "--mode", "digest", "--every", "weekly", "--hour", "8", "--weekday", "mon",
    )  # fmt: skip
    digest_id = int(digest.stdout)
    assert "every job; weekly digest at 08:00 on mon Europe/Lisbon; email" in digest.stderr

    listed = cli.json("alerts", "list")
    assert [(r["id"], r["user_id"], r["mode"]) for r in listed] == [
        (instant_id, 1, "instant"),
        (digest_id, 2, "digest"),
    ]
    assert listed[0]["min_budget"] == "60/hour" and listed[1]["timezone"] == "Europe/Lisbon"
    assert [r["id"] for r in cli.json("alerts", "list", "--user", "2")] == [digest_id]
    table = cli("alerts", "list").stdout
    assert "weekly digest at 08:00" in table and "Alert rules" in table

    one_line_error(cli("alerts", "remove", str(instant_id), "--user", "2", expect=1), "not found for user 2")
    removed = cli("alerts", "remove", str(instant_id))
    assert removed.stdout == "" and f"alert rule {instant_id} removed" in removed.stderr
    one_line_error(cli("alerts", "remove", str(instant_id), expect=1), f"alert rule {instant_id} not found")
    assert [r["id"] for r in cli.json("alerts", "list")] == [digest_id]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--min-score", "101"), "'min_score'"),
        (("--source", "myspace"), "'sources.0'"),
        (("--min-budget", "60/fortnight"), "'min_budget'"),
        (("--contract-type", "salaried"), "'contract_types.0'"),
        (("--mode", "digest", "--every", "daily"), "'hour'"),
        (("--mode", "digest", "--every", "daily", "--hour", "8", "--timezone", "Mars/Base"), "'timezone'"),
        (("--every", "daily"), "mode digest only"),
    ],
)
def test_an_invalid_rule_is_one_line_naming_the_field(cli: Cli, args: tuple[str, ...], field: str) -> None:
    one_line_error(cli("alerts", "add", "--user", "1", *SLACK, *args, expect=2), "invalid alert rule", field)
    assert cli.json("alerts", "list") == []


def test_channel_and_secret_are_checked(cli: Cli) -> None:
    one_line_error(
        cli("alerts", "add", "--user", "1", "--channel", "pigeon", "--secret", "charlee/p/x", expect=2),
        "'channel'",
    )
    one_line_error(
        cli(
            "alerts",
            "add",
            "--user",
            "1",
            "--channel",
            "slack",
            "--secret",
            "https://hooks.slack.com/x",
            expect=2,
        ),
        "'secret'",
        "charlee/<stack>/<name>",
    )
    one_line_error(
        cli(
            "alerts", "add", "--user", "1", *SLACK, expect=2, env={"PLATFORM_SECRET_PREFIX": "charlee/other/"}
        ),
        "'secret'",
        "outside charlee/other/",
    )
