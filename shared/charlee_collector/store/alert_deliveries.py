"""The alert_deliveries table: each (rule, opportunity, channel) claimed before it is sent, so
it reaches the person at most once, and the alert's times (freshness).

``claim_deliveries`` inserts the claims (``ON CONFLICT DO NOTHING``: whatever another delivery, a
duplicate SQS message or a crashed attempt, already claimed is not returned) and its caller
commits them **before** sending; ``mark_sent`` records the send; ``release_claims`` deletes
claims whose message the channel refused, so a later delivery may try them again. A claim
never marked sent nor released (the notifier died between the send and the record, or the
channel's answer never came) stays ``claimed`` and is never sent again: ``lease_until`` tells
a send still in flight from one abandoned (``status`` counts those as unknown).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.store.tables import alert_deliveries, opportunities, platforms


@dataclass(frozen=True)
class AlertCandidate:
    """A stored opportunity that may alert: its id, owner, source, score and times, and the
    fields a rule matches on."""

    id: int
    user_id: int
    source: str
    score: int | None
    collected_at: datetime
    item: Opportunity


def alert_candidates(conn: Connection, ids: Iterable[int]) -> list[AlertCandidate]:
    """The opportunities of ``ids`` that may alert: those that repeat no job stored before
    (``duplicate_of`` NULL: a job alerts once, under its first row), best score first."""
    o = opportunities
    query = (
        select(o, platforms.c.source)
        .join(platforms, platforms.c.id == o.c.platform_id)
        .where(o.c.id.in_(sorted(set(ids))), o.c.duplicate_of.is_(None))
        .order_by(o.c.score.desc().nulls_last(), o.c.id)
    )
    return [_candidate(row) for row in conn.execute(query).mappings()]


def recent_candidates(conn: Connection, user_id: int, *, since: datetime, limit: int) -> list[AlertCandidate]:
    """The user's opportunities collected since ``since`` that repeat no earlier job, best score
    first (at most ``limit``): what a digest may list."""
    o = opportunities
    query = (
        select(o, platforms.c.source)
        .join(platforms, platforms.c.id == o.c.platform_id)
        .where(o.c.user_id == user_id, o.c.collected_at >= since, o.c.duplicate_of.is_(None))
        .order_by(o.c.score.desc().nulls_last(), o.c.id)
        .limit(limit)
    )
    return [_candidate(row) for row in conn.execute(query).mappings()]


def skills_asked(conn: Connection, user_id: int, *, since: datetime, limit: int) -> list[tuple[str, int]]:
    """The skills the user's opportunities collected since ``since`` ask for most (casefolded),
    with how many ask for each."""
    skill = func.lower(func.jsonb_array_elements_text(opportunities.c.required_skills)).label("skill")
    rows = (
        select(skill)
        .where(opportunities.c.user_id == user_id, opportunities.c.collected_at >= since)
        .subquery()
    )
    query = (
        select(rows.c.skill, func.count())
        .group_by(rows.c.skill)
        .order_by(func.count().desc(), rows.c.skill)
        .limit(limit)
    )
    return [(row[0], int(row[1])) for row in conn.execute(query)]


def _candidate(row: Any) -> AlertCandidate:
    item = Opportunity(
        external_id=row["external_id"],
        title=row["title"],
        description=row["description"],
        url=row["url"],
        client_name=row["client_name"],
        required_skills=list(row["required_skills"] or []),
        client_budget=row["client_budget"],
        client_currency=row["client_currency"],
        contract_type=row["contract_type"],
        budget_period=row["budget_period"],
        posted_at=row["posted_at"],
    )
    return AlertCandidate(row["id"], row["user_id"], row["source"], row["score"], row["collected_at"], item)


def claim_deliveries(
    conn: Connection,
    rule_id: int,
    channel: str,
    candidates: Sequence[AlertCandidate],
    *,
    now: datetime,
    lease: timedelta,
) -> set[int]:
    """Claim (rule, candidate, channel) for each candidate; the ids claimed now (the rest were
    claimed before, by this delivery's twin or an earlier attempt). Commit before sending."""
    if not candidates:
        return set()
    rows = [
        {
            "rule_id": rule_id,
            "opportunity_id": c.id,
            "channel": channel,
            "state": "claimed",
            "source": c.source,
            "claimed_at": now,
            "lease_until": now + lease,
            "posted_at": c.item.posted_at,
            "collected_at": c.collected_at,
        }
        for c in candidates
    ]
    statement = (
        insert(alert_deliveries)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(alert_deliveries.c.opportunity_id)
    )
    return set(conn.execute(statement).scalars())


def _these(rule_id: int, channel: str, ids: Iterable[int]) -> Any:
    d = alert_deliveries.c
    return and_(
        d.rule_id == rule_id, d.channel == channel, d.opportunity_id.in_(sorted(ids)), d.state == "claimed"
    )


def mark_sent(conn: Connection, rule_id: int, channel: str, ids: Iterable[int], *, now: datetime) -> None:
    """The claims of ``ids`` were sent at ``now``."""
    conn.execute(
        update(alert_deliveries).where(_these(rule_id, channel, ids)).values(state="sent", notified_at=now)
    )


def release_claims(conn: Connection, rule_id: int, channel: str, ids: Iterable[int]) -> None:
    """Forget the claims of ``ids``: the channel refused them, a later delivery may try again."""
    conn.execute(delete(alert_deliveries).where(_these(rule_id, channel, ids)))


@dataclass(frozen=True)
class SourceFreshness:
    """How long a source's alerts took, in seconds: from posting and from collection to the
    notification (p50, p95), over ``alerts`` alerts."""

    source: str
    alerts: int
    posted_p50: float | None
    posted_p95: float | None
    collected_p50: float | None
    collected_p95: float | None


def freshness_by_source(conn: Connection, *, since: datetime) -> list[SourceFreshness]:
    """p50 and p95 of each source's alerts notified since ``since``."""
    d = alert_deliveries.c
    from_posted = func.extract("epoch", d.notified_at - d.posted_at)
    from_collected = func.extract("epoch", d.notified_at - d.collected_at)

    def pct(fraction: float, value: Any) -> Any:
        return func.percentile_cont(fraction).within_group(value)

    query = (
        select(
            d.source,
            func.count(),
            pct(0.5, from_posted),
            pct(0.95, from_posted),
            pct(0.5, from_collected),
            pct(0.95, from_collected),
        )
        .where(d.notified_at >= since)
        .group_by(d.source)
        .order_by(d.source)
    )
    return [
        SourceFreshness(row[0], row[1], *(None if v is None else float(v) for v in row[2:]))
        for row in conn.execute(query)
    ]


def abandoned_claims(conn: Connection, *, now: datetime) -> int:
    """Claims never marked sent whose lease is over: sent or not, nobody knows; never resent."""
    d = alert_deliveries.c
    return int(
        conn.execute(
            select(func.count())
            .select_from(alert_deliveries)
            .where(d.state == "claimed", d.lease_until < now)
        ).scalar_one()
    )
