"""Recruitee careers sites ({board}.recruitee.com/api/offers/): ``{"offers": [...]}``.

Verified against a real capture (``fixtures/real/recruitee``). ``board`` is the company's
Recruitee subdomain. An offer's text is its ``description`` then its ``requirements``. ``salary``
(``min``, ``max`` as numbers or numeric strings, ``currency``, ``period`` such as "month" or
"year") is the budget with its period. Where: the ``remote``, ``hybrid`` and ``on_site`` flags,
and each of ``locations`` (its city or name, and country), else the offer's ``location`` line.
The date is ``published_at`` ("2026-09-18 13:27:28 UTC"), else ``created_at``. The link is
``careers_url`` (a company's own careers domain), else ``{board}.recruitee.com/o/{slug}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import budget_fields, named_period, salary_range
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place, workplace_of_flags
from charlee_collector.sources.base import expect, listed, load_json, read_any, records, strings, text
from charlee_collector.sources.boards import BoardConfig, BoardSource


def _located(where: Mapping[str, Any]) -> str | None:
    named = [text(where.get("city")) or text(where.get("name")), text(where.get("country"))]
    return ", ".join(name for name in named if name) or None


def _offer_page(board: str | None, slug: str | None) -> str | None:
    """The offer's page on the company's Recruitee site, for offers that do not give their own."""
    return f"https://{board}.recruitee.com/o/{quote(slug, safe='')}" if board and slug else None


class RecruiteeSource(BoardSource):
    key = "recruitee"
    board_url = "https://{board}.recruitee.com/api/offers/"
    reads = 'a JSON object with an "offers" list of objects with "id" and "title"'
    min_interval_minutes = 60
    interval_terms = (
        "Recruitee's public Careers Site API states no frequency; a site changes a few times a day, "
        "so hourly."
    )
    example = {"board": "channable", "min_budget": "4000/month"}
    Config = BoardConfig

    def parse(self, body: bytes, config: BoardConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        offers = listed(payload, "offers", self.key, self.reads)
        items: list[Opportunity] = []
        pages = [
            (text(offer.get("description")) or "") + (text(offer.get("requirements")) or "")
            for offer in offers
        ]
        descriptions = html_texts([page or None for page in pages])
        for offer, description in zip(offers, descriptions, strict=True):
            salary = offer.get("salary")
            salary = salary if isinstance(salary, Mapping) else {}
            budget = salary_range(
                salary.get("min"),
                salary.get("max"),
                salary.get("currency"),
                named_period(salary.get("period")),
            )
            where = workplace_of_flags(
                remote=offer.get("remote"), hybrid=offer.get("hybrid"), onsite=offer.get("on_site")
            )
            locations = [_located(entry) for entry in records(offer.get("locations"))]
            opportunity = build_opportunity(
                external_id=text(offer.get("id")) or text(offer.get("slug")),
                title=text(offer.get("title")),
                description=description,
                url=text(offer.get("careers_url")) or _offer_page(config.board, text(offer.get("slug"))),
                client_name=text(offer.get("company_name")),
                client_country=place(
                    where, [name for name in locations if name] or [text(offer.get("location"))]
                ),
                required_skills=strings(offer.get("tags")),
                category=text(offer.get("department")),
                **budget_fields(budget),
                posted_at=text(offer.get("published_at")) or text(offer.get("created_at")),
                raw=offer,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, offers, items)
