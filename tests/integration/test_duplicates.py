"""store/duplicates.py (the layers of migration 0010's link function), scoring in the collection,
the event's score and duplicate link, and rescoring in bounded batches, on PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, select, update

from charlee_collector.app.collect import collect_platform
from charlee_collector.app.messages import CollectMessage
from charlee_collector.app.scoring import rescore_pending, storage_annotations
from charlee_collector.core.clock import utcnow
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.core.settings import Settings
from charlee_collector.store.duplicates import link_duplicates
from charlee_collector.store.opportunities import prepare_items, upsert_opportunities
from charlee_collector.store.profiles import save_profile_document
from charlee_collector.store.tables import event_outbox, opportunities, user_profiles
from tests.support.factories import add_platform

FIXTURES = Path(__file__).parents[1] / "fixtures" / "scoring"
TEXT = (
    "We run the payments platform of a chain of bakeries: settlement, refunds and the ledger, in "
    "Python on PostgreSQL. You will own the reconciliation jobs and their alerts, pair with the "
    "finance team every week and review the design of new services."
)
OTHER_TEXT = (
    "Our design studio needs a brand designer for packaging and a new visual identity: logo, "
    "typography, colour system and a guide the printers can follow, delivered in Figma."
)


def _job(external_id: str, title: str, **fields: Any) -> Opportunity:
    return Opportunity(
        external_id=external_id, title=title, description=fields.pop("description", TEXT), **fields
    )


def _store(
    conn: Connection, platform_id: int, *items: Opportunity, user_id: int = 1
) -> dict[str, int | None]:
    """Store ``items`` as one collection does; each external id -> the row it duplicates (or None)."""
    prepared = prepare_items(items, annotate=storage_annotations(None, utcnow()))
    counts = upsert_opportunities(
        conn, platform_id=platform_id, user_id=user_id, items=prepared, now=utcnow()
    )
    links = {link.id: link.duplicate_of for link in link_duplicates(conn, counts.inserted_ids)}
    return {row.item.external_id: links.get(row.id) for row in counts.written}


def _id(conn: Connection, external_id: str) -> int:
    return conn.execute(
        select(opportunities.c.id).where(opportunities.c.external_id == external_id)
    ).scalar_one()


def test_one_job_is_linked_once_and_the_traps_are_not(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        board_a = add_platform(conn, name="A", source="remotive")
        board_b = add_platform(conn, name="B", source="remotive")
        elsewhere = add_platform(conn, name="C", source="himalayas")
        other_user = add_platform(conn, name="D", source="remotive", user_id=2)
        careers = "https://acme.example/careers"
        _store(
            conn,
            board_a,
            _job(
                "a1", "Payments Engineer", client_name="Bakeries Ltd", url="https://bakeries.example/jobs/1"
            ),
            _job("a2", "Brand Designer", client_name="Acme", url=careers, description=OTHER_TEXT),
        )
        linked = _store(
            conn,
            board_b,
            # The source's own id: the same remotive job on a second remotive platform.
            _job("a1", "Payments engineer", client_name="Bakeries"),
            # One job behind another URL, reposted by an agency under its own name.
            _job("b2", "PAYMENTS ENGINEER!", client_name="HireFast Agency", url="https://b.example/p/9"),
            # One URL for several jobs (a careers page): the URL alone links nothing.
            _job("b3", "Warehouse Supervisor", client_name="Acme", url=careers + "/?utm_source=b"),
            # The same company's other role: its boilerplate is alike, its title is not.
            _job(
                "b4", "Payments Team Lead", client_name="Bakeries Ltd", description=TEXT + " Lead the team."
            ),
            # Three copies in one collection: each points at the first stored, never at another copy.
            _job("b5", "Brand designer", client_name="ACME Inc.", description=OTHER_TEXT),
            _job("b6", "brand designer", client_name="Acme", description=OTHER_TEXT),
        )
        # The same title at another company with another text is another job.
        other = _store(
            conn, elsewhere, _job("c1", "Payments Engineer", client_name="Globex", description=OTHER_TEXT)
        )
        # Another user's copy is theirs: nothing links across users.
        theirs = _store(
            conn, other_user, _job("d1", "Payments Engineer", client_name="Bakeries Ltd"), user_id=2
        )
        first = {
            external_id: conn.execute(
                select(opportunities.c.id).where(
                    opportunities.c.platform_id == board_a, opportunities.c.external_id == external_id
                )
            ).scalar_one()
            for external_id in ("a1", "a2")
        }
        reasons = dict(
            conn.execute(
                select(opportunities.c.external_id, opportunities.c.duplicate_reason).where(
                    opportunities.c.platform_id == board_b, opportunities.c.duplicate_reason.is_not(None)
                )
            ).all()
        )
    assert linked == {
        "a1": first["a1"],
        "b2": first["a1"],
        "b3": None,
        "b4": None,
        "b5": first["a2"],
        "b6": first["a2"],
    }
    assert reasons == {"a1": "source_id", "b2": "description", "b5": "title_company", "b6": "title_company"}
    assert other == {"c1": None} and theirs == {"d1": None}


def test_title_and_company_link_within_the_window_only(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        board = add_platform(conn, name="A", source="remotive")
        _store(conn, board, _job("old", "Data Engineer", client_name="Initech", description="short"))
        # Stored 31 days ago: a new opening under the same title, not the same post.
        conn.execute(update(opportunities).values(collected_at=utcnow() - timedelta(days=31)))
        assert _store(
            conn, board, _job("new", "Data engineer", client_name="Initech Inc", description="short")
        ) == {"new": None}
        assert _store(
            conn, board, _job("again", "DATA ENGINEER", client_name="initech", description="short")
        ) == {"again": _id(conn, "new")}


def test_a_collection_scores_its_items_and_its_event_carries_score_and_link(
    pg_engine: Engine, http_server: Any, http_client: httpx.Client, allow_private_networks: Settings
) -> None:
    http_server.route_file("/a", FIXTURES / "board_a.json")
    http_server.route_file("/b", FIXTURES / "board_b.json")
    with pg_engine.begin() as conn:
        board_a = add_platform(conn, name="Board A", source="remotive", config={"url": http_server.url("/a")})
        board_b = add_platform(conn, name="Board B", source="remotive", config={"url": http_server.url("/b")})
        save_profile_document(
            conn, 1, {"skills": {"python": 5}, "exclude_keywords": ["crypto"]}, now=utcnow()
        )
    for platform_id in (board_a, board_b):
        message = CollectMessage(platform_id=platform_id, trigger="on_demand", force=True)
        assert collect_platform(pg_engine, http_client, message, allow_private_networks).outcome == "success"
    with pg_engine.connect() as conn:
        details = [
            json.loads(d)
            for d in conn.execute(select(event_outbox.c.detail).order_by(event_outbox.c.id)).scalars()
        ]
        scores = dict(conn.execute(select(opportunities.c.external_id, opportunities.c.score)).all())
    first, second = details
    assert {item["external_id"]: item["score"] for item in first["opportunities"]} == {
        key: scores[key] for key in ("9100001", "9100002", "9100003")
    }
    assert scores["9100003"] == 0 and scores["9100001"] > scores["9100002"]
    links = {item["external_id"]: item["duplicate_of"] for item in second["opportunities"]}
    job = next(item["id"] for item in first["opportunities"] if item["external_id"] == "9100001")
    assert links == {
        "b-1": {"id": job, "platform": "Board A"},
        "b-2": {"id": job, "platform": "Board A"},
        "b-3": None,
    }
    assert second["summary"].startswith("3 new (2 already seen elsewhere) on Board B: ")
    assert "Senior Python Backend Engineer" in second["summary"].split(": ", 1)[1].split(",")[0]


def test_a_profile_change_is_rescored_in_bounded_batches(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        board = add_platform(conn, name="A", source="remotive")
        _store(
            conn, board, *(_job(f"j{n}", f"Python job {n}", description=f"Job number {n}") for n in range(5))
        )
        conn.execute(
            update(opportunities).where(opportunities.c.external_id == "j4").values(status="applied")
        )
        save_profile_document(conn, 1, {"skills": {"python": 5}}, now=utcnow())

    def cursor() -> int | None:
        with pg_engine.connect() as conn:
            return conn.execute(select(user_profiles.c.rescore_after_id)).scalar_one()

    def scored() -> int:
        with pg_engine.connect() as conn:
            return len(
                conn.execute(select(opportunities.c.id).where(opportunities.c.score.is_not(None))).all()
            )

    # A tick with room for one batch of two: two rows, and the cursor after them.
    assert rescore_pending(pg_engine, max_batches=1, batch_size=2) == 2
    assert scored() == 2 and cursor() == _id_of(pg_engine, "j1")
    # A tick out of time does nothing; the next one finishes (the applied row is not open: kept).
    assert rescore_pending(pg_engine, time_left_ms=lambda: 5_000, margin_ms=10_000) == 0
    assert rescore_pending(pg_engine, batch_size=2) == 2
    assert scored() == 4 and cursor() is None
    assert rescore_pending(pg_engine) == 0


def _id_of(engine: Engine, external_id: str) -> int:
    with engine.connect() as conn:
        return _id(conn, external_id)
