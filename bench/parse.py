"""Items per second parsed and normalised by each adapter, one line per figure.

    python bench/parse.py            # from the repository root

Reads the real third-party captures in ../shared/fixtures/real when that folder exists, and the
project's own fixtures (tests/fixtures/sources) otherwise. Output lines are ``name value unit``,
e.g. ``parse_remoteok 1234 items/s``; the source of the inputs is printed to stderr. Each RSS
figure has a ``..._feedparser`` twin: the same feed through the fallback reader, in the same run.
``parse_rss_10mb_seconds`` reads a generated, well-formed 10 MB feed of 50,000 items once
(``parse_rss_10mb_items_kept``: what the item bound keeps of it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from charlee_collector.normalize.opportunities import dedupe  # noqa: E402
from charlee_collector.sources import parse_items  # noqa: E402
from charlee_collector.sources.feeds.rss import MAX_FEED_ITEMS, RssSource, feed_entries  # noqa: E402

REAL = ROOT.parent / "shared" / "fixtures" / "real"
OWN = ROOT / "tests" / "fixtures" / "sources"
FEED = {"url": "https://feeds.example/jobs.rss"}
MIN_SECONDS = 0.5

# name, source, config, real capture (relative to REAL), own fixture (relative to OWN)
CASES = [
    ("remoteok", "remoteok", {}, "remoteok/remoteok_api_2026-03-17.json", "remoteok.json"),
    ("remotive", "remotive", {}, "remotive/remotive_remote-jobs_2026-06-10.json", "remotive.json"),
    ("himalayas", "himalayas", {}, "himalayas/himalayas_jobs_api_2026-05-17.json", "himalayas.json"),
    ("arbeitnow", "arbeitnow", {}, "arbeitnow/arbeitnow_job-board-api_2026-02.json", "arbeitnow_page1.json"),
    ("jobicy", "jobicy", {}, "jobicy/jobicy_v2_remote-jobs_2026-06-10.json", "jobicy.json"),
    (
        "rss_weworkremotely",
        "rss",
        FEED,
        "weworkremotely/wwr_remote-programming-jobs_2026-06.xml",
        "rss_wwr.xml",
    ),
    ("rss_upwork", "rss", FEED, "upwork/upwork_topics_rss_android_2018-03-07.xml", "rss_upwork.xml"),
    (
        "hn_freelancer",
        "hn_freelancer",
        {"thread": "hiring"},
        "hn_algolia/hn_algolia_search_comments_story_47975571.json",
        "hn_comments.json",
    ),
]


TEN_MB = 10 * 1024 * 1024
BIG_FEED_ITEMS = 50_000


def items_per_second(parse: Callable[[], list[Any]]) -> float:
    """Parsed-and-normalised items per second, over repeated runs of at least MIN_SECONDS."""
    parse()  # warm caches (regexes, parsers)
    items = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < MIN_SECONDS:
        items += len(parse())
    return items / elapsed


def with_feedparser(body: bytes) -> list[Any]:
    """What ``parse_items("rss", ...)`` gives, read by the feedparser fallback instead."""
    return dedupe(RssSource().feed_opportunities(feed_entries(body, FEED["url"], fast=False)))


def ten_mb_feed() -> bytes:
    """A well-formed RSS 2.0 feed of 50,000 dated items with HTML descriptions, ~10 MB."""
    head = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Jobs</title>'
    tail = b"</channel></rss>"
    item = (
        "<item><title>Job {n}</title><link>https://jobs.example/{n}</link><guid>job-{n}</guid>"
        "<pubDate>{day:02d} Jan 2026 {hour:02d}:{minute:02d}:00 GMT</pubDate>"
        "<category>Engineering</category><description>{text}</description></item>"
    )
    filler = "&lt;p&gt;Build the thing, well.&lt;/p&gt;"
    sample = item.format(n=0, day=1, hour=0, minute=0, text="")
    repeats = (TEN_MB - len(head) - len(tail)) // BIG_FEED_ITEMS - len(sample) - 5
    text = (filler * (repeats // len(filler) + 1))[:repeats].rsplit("&lt;p", 1)[0]
    body = "".join(
        item.format(n=n, day=1 + n % 28, hour=n % 24, minute=n % 60, text=text) for n in range(BIG_FEED_ITEMS)
    )
    return head + body.encode() + tail


def main() -> int:
    use_real = REAL.is_dir()
    print(
        f"inputs: {'real captures in ' + str(REAL) if use_real else 'own fixtures in ' + str(OWN)}",
        file=sys.stderr,
    )
    for name, source, config, real, own in CASES:
        body = (REAL / real if use_real else OWN / own).read_bytes()
        print(f"parse_{name} {items_per_second(partial(parse_items, source, body, config)):.0f} items/s")
        if source == "rss":
            print(f"parse_{name}_feedparser {items_per_second(partial(with_feedparser, body)):.0f} items/s")
    big = ten_mb_feed()
    started = time.perf_counter()
    kept = len(parse_items("rss", big, FEED))
    print(f"parse_rss_10mb_seconds {time.perf_counter() - started:.2f} s")
    print(f"parse_rss_10mb_items_kept {kept} items")
    print(
        f"10 MB feed: {len(big)} bytes, {BIG_FEED_ITEMS} items; the bound (MAX_FEED_ITEMS = {MAX_FEED_ITEMS}) "
        f"keeps the newest {kept}: the seconds include reading and dating all {BIG_FEED_ITEMS}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
