"""The OpportunitiesCollected event: what the rest of the app learns after a collection.

``build_event`` makes one event per collection that inserted or updated opportunities (none
otherwise), in the collection's transaction, from the rows its upsert wrote
(``store.opportunities.WrittenRow``: nothing is read back); ``publishing`` stores it in the outbox as
the exact JSON text PutEvents sends. Its ``detail``, the stable ``event_id``, the ``DETAIL_LIMIT_BYTES``
bound past which it carries ids only, and the ``summary`` are in docs/events.md. Item values are what
``normalize.build_opportunity`` made and the rows hold, so no title can break the JSON. Each item
carries its ``score`` (NULL without a profile) and, when it repeats a job stored before,
``duplicate_of`` (that row's id and platform), so a subscriber need not query back; the summary
names the jobs not seen before and counts the others.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from charlee_collector.app.webhook_text import bounded, slack_escaped
from charlee_collector.store.duplicates import DuplicateLink
from charlee_collector.store.opportunities import WrittenRow

SOURCE = "charlee.collector"
DETAIL_TYPE = "OpportunitiesCollected"
DETAIL_LIMIT_BYTES = 60 * 1024
SUMMARY_ITEMS = 3  # items a summary names; the count says how many more there are
SUMMARY_TITLE_CHARS = 120
_EVENT_NAMESPACE = uuid.UUID("5b0f3f1e-6a43-4d59-9a59-0c1c2b7f5a10")  # fixed: ids stay stable


@dataclass(frozen=True)
class CollectedEvent:
    """One OpportunitiesCollected event, ready for the outbox."""

    event_id: str
    user_id: int
    platform_id: int
    run_id: int
    detail: str  # the JSON text, at most DETAIL_LIMIT_BYTES of UTF-8


@dataclass(frozen=True)
class RunFacts:
    """What the event says about the collection itself."""

    run_id: int
    user_id: int
    platform_id: int
    platform_name: str
    platform_source: str
    trigger: str
    collected_at: datetime
    fetched: int


def event_id_for(run_id: int, platform_id: int, collected_at: datetime) -> str:
    """The stable id of a run's event: the same run always gives the same id, and a database
    started afresh (run ids counting from 1 again) does not repeat an old one."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{run_id}:{platform_id}:{collected_at.isoformat()}"))


def build_event(
    facts: RunFacts,
    written: Sequence[WrittenRow],
    *,
    duplicates: Mapping[int, DuplicateLink] | None = None,
    limit_bytes: int = DETAIL_LIMIT_BYTES,
) -> CollectedEvent | None:
    """The event of a collection, from the rows its upsert wrote (``duplicates``: the new ones that
    repeat a job stored before, by row id); None when it changed nothing."""
    duplicates = duplicates or {}
    if not written:
        return None
    from charlee_collector.normalize.json_values import json_safe

    # New ones first, each in id order.
    changes = sorted(written, key=lambda row: (not row.new, row.id))
    inserted_ids = [row.id for row in changes if row.new]
    updated_ids = [row.id for row in changes if not row.new]
    event_id = event_id_for(facts.run_id, facts.platform_id, facts.collected_at)
    head: dict[str, Any] = {
        "event_id": event_id,
        "user_id": facts.user_id,
        "platform_id": facts.platform_id,
        "platform": {"name": facts.platform_name, "source": facts.platform_source},
        "run_id": facts.run_id,
        "trigger": facts.trigger,
        "collected_at": facts.collected_at.isoformat(),
        "counts": {"fetched": facts.fetched, "inserted": len(inserted_ids), "updated": len(updated_ids)},
    }
    head = json_safe(head)  # the platform's name was typed by a person
    # More items than the smallest item's encoding fits in the bound: the ids only, unbuilt.
    fits = len(changes) * _SMALLEST_ITEM_BYTES <= limit_bytes
    # The summary names jobs not seen before first: a repeat is counted, "also on" its first board.
    named = sorted(changes, key=lambda row: row.id in duplicates)[:SUMMARY_ITEMS]
    seen = sum(1 for row in changes if row.id in duplicates)
    items = [_item(row, duplicates.get(row.id)) for row in (changes if fits else named)]
    summary = compose_summary(
        head["platform"]["name"],
        items if not fits else [_item(row, duplicates.get(row.id)) for row in named],
        len(inserted_ids),
        len(updated_ids),
        already_seen=seen,
    )
    if fits:
        detail = _encode({**head, "truncated": False, "opportunities": items, **summaries(summary)})
        if len(detail.encode("utf-8")) <= limit_bytes:
            return CollectedEvent(event_id, facts.user_id, facts.platform_id, facts.run_id, detail)
    detail = _ids_only(head, summary, inserted_ids, updated_ids, limit_bytes)
    return CollectedEvent(event_id, facts.user_id, facts.platform_id, facts.run_id, detail)


def summaries(summary: str) -> dict[str, str]:
    """The detail's texts for the webhook: ``summary`` and its Slack-escaped twin (webhook_text)."""
    return {"summary": summary, "summary_slack": slack_escaped(summary)}


def compose_summary(
    platform_name: str,
    items: Sequence[dict[str, Any]],
    inserted: int,
    updated: int,
    *,
    already_seen: int = 0,
) -> str:
    """ "3 new (1 already seen elsewhere), 1 updated on <platform>: <title> <url>, ..." naming the
    first SUMMARY_ITEMS items, at most ``webhook_text.SUMMARY_MAX_CHARS`` long."""
    seen = f" ({already_seen} already seen elsewhere)" if already_seen else ""
    counts = ", ".join(
        part
        for part in (f"{inserted} new{seen}" if inserted else "", f"{updated} updated" if updated else "")
        if part
    )
    named = []
    for item in items[:SUMMARY_ITEMS]:
        title = item["title"] or item["external_id"]
        if len(title) > SUMMARY_TITLE_CHARS:
            title = title[: SUMMARY_TITLE_CHARS - 1] + "…"
        named.append(f"{title} {item['url']}" if item["url"] else title)
    more = inserted + updated - len(named)
    if not named:
        return bounded(f"{counts} on {platform_name}")
    text = f"{counts} on {platform_name}: " + ", ".join(named)
    return bounded(text + (f" and {more} more" if more > 0 else ""))


def _item(row: WrittenRow, link: DuplicateLink | None) -> dict[str, Any]:
    """One written row as an event item (``link``: the job it repeats)."""
    item = row.item
    return {
        "id": row.id,
        "external_id": item.external_id,
        "title": item.title,
        "url": item.url,
        "budget": _budget(item.client_budget, item.client_currency, item.budget_period),
        "posted_at": item.posted_at.isoformat() if item.posted_at else None,
        "change": "new" if row.new else "updated",
        "score": row.score,
        "duplicate_of": (
            {"id": link.duplicate_of, "platform": link.platform_name} if link is not None else None
        ),
    }


def _budget(amount: Decimal | None, currency: str | None, period: str | None) -> dict[str, Any] | None:
    if amount is None:
        return None
    # A JSON number: Numeric(14, 2) has at most 14 digits, which a double prints back exactly.
    return {"amount": float(amount), "currency": currency, "period": period}


def _ids_only(
    head: dict[str, Any],
    summary: str,
    inserted_ids: Sequence[int],
    updated_ids: Sequence[int],
    limit_bytes: int,
) -> str:
    """The truncated form: ids only, as many as fit (new ones first), and whether all did."""
    # Measured with "false", the longer of the two values.
    base = {**head, "truncated": True, "ids_complete": False, **summaries(summary)}
    room = limit_bytes - len(_encode({**base, "opportunity_ids": {"new": [], "updated": []}}).encode("utf-8"))
    kept: dict[str, list[int]] = {"new": [], "updated": []}
    base["ids_complete"] = True
    for key, ids in (("new", sorted(inserted_ids)), ("updated", sorted(updated_ids))):
        for row_id in ids:
            cost = len(str(row_id)) + 1  # the digits and a comma (ids are ASCII)
            if cost > room:
                base["ids_complete"] = False
                break
            room -= cost
            kept[key].append(row_id)
        if not base["ids_complete"]:
            break
    return _encode({**base, "opportunity_ids": kept})


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# The fewest bytes an item takes in the list (a one-character id and title, a comma), so no
# larger count of items can fit in the bound.
_SMALLEST_ITEM_BYTES = (
    len(
        _encode(
            {"id": 1, "external_id": "x", "title": "x", "url": None, "budget": None}
            | {"posted_at": None, "change": "new", "score": None, "duplicate_of": None}
        )
    )
    + 1
)
