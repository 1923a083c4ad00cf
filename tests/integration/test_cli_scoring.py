"""``profile set|show|rescore`` and the scored, deduplicated listing (``opportunities --min-score
--sort score --explain``, "also on"): the real command in a subprocess, against the local HTTP
server, on PostgreSQL. Two boards: the second cross-posts the first's job behind a tracking URL
and again as an agency under its own name, next to the same title at another company."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli, Result, postgres_cli

FIXTURES = Path(__file__).parents[1] / "fixtures" / "scoring"


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


def add(cli: Cli, name: str, url: str) -> int:
    config = json.dumps({"url": url})
    return int(
        cli(
            "platforms", "add", "--user", "1", "--name", name, "--source", "remotive", "--config", config
        ).stdout
    )


def one_line_error(result: Result, *fragments: str) -> None:
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_profile_scores_and_one_row_per_job(cli: Cli, http_server) -> None:
    http_server.route_file("/a", FIXTURES / "board_a.json")
    http_server.route_file("/b", FIXTURES / "board_b.json")
    board_a = add(cli, "Board A", http_server.url("/a"))
    board_b = add(cli, "Board B", http_server.url("/b"))

    # Validation: one line naming the field; nothing saved.
    one_line_error(
        cli("profile", "set", "--user", "1", "--skill", "python=11", expect=2), "skills.python", "10"
    )
    one_line_error(cli("profile", "set", "--user", "1", "--timezone", "Mars/Base", expect=2), "timezone")
    one_line_error(
        cli("profile", "set", "--user", "1", "--min-budget", "60/fortnight", expect=2), "min_budget"
    )
    one_line_error(cli("profile", "show", "--user", "1", expect=1), "no profile")

    saved = cli(
        "profile", "set", "--user", "1",
        "--skill", "python=5", "--skill", "Django=3", "--skill", "aws=2",
        "--min-budget", "60/hour", "--contract-type", "hourly", "--exclude-keyword", "crypto",
    )  # fmt: skip
    assert saved.stdout == "" and "profile of user 1 saved; 0 open opportunities to rescore" in saved.stderr
    # set changes the fields it is given and keeps the rest.
    cli("profile", "set", "--user", "1", "--timezone", "Europe/Lisbon")
    shown = cli("profile", "show", "--user", "1", "--json").json
    assert shown["profile"]["skills"] == {"python": 5, "django": 3, "aws": 2}
    assert shown["profile"]["timezone"] == "Europe/Lisbon" and shown["profile"]["min_budget"] == "60/hour"

    cli("collect", str(board_a))
    cli("collect", str(board_b))

    listed = cli.json("opportunities")
    # The cross-posts (tracking URL, agency repost) are one row with their job, "also on" board B;
    # the same title at another company is another job, and the same company's other role too.
    assert sorted((o["client_name"], o["title"]) for o in listed) == [
        ("Acme Analytics", "Marketing Lead"),
        ("Acme Analytics", "Senior Python Backend Engineer"),
        ("Globex", "Senior Python Backend Engineer"),
        ("Moonbase", "Python Developer for a crypto exchange"),
    ]
    by_client = {(o["client_name"], o["title"][:6]): o for o in listed}
    job = by_client["Acme Analytics", "Senior"]
    assert job["also_on"] == ["Board B"] and job["duplicate_of"] is None and job["platform_id"] == board_a
    globex = by_client["Globex", "Senior"]
    assert globex["also_on"] == [] and globex["platform_id"] == board_b
    marketing, crypto = by_client["Acme Analytics", "Market"], by_client["Moonbase", "Python"]

    everything = cli.json("opportunities", "--all")
    assert len(everything) == 6
    repeats = [o for o in everything if o["duplicate_of"] is not None]
    assert {o["client_name"] for o in repeats} == {"Acme Analytics", "TalentBridge Recruiting"}
    assert {o["duplicate_of"] for o in repeats} == {job["id"]}

    # Scores: the matching job first; the excluded one 0.
    ranked = cli.json("opportunities", "--sort", "score")
    assert ranked[0]["id"] == job["id"] and job["score"] >= 85
    assert crypto["score"] == 0 and ranked[-1]["id"] == crypto["id"]
    assert {o["id"] for o in cli.json("opportunities", "--min-score", "80")} == {job["id"]}
    one_line_error(cli("opportunities", "--min-score", "101", expect=2), "--min-score")
    one_line_error(cli("opportunities", "--sort", "best", expect=2), "--sort")

    table = cli("opportunities", "--sort", "score").stdout
    assert "Board B" in next(line for line in table.splitlines() if "Acme Analytics" in line)

    explained = cli("opportunities", "--explain", str(job["id"])).stdout
    assert "matched python, django, aws" in explained and "90 USD/h meets the minimum 60" in explained
    assert "hourly is preferred" in explained and "also on: Board B" in explained
    agency = next(o for o in repeats if o["client_name"] == "TalentBridge Recruiting")
    assert (
        f"repeats opportunity {job['id']} (found by description)"
        in cli("opportunities", "--explain", str(agency["id"])).stdout
    )
    assert "excluded keyword 'crypto'" in cli("opportunities", "--explain", str(crypto["id"])).stdout
    one_line_error(cli("opportunities", "--explain", "999999", expect=1), "999999", "not found")

    # A profile change rescores: python no longer wanted, the job falls.
    cli("profile", "set", "--user", "1", "--skill", "marketing=5")
    assert cli("profile", "show", "--user", "1", "--json").json["rescore_pending"] is True
    rescored = cli("profile", "rescore", "--user", "1")
    assert "rescored 6 opportunities of user 1" in rescored.stderr
    assert cli("profile", "show", "--user", "1", "--json").json["rescore_pending"] is False
    after = {o["id"]: o["score"] for o in cli.json("opportunities")}
    assert after[job["id"]] < job["score"]
    assert after[marketing["id"]] > marketing["score"]
