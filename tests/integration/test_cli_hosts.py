"""``charlee-collector hosts``: the per-host limits, an operator's override, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Cli, postgres_cli


def test_hosts_set_list_and_clear(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cli = postgres_cli(request, tmp_path)

    set_ = cli("hosts", "set", "Feeds.Example.org", "--min-spacing", "2.5")
    assert set_.stdout.strip() == "feeds.example.org: 2 at once, 2.5s apart"

    listed = cli.json("hosts", "list")
    hosts = {h["host"]: h for h in listed}
    assert (hosts["remotive.com"]["max_concurrent"], hosts["remotive.com"]["min_spacing_seconds"]) == (
        1,
        10.0,
    )
    assert "max. 4 times a day" in hosts["remotive.com"]["source"]
    assert hosts["feeds.example.org"]["source"] == "operator override (fetch_hosts)"
    assert hosts["*"]["max_concurrent"] == 2  # the last row: any other host

    cleared = cli("hosts", "clear", "feeds.example.org")
    assert cleared.stdout.startswith("feeds.example.org: 2 at once, 1s apart (ours")


def test_hosts_set_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    for args, says in (
        (("https://remotive.com/api", "--min-spacing", "1"), "is not a host name"),
        (("remotive.com", "--max-concurrent", "0"), "--max-concurrent must be 1 to 10000"),
    ):
        result = cli("hosts", "set", *args, expect=2)
        assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr, result.stderr
