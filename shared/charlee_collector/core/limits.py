"""Bounds the schema, the normaliser and the CLI share: column widths, budget periods, intervals."""

from __future__ import annotations

# Column widths; normalisation cuts longer values to these instead of rejecting them.
LIMITS = {
    "external_id": 255,
    "title": 500,
    "url": 2048,
    "client_name": 255,
    "client_country": 100,
    "category": 255,
    "client_currency": 10,
    "contract_type": 20,
}


# Minutes between a platform's collections: at least one, at most 30 days. Migration 0002 holds
# the database to the same range (a CHECK), the CLI refuses
# values outside it, and core/scheduling.py clamps whatever it reads into it.
# What a budget's amount is per; NULL when the source does not say.
BUDGET_PERIODS = ("hour", "day", "week", "month", "year", "fixed")


MIN_INTERVAL_MINUTES = 1


MAX_INTERVAL_MINUTES = 30 * 24 * 60
