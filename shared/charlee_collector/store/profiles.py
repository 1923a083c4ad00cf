"""The user_profiles table: one scoring profile per user, and the cursor of its rescoring.

Saving a profile sets ``rescore_after_id`` to 0: every open opportunity of the user (``status =
'new'``) is to be scored again. ``claim_rescore`` locks the profile row for one batch (SKIP LOCKED:
a second rescorer of the same user moves on), ``open_opportunities_after`` reads the batch in id
order, ``write_rescored`` writes it and ``advance_rescore`` moves the cursor, all in the batch's
transaction; ``app/rescoring.py`` runs them. A save during a batch waits for it, then starts the
rescoring over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, cast, select, text, update
from sqlalchemy.dialects.postgresql import insert

from charlee_collector.store.tables import opportunities, user_profiles


@dataclass(frozen=True)
class RescoreClaim:
    """A user's profile, locked for one rescoring batch, and the id the batch starts after."""

    user_id: int
    profile: str  # JSON text
    after_id: int


# Read once per collection: a short text statement, the profile as JSON text decoded in C.
_LOAD_PROFILE = text("SELECT CAST(profile AS text) FROM user_profiles WHERE user_id = :user_id")


def load_profile_text(conn: Connection, user_id: int) -> str | None:
    """The stored profile of ``user_id`` as JSON text, or None."""
    text_: str | None = conn.execute(_LOAD_PROFILE, {"user_id": user_id}).scalar_one_or_none()
    return text_


def load_profile_document(conn: Connection, user_id: int) -> dict[str, Any] | None:
    """The stored profile of ``user_id`` (as saved), or None."""
    document = load_profile_text(conn, user_id)
    return None if document is None else json.loads(document)


def save_profile_document(conn: Connection, user_id: int, document: dict[str, Any], *, now: datetime) -> None:
    """Store ``document`` as the profile of ``user_id`` and mark all its open opportunities to rescore."""
    statement = insert(user_profiles).values(
        user_id=user_id, profile=document, updated_at=now, rescore_after_id=0
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[user_profiles.c.user_id],
            set_={"profile": document, "updated_at": now, "rescore_after_id": 0},
        )
    )


def pending_rescores(conn: Connection, *, limit: int) -> list[int]:
    """Users whose rescoring is not finished, oldest profile change first (at most ``limit``)."""
    query = (
        select(user_profiles.c.user_id)
        .where(user_profiles.c.rescore_after_id.is_not(None))
        .order_by(user_profiles.c.updated_at, user_profiles.c.user_id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def claim_rescore(conn: Connection, user_id: int) -> RescoreClaim | None:
    """The user's profile locked for one batch; None when nothing is pending or another has it."""
    row = conn.execute(
        select(cast(user_profiles.c.profile, Text).label("profile"), user_profiles.c.rescore_after_id)
        .where(user_profiles.c.user_id == user_id, user_profiles.c.rescore_after_id.is_not(None))
        .with_for_update(skip_locked=True)
    ).one_or_none()
    return None if row is None else RescoreClaim(user_id, row.profile, row.rescore_after_id)


def open_opportunities_after(
    conn: Connection, user_id: int, after_id: int, *, limit: int
) -> list[dict[str, Any]]:
    """The user's open opportunities with an id above ``after_id``, in id order, at most ``limit``."""
    query = (
        select(opportunities)
        .where(
            opportunities.c.user_id == user_id,
            opportunities.c.status == "new",
            opportunities.c.id > after_id,
        )
        .order_by(opportunities.c.id)
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


_WRITE_RESCORED = text(
    """
    UPDATE freelance_opportunities o
    SET score = r.score, score_reasons = r.score_reasons,
        canonical_url = r.canonical_url, title_key = r.title_key, company_key = r.company_key
    FROM json_to_recordset(CAST(:rows AS json))
      AS r(id bigint, score smallint, score_reasons jsonb, canonical_url text, title_key text, company_key text)
    WHERE o.id = r.id
    """
)


def write_rescored(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write each row's score, its parts and its duplicate keys (``id`` names the row), in one statement."""
    if rows:
        conn.execute(_WRITE_RESCORED, {"rows": json.dumps(rows, ensure_ascii=False)})


def advance_rescore(conn: Connection, user_id: int, after_id: int | None) -> None:
    """Move the user's rescoring cursor to ``after_id`` (None: finished)."""
    conn.execute(
        update(user_profiles).where(user_profiles.c.user_id == user_id).values(rescore_after_id=after_id)
    )
