"""The opportunities' upsert as a database function: ``upsert_opportunities_json``.

The collector sent the same ~2.2 KB statement text on every collection, and pg8000 rewrites a
statement's parameter markers by scanning its text in Python, character by character (~0.3 us a
character: ~0.6 ms of collector CPU per collection for this statement alone). The statement is now
this function's body, and the collector's statement is one short call
(``store/opportunities.py``). What it does is unchanged: one JSON parameter unpacked by
``json_to_recordset`` into rows in ``external_id`` byte order, inserted, or rewritten when their
content hash changed, and the rows written returned as one JSON text of ``[id, external_id, new]``.
PL/pgSQL keeps the statement's plan for the session. Its columns are those of 0008's table:
``tests/integration/test_storage_upsert.py`` holds them to the package's lists, so a column added
later needs a revision that replaces this function. No row changes; the downgrade drops it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPSERT_FUNCTION = """
CREATE FUNCTION upsert_opportunities_json(p_user_id bigint, p_platform_id bigint, p_now timestamptz, p_rows json)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    written_rows text;
BEGIN
    WITH written AS (
      INSERT INTO freelance_opportunities (
        user_id, platform_id, collected_at, updated_at, status,
        external_id, title, description, url, client_name, client_country, required_skills,
        category, client_budget, client_currency, contract_type, posted_at, budget_period,
        content_hash, raw, score, score_reasons, canonical_url, title_key, company_key)
      SELECT p_user_id, p_platform_id, p_now, p_now, 'new',
        r.external_id, r.title, r.description, r.url, r.client_name, r.client_country, r.required_skills,
        r.category, r.client_budget, r.client_currency, r.contract_type, r.posted_at, r.budget_period,
        r.content_hash, r.raw, r.score, r.score_reasons, r.canonical_url, r.title_key, r.company_key
      FROM json_to_recordset(p_rows) AS r(
        external_id text, title text, description text, url text, client_name text,
        client_country text, required_skills jsonb, category text, client_budget numeric,
        client_currency text, contract_type text, posted_at timestamptz, budget_period text,
        content_hash text, raw jsonb, score smallint, score_reasons jsonb, canonical_url text,
        title_key text, company_key text)
      ORDER BY r.external_id COLLATE "C"
      ON CONFLICT (platform_id, external_id) DO UPDATE SET
        title = excluded.title, description = excluded.description, url = excluded.url,
        client_name = excluded.client_name, client_country = excluded.client_country,
        required_skills = excluded.required_skills, category = excluded.category,
        client_budget = excluded.client_budget, client_currency = excluded.client_currency,
        contract_type = excluded.contract_type, posted_at = excluded.posted_at,
        budget_period = excluded.budget_period, content_hash = excluded.content_hash,
        raw = excluded.raw, score = excluded.score, score_reasons = excluded.score_reasons,
        canonical_url = excluded.canonical_url, title_key = excluded.title_key,
        company_key = excluded.company_key, user_id = excluded.user_id, updated_at = excluded.updated_at
      WHERE freelance_opportunities.content_hash <> excluded.content_hash
      RETURNING freelance_opportunities.id, freelance_opportunities.external_id, (xmax = 0) AS new
    )
    SELECT CAST(json_agg(json_build_array(written.id, written.external_id, written.new)) AS text)
    INTO written_rows
    FROM written;
    RETURN written_rows;
END
$$
"""


def upgrade() -> None:
    op.execute(UPSERT_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION upsert_opportunities_json(bigint, bigint, timestamptz, json)")
