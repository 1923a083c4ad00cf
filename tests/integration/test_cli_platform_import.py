"""``platforms import`` and ``platforms export``, run as the real command against PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli, postgres_cli

READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions from a feed reader</title></head>
  <body>
    <outline text="Jobs" title="Jobs">
      <outline type="rss" text="Python &amp; Django jobs" title="Python &amp; Django jobs"
               xmlUrl="https://example.org/python.xml" htmlUrl="https://example.org/"/>
      <outline type="rss" text="Elixir jobs" xmlUrl="https://example.org/elixir.xml"/>
    </outline>
    <outline type="rss" text="Remote work" xmlUrl="https://example.org/remote.xml"/>
  </body>
</opml>
"""


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


def feeds(cli: Cli, user: str) -> list[tuple[str, str, str]]:
    return [
        (p["name"], p["source"], p["config"]["url"]) for p in cli.json("platforms", "list", "--user", user)
    ]


def test_import_round_trips_an_opml_export(cli: Cli, tmp_path: Path) -> None:
    reader_export = tmp_path / "reader.opml"
    reader_export.write_text(READER_EXPORT)
    imported = cli("platforms", "import", str(reader_export), "--user", "1")
    assert len(imported.stdout.split()) == 3 and all(i.isdigit() for i in imported.stdout.split())
    assert imported.stderr.startswith("imported 3 platform(s) for user 1")
    expected = [
        ("Python & Django jobs", "rss", "https://example.org/python.xml"),
        ("Elixir jobs", "rss", "https://example.org/elixir.xml"),
        ("Remote work", "rss", "https://example.org/remote.xml"),
    ]
    assert feeds(cli, "1") == expected

    # Our own export, read back for another user, is the same feeds; for the same user, nothing new.
    ours = tmp_path / "ours.opml"
    ours.write_text(cli("platforms", "export", "--format", "opml", "--user", "1").stdout)
    assert len(cli("platforms", "import", str(ours), "--user", "2").stdout.split()) == 3
    assert feeds(cli, "2") == expected
    again = cli("platforms", "import", str(ours), "--user", "2")
    assert (
        again.stdout == "" and "imported 0 platform(s)" in again.stderr and "3 already there" in again.stderr
    )


def test_a_bad_row_imports_nothing_unless_skip_bad(cli: Cli, tmp_path: Path) -> None:
    listing = tmp_path / "boards.csv"
    listing.write_text(
        "source,name,url,keywords,interval\n"
        'rss,Python feed,https://example.org/python.xml,"[""python"", ""django""]",60\n'
        "nosuch,Unknown source,https://example.org/x,,\n"
        "rss,No url,,,\n"
        "rss,Bad interval,https://example.org/y.xml,,soon\n"
    )
    refused = cli("platforms", "import", str(listing), "--user", "1", expect=2)
    lines = refused.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines[:3]] == [
        f"{listing} line 3",
        f"{listing} line 4",
        f"{listing} line 5",
    ]
    assert "unknown source 'nosuch'" in lines[0] and "'url'" in lines[1] and "interval 'soon'" in lines[2]
    assert lines[3] == f"error: 3 bad row(s) in {listing}: nothing imported (--skip-bad imports the others)"
    assert refused.stdout == "" and cli.json("platforms", "list") == []

    dry = cli("platforms", "import", str(listing), "--user", "1", "--skip-bad", "--dry-run")
    assert "line 2" in dry.stdout and "Python feed" in dry.stdout and "add" in dry.stdout
    assert dry.stderr.count("warning:") == 3 and "nothing was stored" in dry.stderr
    assert cli.json("platforms", "list") == []

    kept = cli("platforms", "import", str(listing), "--user", "1", "--skip-bad")
    [platform] = cli.json("platforms", "list")
    assert kept.stdout.strip() == str(platform["id"])
    assert platform["config"] == {"url": "https://example.org/python.xml", "keywords": ["python", "django"]}
    assert platform["collection_interval_minutes"] == 60


def test_csv_export_imports_back_whole(cli: Cli, tmp_path: Path) -> None:
    listing = tmp_path / "boards.csv"
    listing.write_text(
        "source,name,config,auto_collect,credentials_secret\n"
        'json_api,Jobs API,"{""url"": ""https://api.example.org/jobs"", ""items"": ""jobs""}",no,jobs-key\n'
        'remoteok,RemoteOK,"{""keywords"": [""rust""]}",,\n'
    )
    cli("platforms", "import", str(listing), "--user", "1")
    exported = tmp_path / "exported.csv"
    exported.write_text(cli("platforms", "export").stdout)
    cli("platforms", "import", str(exported), "--user", "2")
    fields = ("name", "source", "config", "auto_collect", "credentials_secret", "collection_interval_minutes")

    def platforms(user: str) -> list[tuple[object, ...]]:
        return [tuple(p[f] for f in fields) for p in cli.json("platforms", "list", "--user", user)]

    assert platforms("2") == platforms("1")
    assert platforms("1")[0][2:5] == (
        {"url": "https://api.example.org/jobs", "items": "jobs"},
        False,
        "jobs-key",
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body/></opml>', "declares entities"),
        ("name,url\nx,https://example.org\n", "the CSV header lacks source"),
        ("<opml><body><outline", "not well-formed OPML"),
    ],
)
def test_an_unreadable_file_is_one_line(cli: Cli, tmp_path: Path, content: str, says: str) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(content)
    result = cli("platforms", "import", str(listing), "--user", "1", expect=2)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and says in result.stderr


def test_config_column_and_key_column_may_not_both_give_a_key(cli: Cli, tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text(
        "source,name,config,url\n" + 'rss,Twice,"' + json.dumps({"url": "https://a.example"}).replace('"', '""')
        + '",https://b.example\n'
    )  # fmt: skip
    result = cli("platforms", "import", str(listing), "--user", "1", expect=2)
    assert "line 2: config key 'url' is given twice" in result.stderr
