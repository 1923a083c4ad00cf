"""Hacker News monthly threads, through the HN Algolia API (https://hn.algolia.com/api/v1).

Verified against real captures (``fixtures/real/hn_algolia``). ``thread`` is ``freelancer`` or
``hiring``; ``fetch`` finds the newest such story by ``whoishiring`` (``search_by_date``; none found:
``PermanentSourceError``), then reads its comments (``search?tags=comment,story_<id>``, conditionally).
``parse`` reads that comments response: only top-level comments are posts, a post's title is its
first line and its budget the first currency-marked amount there, per the period beside it;
"SEEKING WORK" posts are skipped unless ``skip_seeking_work`` is false.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Literal

from pydantic import Field

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.fetching.client import Fetcher
from charlee_collector.normalize.budgets import find_budget
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.text import first_line
from charlee_collector.sources.base import (
    BaseSourceConfig,
    FetchResult,
    Source,
    Turn,
    WebUrl,
    expect,
    listed,
    load_json,
    read_any,
    records,
    text,
)

DEFAULT_BASE_URL = "https://hn.algolia.com/api/v1"
ITEM_URL = "https://news.ycombinator.com/item?id={}"
THREADS = {
    "freelancer": ("freelancer", "Ask HN: Freelancer? Seeking freelancer?"),
    "hiring": ("hiring", "Ask HN: Who is hiring?"),
}


class HnFreelancerConfig(BaseSourceConfig):
    """``thread``: ``freelancer`` or ``hiring``; ``hits_per_page``: comments read (1-1000)."""

    base_url: WebUrl = DEFAULT_BASE_URL
    thread: Literal["freelancer", "hiring"] = "freelancer"
    hits_per_page: int = Field(default=1000, ge=1, le=1000)
    skip_seeking_work: bool = True


def newest_story_id(body: bytes, thread: str) -> int:
    """The id of the newest story in a story search whose title starts with the thread's title."""
    payload = expect(load_json(body, "hn_freelancer"), dict, "hn_freelancer", 'a JSON object with "hits"')
    prefix = THREADS[thread][1].casefold()
    stories = [
        hit
        for hit in records(payload.get("hits"))
        if str(hit.get("title") or "").casefold().startswith(prefix)
        and str(hit.get("objectID", "")).isdigit()
    ]
    if not stories:
        raise PermanentSourceError(
            f"hn_freelancer found no story titled {THREADS[thread][1]!r} by whoishiring; "
            "check the platform's thread option (freelancer or hiring)"
        )
    newest = max(stories, key=lambda hit: int(hit.get("created_at_i") or 0))
    return int(newest["objectID"])


class HnFreelancerSource(Source):
    key = "hn_freelancer"
    reads = 'a JSON object with a "hits" list of comments with "objectID", "story_id" and "comment_text"'
    min_interval_minutes = 60
    interval_terms = "The HN Algolia API allows 10,000 requests an hour per IP; the threads are monthly, so hourly is plenty."
    example = {"thread": "freelancer", "hits_per_page": 1000, "skip_seeking_work": True}
    Config = HnFreelancerConfig

    def parse(self, body: bytes, config: HnFreelancerConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        found = listed(payload, "hits", self.key, self.reads)
        items: list[Opportunity] = []
        # Top-level comments only: the replies under a post are not posts.
        hits = [
            hit
            for hit in found
            if hit.get("story_id") is not None and str(hit.get("parent_id")) == str(hit.get("story_id"))
        ]
        skipped = sum(1 for hit in found if hit.get("story_id") is not None) - len(hits)
        bodies = html_texts([text(hit.get("comment_text")) for hit in hits])
        for hit, body_text in zip(hits, bodies, strict=True):
            heading = first_line(body_text)
            if heading is None:  # deleted or empty comment
                skipped += 1
                continue
            if config.skip_seeking_work and heading.upper().startswith("SEEKING WORK"):
                skipped += 1
                continue
            budget = find_budget(heading)
            object_id = text(hit.get("objectID"))
            opportunity = build_opportunity(
                external_id=object_id,
                title=heading,
                description=body_text,
                url=ITEM_URL.format(object_id) if object_id and object_id.isdigit() else None,
                client_name=text(hit.get("author")),
                client_budget=budget.amount if budget else None,
                client_currency=budget.currency if budget else None,
                contract_type=budget.contract_type if budget else None,
                budget_period=budget.period if budget else None,
                posted_at=hit.get("created_at_i") or text(hit.get("created_at")),
                raw={key: value for key, value in hit.items() if key != "_highlightResult"},
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, found, items, skipped=skipped)

    def fetch(
        self,
        config: HnFreelancerConfig,
        fetcher: Fetcher,
        *,
        etag: str | None,
        last_modified: str | None,
        secrets: Mapping[str, str],
        turn: Turn = nullcontext,
    ) -> FetchResult:
        base = config.base_url.rstrip("/")
        headers = self.request_headers(config, secrets)
        query, _title = THREADS[config.thread]
        stories = fetcher.get(
            f"{base}/search_by_date",
            params={"tags": "story,author_whoishiring", "query": query, "hitsPerPage": 30},
            headers=headers,
        )
        story_id = self._story_id(stories.body, config.thread)
        comments = fetcher.get(
            f"{base}/search",
            params={"tags": f"comment,story_{story_id}", "hitsPerPage": config.hits_per_page},
            headers=headers,
            etag=etag,
            last_modified=last_modified,
        )
        if comments.not_modified:
            return FetchResult.from_response(comments, [])
        return FetchResult.from_response(comments, self.parse_payload(comments.body, config, turn))

    def _story_id(self, body: bytes, thread: str) -> int:
        try:
            return newest_story_id(body, thread)
        except PermanentSourceError:
            raise
        except Exception as exc:
            raise PermanentSourceError(f"{self.key} story search could not be parsed: {exc}") from exc
