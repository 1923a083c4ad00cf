"""The OpportunitiesCollected detail: the size bound (encoded bytes), the truncated form, stable
ids, and hostile titles that never break publishing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from charlee_collector.app import publishing as outbox
from charlee_collector.app.collect import collect_platform
from charlee_collector.app.collected_event import (
    DETAIL_LIMIT_BYTES,
    RunFacts,
    build_event,
    compose_summary,
    event_id_for,
)
from charlee_collector.app.messages import CollectMessage
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.core.settings import Settings
from charlee_collector.store.opportunities import UpsertCounts, upsert_opportunities
from charlee_collector.store.tables import event_outbox, opportunities
from tests.integration.test_observability import json_api
from tests.support.aws import Bus
from tests.support.factories import add_platform

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _facts(platform_id: int, *, name: str = "We Work Remotely", run_id: int = 7) -> RunFacts:
    return RunFacts(run_id, 1, platform_id, name, "rss", "schedule", NOW, fetched=0)


def _write(engine: Engine, count: int, *, title_chars: int = 40) -> tuple[int, UpsertCounts]:
    """A platform with ``count`` new opportunities (long URLs, so the size bound matters)."""
    items = [
        Opportunity(
            external_id=f"job-{n:05d}",
            title=f"Job {n} " + "x" * title_chars,
            url=f"https://example.org/jobs/{n}?" + "q" * 200,
        )
        for n in range(count)
    ]
    with engine.begin() as conn:
        platform_id = add_platform(conn)
        counts = upsert_opportunities(conn, platform_id=platform_id, user_id=1, items=items, now=NOW)
    return platform_id, counts


def _detail(platform_id: int, counts: UpsertCounts, **options: Any) -> tuple[str, dict[str, Any]]:
    event = build_event(_facts(platform_id), counts.written, **options)
    assert event is not None
    return event.detail, json.loads(event.detail)


def test_a_small_collection_carries_every_item(pg_engine: Engine) -> None:
    platform_id, counts = _write(pg_engine, 3)
    ids = list(counts.inserted_ids)
    text, detail = _detail(platform_id, counts)
    assert detail["truncated"] is False and "opportunity_ids" not in detail
    assert [o["id"] for o in detail["opportunities"]] == ids
    assert detail["counts"] == {"fetched": 0, "inserted": 3, "updated": 0}
    assert detail["summary"].startswith("3 new on We Work Remotely: Job 0 ")
    assert len(text.encode("utf-8")) <= DETAIL_LIMIT_BYTES


def test_past_the_size_bound_the_event_carries_the_ids_only_with_the_full_count(pg_engine: Engine) -> None:
    # ~300 bytes an item: 400 items pass 60 KiB, though no item count bound would say so.
    platform_id, counts = _write(pg_engine, 400)
    ids = list(counts.inserted_ids)
    text, detail = _detail(platform_id, counts)
    assert len(text.encode("utf-8")) <= DETAIL_LIMIT_BYTES
    assert detail["truncated"] is True and "opportunities" not in detail
    assert detail["ids_complete"] is True
    assert detail["opportunity_ids"] == {"new": ids, "updated": []}
    assert detail["counts"]["inserted"] == 400
    assert detail["summary"].endswith(" and 397 more")


def test_when_even_the_ids_do_not_fit_they_are_cut_and_say_so(pg_engine: Engine) -> None:
    platform_id, counts = _write(pg_engine, 300, title_chars=0)
    ids = list(counts.inserted_ids)
    limit = 2_000
    text, detail = _detail(platform_id, counts, limit_bytes=limit)
    assert len(text.encode("utf-8")) <= limit
    assert detail["truncated"] is True and detail["ids_complete"] is False
    kept = detail["opportunity_ids"]["new"]
    assert 0 < len(kept) < 300 and kept == ids[: len(kept)]
    assert detail["counts"]["inserted"] == 300


def test_nothing_changed_means_no_event() -> None:
    assert build_event(_facts(1), []) is None


def test_the_items_are_what_the_rows_hold_new_ones_first(pg_engine: Engine) -> None:
    """The event is built from the upsert's items, not read back: they must be the stored rows."""
    platform_id, first = _write(pg_engine, 4)
    changed = [
        Opportunity(
            external_id="job-00002",
            title="Job 2, now remote",
            url="https://example.org/jobs/2",
            client_budget=Decimal("75.50"),
            client_currency="EUR",
            contract_type="hourly",
            budget_period="hour",
            posted_at=NOW - timedelta(hours=3),
        ),
        Opportunity(external_id="job-00009", title="Job 9", url=None),
    ]
    with pg_engine.begin() as conn:
        counts = upsert_opportunities(
            conn, platform_id=platform_id, user_id=1, items=changed, now=NOW + timedelta(minutes=15)
        )
        o = opportunities.c
        rows = {
            row.id: row
            for row in conn.execute(
                select(o.id, o.external_id, o.title, o.url, o.client_budget, o.client_currency,
                       o.budget_period, o.posted_at).where(o.platform_id == platform_id)
            )
        }  # fmt: skip
    _text, detail = _detail(platform_id, counts)
    assert [(item["external_id"], item["change"]) for item in detail["opportunities"]] == [
        ("job-00009", "new"),
        ("job-00002", "updated"),
    ]
    for item in detail["opportunities"]:
        row = rows[item["id"]]
        budget = None
        if row.client_budget is not None:
            budget = {
                "amount": float(row.client_budget),
                "currency": row.client_currency,
                "period": row.budget_period,
            }
        assert (item["external_id"], item["title"], item["url"], item["budget"], item["posted_at"]) == (
            row.external_id,
            row.title,
            row.url,
            budget,
            row.posted_at.astimezone(UTC).isoformat() if row.posted_at else None,
        )
    assert detail["counts"] == {"fetched": 0, "inserted": 1, "updated": 1}
    assert first.inserted == 4


def test_the_event_id_is_stable_for_a_run_and_differs_between_runs() -> None:
    assert event_id_for(7, 1, NOW) == event_id_for(7, 1, NOW)
    assert event_id_for(7, 1, NOW) != event_id_for(8, 1, NOW)
    # A database started afresh counts run ids from 1 again: the time keeps the ids apart.
    assert event_id_for(7, 1, NOW) != event_id_for(7, 1, NOW + timedelta(days=30))


def test_a_hostile_platform_name_is_cleaned_into_valid_json(pg_engine: Engine) -> None:
    platform_id, counts = _write(pg_engine, 1)
    event = build_event(_facts(platform_id, name="Bad\x00 \ud800name"), counts.written)
    assert event is not None
    event.detail.encode("utf-8")  # no lone surrogate left
    assert json.loads(event.detail)["platform"]["name"] == "Bad \ufffdname"


def test_hostile_titles_never_break_publishing(
    pg_engine: Engine,
    http_server: Any,
    http_client: httpx.Client,
    allow_private_networks: Settings,
    event_bus: Bus,
) -> None:
    titles = {"nul": "Rust\x00 developer", "surrogate": "Go \ud83d developer", "huge": "A" * 1_000_000}
    body = json.dumps(
        {
            "jobs": [
                {"id": key, "title": title, "url": f"https://example.org/{key}"}
                for key, title in titles.items()
            ]
        }
    )
    http_server.route("/jobs.json", body=body)
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api(http_server.url("/jobs.json")))
    message = CollectMessage(platform_id=platform_id, trigger="on_demand", force=True)
    bus = outbox.EventBus(event_bus.client, event_bus.name)

    result = collect_platform(pg_engine, http_client, message, allow_private_networks, event_bus=bus)

    assert (result.outcome, result.inserted) == ("success", 3)
    (event,) = event_bus.delivered()
    by_id = {o["external_id"]: o["title"] for o in event["detail"]["opportunities"]}
    assert by_id["nul"] == "Rust developer"
    assert by_id["surrogate"] == "Go \ufffd developer"
    assert by_id["huge"].startswith("AAAA") and len(by_id["huge"]) <= 500
    with pg_engine.connect() as conn:
        assert conn.execute(select(event_outbox.c.published_at)).scalar_one() is not None


@pytest.mark.parametrize("count", [1, 150, 2_000])
def test_every_stored_event_fits_the_bound(pg_engine: Engine, count: int) -> None:
    platform_id, counts = _write(pg_engine, count, title_chars=400)
    text, _detail_value = _detail(platform_id, counts)
    assert len(text.encode("utf-8")) <= DETAIL_LIMIT_BYTES


def test_the_summary_names_three_items_then_counts_the_rest() -> None:
    items = [
        {"title": f"Job {n}", "external_id": str(n), "url": f"https://x/{n}" if n else None} for n in range(5)
    ]
    assert (
        compose_summary("Feed", items, 4, 1)
        == "4 new, 1 updated on Feed: Job 0, Job 1 https://x/1, Job 2 https://x/2 and 2 more"
    )
    assert compose_summary("Feed", [], 2, 0) == "2 new on Feed"
    long = [{"title": "T" * 500, "external_id": "1", "url": None}]
    assert compose_summary("Feed", long, 1, 0) == "1 new on Feed: " + "T" * 119 + "…"
