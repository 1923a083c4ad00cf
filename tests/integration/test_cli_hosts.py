"""``charlee-collector hosts``: the per-host limits, an operator's override, and bad input."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import Cli


def test_hosts_list_set_and_clear(tmp_path: Path) -> None:
    cli = Cli(tmp_path)

    listed = cli.json("hosts", "list")
    known = {h["host"]: h for h in listed["hosts"]}
    assert known["remotive.com"]["max_concurrent"] == 1
    assert "max. 4 times a day" in known["remotive.com"]["source"]
    assert listed["default"]["max_concurrent"] == 2

    set_ = cli("hosts", "set", "Feeds.Example.org", "--min-spacing", "2.5")
    assert set_.stdout.strip() == "feeds.example.org: 2 at once, 2.5s apart"
    overridden = {h["host"]: h for h in cli.json("hosts", "list")["hosts"]}["feeds.example.org"]
    assert (overridden["min_spacing_seconds"], overridden["source"]) == (
        2.5,
        "operator override (fetch_hosts)",
    )

    cleared = cli("hosts", "clear", "feeds.example.org")
    assert cleared.stdout.startswith("feeds.example.org: 2 at once, 1s apart (ours")


def test_hosts_set_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    for args, says in (
        (("https://remotive.com/api", "--min-spacing", "1"), "is not a host name"),
        (("remotive.com",), "give --max-concurrent, --min-spacing or both"),
        (("remotive.com", "--max-concurrent", "0"), "max-concurrent"),
    ):
        result = cli("hosts", "set", *args, expect=2)
        assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr, result.stderr
