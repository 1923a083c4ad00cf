"""Duplicate detection on a labelled set built from the real captures, and its cost per item.

    python bench/dedup.py            # from the repository root

The set (``labelled_set``): every job of the real captures (``parse.CASES``; the project's own
fixtures when ../shared/fixtures/real is absent) stored as it came, then, for each, one cross-post
and one look-alike, re-rendered in another board's shape (a Remotive API job, read back by the
``remotive`` source, so HTML, parsing and normalisation are the real ones):

* cross-posts (duplicates, label: the original's id), four kinds in turn: the same URL with
  tracking parameters and the title's case changed; another board's URL with the title's
  case and punctuation and the company's legal form changed; an agency reposting under its own
  name (title case changed); another URL with a misspelt company, the title's punctuation
  changed and an agency footer under the description. Every cross-post's HTML is reflowed
  (a heading added, lines made paragraphs, sentences broken by <br>);
* look-alikes (not duplicates), two for each job: the same title at another company with an
  unstored real job's description, and the same company's other role (an unstored job's title,
  its body after the original's first sentences, up to 300 characters: the company's
  boilerplate). The unstored job lent is always another company's, under a title sharing under
  half the words (the captures post one role per city with one text: that is no look-alike),
  never one that repeats a stored job (the same text under a title sharing half its words),
  and lent once per kind (twice, its look-alikes would repeat each other).

Only every other real job is stored; the rest lend the look-alikes their titles and bodies.

Each platform's items are stored as a collection stores them (``prepare_items`` with the
collector's annotations, ``upsert_opportunities``, ``link_duplicates``), 50 per transaction.
``dedup_precision``: of the links made, those to the right job; ``dedup_recall``: of the
cross-posts, those linked to their original. ``score_and_dedup_us_per_item``: this process's CPU
(``time.process_time``) for scoring and duplicate keys and for the link statement's client side,
per item stored (what a collection adds); ``dedup_link_ms_per_50`` is the link statement's wall time per 50 items (the database's work).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from _db import report, scratch_database
from parse import CASES, OWN, REAL
from sqlalchemy import Engine, insert

from charlee_collector.app.scoring import storage_annotations
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.duplicate_keys import company_key, title_key
from charlee_collector.normalize.profiles import parse_profile
from charlee_collector.sources import parse_items
from charlee_collector.store.duplicates import link_duplicates
from charlee_collector.store.opportunities import prepare_items, upsert_opportunities
from charlee_collector.store.tables import platforms

COLLECTION = 50
INTRO_CHARS = 300  # a company's boilerplate: the first sentences of its description
TEXT_CHARS = 1000  # what is compared to tell a job listed twice (``_repeats``)
AGENCY = "TalentBridge Recruiting"
PROFILE = parse_profile(
    {
        "skills": {"python": 5, "django": 3, "aws": 3, "react": 2, "typescript": 2, "go": 2, "kotlin": 1},
        "min_budget": ["60/hour", "90000/year"],
        "contract_types": ["hourly"],
        "exclude_keywords": ["crypto"],
    }
)


@dataclass(frozen=True)
class Labelled:
    """One item to store on ``board``; ``original``: the key of the job it repeats, or None."""

    board: str
    item: Opportunity
    key: str
    original: str | None = None


def real_jobs() -> list[tuple[str, Opportunity]]:
    """(source name, item) for every job of the captures."""
    use_real = REAL.is_dir()
    jobs = []
    for name, source, config, real, own in CASES:
        body = (REAL / real if use_real else OWN / own).read_bytes()
        jobs += [(name, item) for item in parse_items(source, body, config) if item.title]
    return jobs


def _reflowed(text: str | None, footer: str = "") -> str:
    """The text as another board's HTML: a heading, each line a paragraph, sentences broken by <br>."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    body = "".join("<p>" + line.replace(". ", ".<br>\n") + "</p>\n" for line in lines)
    return f"<h3>About the job</h3>\n{body}{f'<p><em>{footer}</em></p>' if footer else ''}"


def _misspelt(name: str) -> str:
    """One letter of the company's name dropped (a different spelling of the same company)."""
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    if len(letters) < 4:
        return name + "s"
    drop = letters[len(letters) // 2]
    return name[:drop] + name[drop + 1 :]


def _remotive(job_id: str, item: Opportunity, **changes: str | None) -> Opportunity:
    """``item`` re-rendered as a Remotive API job with ``changes``, read back by the remotive source."""
    job = {
        "id": job_id,
        "url": item.url,
        "title": item.title,
        "company_name": item.client_name,
        "category": item.category,
        "tags": list(item.required_skills),
        "job_type": "contract",
        "publication_date": item.posted_at.isoformat() if item.posted_at else None,
        "salary": None,
        "description": _reflowed(item.description),
        **changes,
    }
    [parsed] = parse_items("remotive", json.dumps({"jobs": [job]}).encode(), {})
    return parsed


def _shared(a: str | None, b: str | None) -> float:
    """The share of words two texts have in common (Jaccard over their word sets)."""
    mine, theirs = set((title_key(a) or "").split()), set((title_key(b) or "").split())
    return len(mine & theirs) / max(len(mine | theirs), 1)


def _different_job(item: Opportunity, other: Opportunity) -> bool:
    """Another company's job, under a title sharing under half its words: a true non-duplicate.
    (Captures hold one company's role posted per city with the same text: not a look-alike.)"""
    return (
        company_key(other.client_name) != company_key(item.client_name)
        and _shared(item.title, other.title) < 0.5
    )


def _repeats(other: Opportunity, job: Opportunity) -> bool:
    """Whether ``other`` is ``job`` again: the same text (70% of the words of their first 1,000
    characters) under a title sharing half its words. Captures list one job twice, or under two
    titles ("Staff Product Engineer", "Staff Software Engineer, Product"), with one text."""
    head = TEXT_CHARS
    return (
        _shared(other.title, job.title) >= 0.5
        and _shared((other.description or "")[:head], (job.description or "")[:head]) >= 0.7
    )


def _lender(
    item: Opportunity,
    unstored: list[tuple[str, Opportunity]],
    lent: set[int],
    n: int,
    stored: list[tuple[str, Opportunity]],
) -> Opportunity | None:
    """The first unstored job from the n-th on that is a different job from ``item``, was not lent
    before (two look-alikes lent one job would repeat each other) and repeats no stored job
    (``_repeats``); None when none is left."""
    for k in range(len(unstored)):
        index = (n + k) % len(unstored)
        other = unstored[index][1]
        if (
            index not in lent
            and _different_job(item, other)
            and not any(_repeats(other, job) for _, job in stored)
        ):
            lent.add(index)
            return other
    return None


def labelled_set(jobs: list[tuple[str, Opportunity]]) -> list[Labelled]:
    """The originals, then a cross-post and two look-alikes of each (module docstring).

    The jobs are split in two: the first of each pair is stored, the second is never stored and
    lends the look-alikes its title and body, so a look-alike repeats no stored job.
    """
    stored, unstored = jobs[0::2], jobs[1::2]
    originals = [Labelled(name, item, f"{name}:{item.external_id}") for name, item in stored]
    derived: list[Labelled] = []
    lent_for_title: set[int] = set()
    lent_for_company: set[int] = set()
    for n, (_, item) in enumerate(stored):
        key = originals[n].key
        url = f"https://jobs.otherboard.example/p/{n}"
        company = item.client_name or "Initech"
        kind = n % 4
        if kind == 0:
            tracked = (
                (item.url or url) + ("&" if "?" in (item.url or "") else "?") + "utm_source=feed&ref=board"
            )
            copy = _remotive(f"x{n}", item, url=tracked, title=item.title.upper())
        elif kind == 1:
            copy = _remotive(
                f"x{n}", item, url=url, title=item.title.lower() + "!", company_name=f"{company}, Inc."
            )
        elif kind == 2:
            copy = _remotive(f"x{n}", item, url=url, title=item.title.title(), company_name=AGENCY)
        else:
            copy = _remotive(
                f"x{n}",
                item,
                url=url,
                title=item.title.replace(", ", " - ").replace(" (", " \u2013 ") + " !",
                company_name=_misspelt(company),
                description=_reflowed(item.description, f"Apply through {AGENCY}'s portal."),
            )
        derived.append(Labelled("crossposts", copy, f"copy:{key}", key))
        other = _lender(item, unstored, lent_for_title, n, stored)
        if other is not None:
            same_title = _remotive(
                f"t{n}",
                other,
                url=f"https://jobs.otherboard.example/t/{n}",
                title=item.title,
                company_name=f"Globex {n}",
            )
            derived.append(Labelled("lookalikes", same_title, f"title:{key}"))
        other = _lender(item, unstored, lent_for_company, n, stored)
        if other is not None:
            intro = (item.description or "")[:INTRO_CHARS].rsplit(". ", 1)[0]
            same_company = _remotive(
                f"c{n}",
                other,
                url=f"https://jobs.otherboard.example/c/{n}",
                company_name=item.client_name,
                description=_reflowed(f"{intro}\n{other.description or ''}"),
            )
            derived.append(Labelled("lookalikes", same_company, f"company:{key}"))
    return originals + derived


def _computed(columns: dict[str, dict[str, Any]], item: Opportunity) -> dict[str, Any]:
    return columns[item.external_id]


def store(
    engine: Engine, labelled: list[Labelled], now: datetime
) -> tuple[dict[str, int], dict[int, int], float, list[float]]:
    """Store the set board by board, 50 items a transaction: (key -> id, id -> duplicate_of,
    CPU seconds of scoring and dedup, link statement wall seconds per collection)."""
    ids: dict[str, int] = {}
    links: dict[int, int] = {}
    cpu = 0.0
    link_wall: list[float] = []
    boards = list(dict.fromkeys(entry.board for entry in labelled))
    with engine.begin() as conn:
        board_ids = {
            board: conn.execute(
                insert(platforms)
                .values(user_id=1, name=board, source="remotive", config={}, created_at=now, updated_at=now)
                .returning(platforms.c.id)
            ).scalar_one()
            for board in boards
        }
    annotate = storage_annotations(PROFILE, now)
    for board in boards:
        entries = [entry for entry in labelled if entry.board == board]
        # External ids unique on the board (two captures may reuse one).
        entries = [
            replace(e, item=replace(e.item, external_id=f"{i}:{e.item.external_id}"))
            for i, e in enumerate(entries)
        ]
        for start in range(0, len(entries), COLLECTION):
            chunk = entries[start : start + COLLECTION]
            # Scoring and keys, then the link statement: this process's CPU for both is the cost.
            started = time.process_time()
            columns = {e.item.external_id: annotate(e.item) for e in chunk}
            cpu += time.process_time() - started
            prepared = prepare_items([e.item for e in chunk], annotate=partial(_computed, columns))
            with engine.begin() as conn:
                counts = upsert_opportunities(
                    conn, platform_id=board_ids[board], user_id=1, items=prepared, now=now
                )
                started, wall = time.process_time(), time.perf_counter()
                found = link_duplicates(conn, counts.inserted_ids)
                cpu += time.process_time() - started
                link_wall.append(time.perf_counter() - wall)
            by_external = {row.item.external_id: row.id for row in counts.written}
            for e in chunk:
                ids[e.key] = by_external[e.item.external_id]
            links.update((link.id, link.duplicate_of) for link in found)
    return ids, links, cpu, link_wall


def main() -> int:
    jobs = real_jobs()
    labelled = labelled_set(jobs)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    with scratch_database("charlee_bench_dedup", pool_size=2) as engine:
        ids, links, cpu, link_wall = store(engine, labelled, now - timedelta(hours=1))
    positives = [e for e in labelled if e.original]
    stored = sum(1 for e in labelled if e.board not in ("crossposts", "lookalikes"))
    right = sum(1 for e in positives if links.get(ids[e.key]) == ids[e.original])
    made = len(links)
    wrong = [e for e in labelled if ids[e.key] in links and links[ids[e.key]] != ids.get(e.original or "")]
    missed = [e for e in positives if links.get(ids[e.key]) != ids[e.original]]
    print(
        f"labelled set: {len(jobs)} real jobs, {stored} stored as they came, "
        f"{len(positives)} cross-posts, {len(labelled) - len(positives) - stored} look-alikes; "
        f"{made} links made",
        file=sys.stderr,
    )
    by_id = {ids[e.key]: e for e in labelled}
    for e in wrong:
        target = by_id[links[ids[e.key]]]
        print(
            f"  wrong link: {e.key} {e.item.title!r} ({e.item.client_name})"
            f" -> {target.key} {target.item.title!r} ({target.item.client_name})",
            file=sys.stderr,
        )
    for e in missed:
        print(f"  missed: {e.key} {e.item.title!r} ({e.item.client_name})", file=sys.stderr)
    report("dedup_precision", right / made if made else 1.0, "ratio")
    report("dedup_recall", right / len(positives), "ratio")
    report("score_and_dedup_us_per_item", cpu / len(labelled) * 1e6, "us")
    report("dedup_link_ms_per_50", statistics.median(link_wall) * 1000, "ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
