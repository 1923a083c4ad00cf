"""Platforms read from OPML and CSV files, and written back: no database."""

from __future__ import annotations

import pytest

from charlee_collector_tools.cli.platform_files import (
    BadRow,
    PlatformRow,
    UnreadableFile,
    read_platform_file,
    to_csv,
    to_opml,
)


def test_opml_outlines_with_a_feed_in_any_folder_become_rss_platforms() -> None:
    rows = read_platform_file(
        b"""<opml version="2.0"><body>
        <outline text="Folder"><outline text="Inner" title="Inner &lt;jobs&gt;" xmlUrl=" https://a.example/f "/>
          <outline text="Sub"><outline text="Deep" xmlUrl="https://b.example/f"/></outline></outline>
        <outline xmlUrl="https://c.example/f"/>
        <outline text="Empty" xmlUrl=""/>
        </body></opml>"""
    )
    assert [(r.where, r.name, r.source, r.config) for r in rows.good] == [
        ("line 2", "Inner <jobs>", "rss", {"url": "https://a.example/f"}),
        ("line 3", "Deep", "rss", {"url": "https://b.example/f"}),
        ("line 4", "https://c.example/f", "rss", {"url": "https://c.example/f"}),
    ]
    assert rows.bad == [BadRow("line 5", "outline 'Empty' has an empty xmlUrl")]


def test_csv_columns_are_settings_config_or_one_config_key_each() -> None:
    rows = read_platform_file(
        "\ufeffsource,name,config,url,keywords,interval,auto_collect,credentials_secret\n"
        'rss,"Feed, with comma",,https://a.example/f,"[""go""]",30,no,\n'
        "\n"
        'remotive,Remotive,"{""limit"": 5}",,,,yes,charlee/platforms/x\n'.encode()
    )
    assert rows.bad == []
    assert rows.good == [
        PlatformRow(
            "line 2", "Feed, with comma", "rss", {"url": "https://a.example/f", "keywords": ["go"]}, 30, False
        ),
        PlatformRow("line 4", "Remotive", "remotive", {"limit": 5}, None, True, "charlee/platforms/x"),
    ]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("rss,x,,,too,many", "6 cells for 3 columns"),
        (",x,", "no source"),
        ('rss,x,"[1]"', "config must be a JSON object, got list"),
        ("rss,x,{nope", "config is not valid JSON"),
    ],
)
def test_a_bad_csv_row_is_named_and_the_others_still_read(line: str, says: str) -> None:
    rows = read_platform_file(f"source,name,config\n{line}\nrss,good,\n".encode())
    [bad] = rows.bad
    assert bad.where == "line 2" and says in bad.reason
    assert [row.name for row in rows.good] == ["good"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "the file is empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"source,source,name\n", "repeated"),
        (b'<!DOCTYPE o [<!ENTITY e "x">]><opml/>', "declares entities"),
    ],
)
def test_a_file_that_is_no_list_of_platforms_is_refused_whole(data: bytes, says: str) -> None:
    with pytest.raises(UnreadableFile, match=says):
        read_platform_file(data)


def test_what_is_written_reads_back() -> None:
    stored = [
        {"name": 'Odd "name" & <tags>', "source": "rss", "config": {"url": "https://a.example/f?x=1&y=2"},
         "collection_interval_minutes": 45, "auto_collect": False, "credentials_secret": None},
    ]  # fmt: skip
    [from_opml] = read_platform_file(to_opml(stored).encode()).good
    assert (from_opml.name, from_opml.config) == (stored[0]["name"], stored[0]["config"])
    [from_csv] = read_platform_file(to_csv(stored).encode()).good
    assert (from_csv.name, from_csv.config, from_csv.interval, from_csv.auto_collect) == (
        stored[0]["name"], stored[0]["config"], 45, False,
    )  # fmt: skip
