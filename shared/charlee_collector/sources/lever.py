"""Lever postings (api.lever.co/v0/postings/{board}?mode=json, or the EU host): a JSON array of postings.

Verified against a real capture (``fixtures/real/lever``). ``board`` is the Lever site name (the
name after ``jobs.lever.co/``); ``region: "eu"`` reads ``api.eu.lever.co``, where accounts hosted
in Europe live. Postings name no company: the client is the ``board``. A posting's text is its ``description``, each of its ``lists`` (a heading and its
``<li>`` items) and ``additional``, in the order its page shows them. ``salaryRange`` (``min``,
``max``, ``currency``, ``interval`` such as "per-year-salary" or "per-hour-wage") is the budget
with its period; ``workplaceType`` (onsite, remote, hybrid; "unspecified" says nothing) and
``categories.allLocations`` (else ``location``) give where; ``createdAt`` (ms) is the date.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Literal

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import budget_fields, named_period, salary_range
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place, workplace
from charlee_collector.sources.base import expect, load_json, read_any, records, strings, text
from charlee_collector.sources.boards import BoardConfig, BoardSource

HOSTS = {"global": "https://api.lever.co", "eu": "https://api.eu.lever.co"}


class LeverConfig(BoardConfig):
    """``region``: ``global`` (api.lever.co) or ``eu`` (api.eu.lever.co), where the account lives."""

    region: Literal["global", "eu"] = "global"


def _page_html(posting: Mapping[str, Any]) -> str | None:
    """The posting's page as one HTML fragment: description, its lists, then the closing text."""
    parts = [text(posting.get("description")) or ""]
    for entry in records(posting.get("lists")):
        heading, content = text(entry.get("text")), text(entry.get("content"))
        parts.append((f"<h3>{html.escape(heading)}</h3>" if heading else "") + f"<ul>{content or ''}</ul>")
    parts.append(text(posting.get("additional")) or "")
    joined = "".join(parts)
    return joined or text(posting.get("descriptionPlain"))


class LeverSource(BoardSource):
    key = "lever"
    board_url = "/v0/postings/{board}"
    reads = 'a JSON array of postings with "id" and "text"'
    min_interval_minutes = 60
    interval_terms = (
        "Lever's public Postings API states no frequency; a site changes a few times a day, so hourly."
    )
    example = {"board": "meesho", "region": "global", "keywords": ["engineer"]}
    Config = LeverConfig

    def request_url(self, config: LeverConfig) -> str:
        if config.url:
            return str(config.url)
        return HOSTS[config.region] + self.board_url.format(board=config.board)

    def request_params(self, config: LeverConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"mode": "json"}

    def parse(self, body: bytes, config: LeverConfig) -> list[Opportunity]:
        postings = records(expect(load_json(body, self.key), list, self.key, self.reads))
        items: list[Opportunity] = []
        descriptions = html_texts([_page_html(posting) for posting in postings])
        for posting, description in zip(postings, descriptions, strict=True):
            categories = posting.get("categories")
            categories = categories if isinstance(categories, Mapping) else {}
            salary = posting.get("salaryRange")
            salary = salary if isinstance(salary, Mapping) else {}
            budget = salary_range(
                salary.get("min"),
                salary.get("max"),
                salary.get("currency"),
                named_period(salary.get("interval")),
            )
            locations = strings(categories.get("allLocations")) or strings(categories.get("location"))
            opportunity = build_opportunity(
                external_id=text(posting.get("id")),
                title=text(posting.get("text")),
                description=description,
                url=text(posting.get("hostedUrl")) or text(posting.get("applyUrl")),
                # Postings carry no company name; the site name is the company's.
                client_name=config.board,
                client_country=place(workplace(posting.get("workplaceType")), locations),
                category=text(categories.get("team")) or text(categories.get("department")),
                **budget_fields(budget),
                posted_at=posting.get("createdAt"),
                raw=posting,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, postings, items)
