"""Items per second parsed and normalised by each adapter, one line per figure.

    python bench/parse.py            # from the repository root

Reads the real third-party captures in ../shared/fixtures/real when that folder exists, and the
project's own fixtures (tests/fixtures/sources) otherwise. Output lines are ``name value unit``,
e.g. ``parse_remoteok 1234 items/s``; the source of the inputs is printed to stderr.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from charlee_collector.sources import parse_items  # noqa: E402

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


def items_per_second(source: str, body: bytes, config: dict) -> float:
    """Parsed-and-normalised items per second, over repeated runs of at least MIN_SECONDS."""
    parse_items(source, body, config)  # warm caches (regexes, parsers)
    items = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < MIN_SECONDS:
        items += len(parse_items(source, body, config))
    return items / elapsed


def main() -> int:
    use_real = REAL.is_dir()
    print(
        f"inputs: {'real captures in ' + str(REAL) if use_real else 'own fixtures in ' + str(OWN)}",
        file=sys.stderr,
    )
    for name, source, config, real, own in CASES:
        body = (REAL / real if use_real else OWN / own).read_bytes()
        print(f"parse_{name} {items_per_second(source, body, config):.0f} items/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
