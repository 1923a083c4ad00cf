"""``opportunities`` (filters, formats, ``mark``) and the filtered count in ``collect``, ``runs``
and ``status``: the real command in a subprocess, against the local HTTP server, on PostgreSQL.
Each command costs a Python start-up, so one scenario walks them all."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support.cli import Cli, Result, postgres_cli, rss

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


def add(cli: Cli, name: str, source: str, config: dict) -> int:
    result = cli(
        "platforms", "add", "--user", "1", "--name", name, "--source", source, "--config", json.dumps(config)
    )
    return int(result.stdout)


def cells(result: Result, name: str) -> list[str]:
    """The cells of the one table row of stdout that holds ``name``."""
    [line] = [line for line in result.stdout.splitlines() if f" {name} " in line]
    return [cell.strip() for cell in line.strip().strip("│┃").split("│")]


def header(result: Result) -> list[str]:
    line = next(line for line in result.stdout.splitlines() if "ID" in line and ("┃" in line or "│" in line))
    return [cell.strip() for cell in line.strip().strip("│┃").replace("┃", "│").split("│")]


def one_line_error(result: Result, *fragments: str) -> None:
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_budgets_filters_formats_and_the_filtered_count(cli: Cli, http_server) -> None:
    http_server.route_file("/remotive", FIXTURES / "remotive_periods.json")
    http_server.route("/feed.xml", body=rss(), content_type="application/rss+xml")
    jobs = add(cli, "Remotive", "remotive", {"url": http_server.url("/remotive")})
    # Its filters drop all three items of the feed: the run must say so.
    picky = add(cli, "Picky", "rss", {"url": http_server.url("/feed.xml"), "keywords": ["cobol"]})

    collected = cli("collect", str(picky))
    head = header(collected)
    row = dict(zip(head, cells(collected, "Picky"), strict=True))
    assert (row["Outcome"], row["Fetched"], row["Filtered"], row["New"]) == ("success", "3", "3", "0")
    [as_json] = cli.json("collect", str(jobs))
    assert (as_json["fetched"], as_json["filtered"], as_json["inserted"]) == (7, 0, 7)

    runs = {r["platform_id"]: r for r in cli.json("runs")}
    assert (runs[picky]["fetched"], runs[picky]["filtered"], runs[picky]["inserted"]) == (3, 3, 0)
    listed = cli("runs")
    row = dict(zip(header(listed), cells(listed, f"{picky} Picky"), strict=True))
    assert (row["Fetched"], row["Filtered"], row["New"]) == ("3", "3", "0")
    status = cli("status")
    row = dict(zip(header(status), cells(status, f"{picky} Picky"), strict=True))
    assert (row["Fetched"], row["Filtered"]) == ("3", "3")
    assert {r["platform_id"]: r["filtered"] for r in cli.json("status")["last_runs"]} == {picky: 3, jobs: 0}
    shown = cli("platforms", "show", str(picky))
    recent = shown.stdout[shown.stdout.index("Recent runs") :]
    row = dict(zip(header(Result(0, recent, "")), cells(Result(0, recent, ""), "on_demand"), strict=True))
    assert (row["Fetched"], row["Filtered"], row["New"]) == ("3", "3", "0")

    # The table shows each budget with its period, the JSON its parts.
    table = cli("opportunities")
    budgets = {cells(table, title)[5] for title in ("Django contractor", "Data engineer", "Landing page")}
    assert budgets == {"150 USD/h", "120000 USD/yr", "2000 USD fixed"}
    assert cells(table, "Support lead")[5] == "5000 EUR/mo" and cells(table, "Copywriter")[5] == "800 GBP/wk"
    assert (
        cells(table, "Security audit")[5] == "600 USD/d"
        and cells(table, "Backend engineer")[5] == "100000 USD"
    )
    everything = {o["title"]: o for o in cli.json("opportunities")}
    assert len(everything) == 7
    contractor = everything["Django contractor"]
    assert (contractor["budget"], contractor["currency"], contractor["budget_period"]) == (
        150.0,
        "USD",
        "hour",
    )
    assert contractor["budget_text"] == "150 USD/h" and contractor["source"] == "remotive"
    assert "raw" not in contractor and "content_hash" not in contractor

    # Like with like: 100/hour keeps every salary, fixed price and unknown period; 100000 (bare)
    # applies to the unknown period only, so "$80k - $100k" stays and nothing else moves.
    def titles(*args: str) -> set[str]:
        return {o["title"] for o in cli.json("opportunities", *args)}

    assert titles("--min-budget", "200/hour") == set(everything) - {"Django contractor"}
    assert titles("--min-budget", "200/h", "--min-budget", "150000/yr", "--min-budget", "100001") == set(
        everything
    ) - {"Django contractor", "Data engineer", "Backend engineer"}
    assert titles("--min-budget", "150/hour", "--limit", "1") == {"Django contractor"}
    assert titles("--contract-type", "hourly") == {"Django contractor"}
    assert titles("--contract-type", "fixed_price") == {"Landing page"}
    assert titles("--source", "rss") == set() and len(titles("--source", "remotive")) == 7

    # mark: all ids or none.
    ids = {o["title"]: o["id"] for o in everything.values()}
    marked = cli(
        "opportunities", "mark", str(ids["Data engineer"]), str(ids["Copywriter"]), "--status", "applied"
    )
    assert marked.stdout == "" and "marked 2 opportunities applied" in marked.stderr
    assert titles("--status", "applied") == {"Data engineer", "Copywriter"}
    unknown = cli(
        "opportunities",
        "mark",
        str(ids["Landing page"]),
        "999999",
        "999998",
        "--status",
        "dismissed",
        expect=1,
    )
    one_line_error(unknown, "not found: 999998, 999999", "nothing was changed")
    assert titles("--status", "dismissed") == set()
    assert cells(cli("opportunities", "--status", "applied"), "Copywriter")[6] == "applied"

    # CSV: a header row, every field, quoting a spreadsheet reads back, times in ISO UTC.
    exported = cli("opportunities", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout, newline="")))
    assert len(rows) == 7 and exported.stdout.startswith("id,user_id,platform_id,")
    by_title = {r["title"]: r for r in rows}
    support = by_title["Support lead"]
    assert (support["budget"], support["currency"], support["budget_period"]) == ("5000.00", "EUR", "month")
    assert support["posted_at"] == "2026-01-05T08:00:00+00:00" and support["collected_at"].endswith("+00:00")
    assert (
        by_title["Copywriter"]["status"] == "applied" and by_title["Backend engineer"]["budget_period"] == ""
    )
    # A comma, quotes and a line break in one cell: quoted, and read back as they were.
    assert by_title["Django contractor"]["description"] == 'Django, "admin" screens.\n\nTwo lines.'
    assert by_title["Django contractor"]["description"] == contractor["description"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--min-budget", "50/fortnight"], "unknown budget period 'fortnight'"),
        (["--min-budget", "lots"], "--min-budget"),
        (["--min-budget", "5/h", "--min-budget", "6/hour"], "two minimum budgets for hour"),
        (["--contract-type", "weekly"], "--contract-type must be one of fixed_price, hourly"),
        (["--status", "done"], "--status must be one of new, applied, dismissed"),
        (["--format", "xml"], "--format must be one of table, csv, json"),
        (["--format", "csv", "--json"], "contradict"),
        (["--source", "nope"], "--source must be one of"),
        (["mark", "1", "--status", "archived"], "--status must be one of new, applied, dismissed"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], fragment: str, tmp_path: Path) -> None:
    result = Cli(tmp_path)("opportunities", *argv, expect=2)
    one_line_error(result, fragment)
    assert result.stdout == ""


def test_urls_stay_on_one_line_on_an_80_column_terminal(cli: Cli, http_server) -> None:
    urls = [
        f"https://jobs.example.org/remote-jobs/initech-senior-python-developer-django-aws-{n}"
        for n in range(3)
    ]
    items = "".join(
        f"<item><title>Senior Python Developer (Django, AWS) for a long project {n}</title>"
        f"<link>{url}</link><guid>{url}</guid><pubDate>Mon, 01 Jun 2026 10:00:00 +0000</pubDate></item>"
        for n, url in enumerate(urls)
    )
    http_server.route(
        "/long.xml", body=f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'
    )
    cli("collect", str(add(cli, "We Work Remotely", "rss", {"url": http_server.url("/long.xml")})))

    narrow = cli.on_terminal("opportunities", columns=80)
    assert narrow.code == 0 and narrow.stderr == ""
    lines = narrow.stdout.splitlines()
    for url in urls:  # each URL whole on a line of its own, under its opportunity's line
        [at] = [n for n, line in enumerate(lines) if line.strip() == url]
        assert "Senior Python Developer" in lines[at - 1] and len(lines[at - 1]) <= 80
    wide = cli.on_terminal("opportunities", columns=200)
    assert "URL" in wide.stdout.splitlines()[1]  # the table, each URL whole in its cell
    for url in urls:
        assert len([line for line in wide.stdout.splitlines() if url in line]) == 1
    piped = cli("opportunities", env={"COLUMNS": "80"})  # a pipe: the table with whole cells, always
    assert (
        all(any(url in line for line in piped.stdout.splitlines()) for url in urls) and "URL" in piped.stdout
    )
