"""filters.py: the same keyword, budget and age filters for every source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from charlee_collector.filters import BaseSourceConfig, apply_filters, matches
from charlee_collector.opportunity import Opportunity

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _item(title="Python developer", description=None, skills=(), budget=None, posted_at=None, ident="1"):
    return Opportunity(
        external_id=ident,
        title=title,
        description=description,
        required_skills=list(skills),
        client_budget=None if budget is None else Decimal(budget),
        posted_at=posted_at,
    )


def _passes(item, **config):
    return matches(item, BaseSourceConfig(**config), now=NOW)


def test_no_filters_keep_everything():
    assert _passes(_item())


@pytest.mark.parametrize(
    ("item", "keywords", "kept"),
    [
        (_item(title="Senior PYTHON engineer"), ["python"], True),
        (_item(title="Backend", description="We use Django daily"), ["django"], True),
        (_item(title="Backend", skills=["Rust"]), ["rust"], True),
        (_item(title="Backend", skills=["Rust"]), ["go", "rust"], True),  # any keyword
        (_item(title="Good engineer wanted"), ["go"], False),  # whole words only
        (_item(title="JavaScript wizard"), ["java"], False),
        (_item(title="C++ game engine"), ["c++"], True),
        (_item(title="Port to .NET 8"), [".net"], True),
        (_item(title="Machine learning ops"), ["machine learning"], True),
        (_item(title="Designer"), ["python"], False),
    ],
)
def test_keywords_match_any_whole_word_case_insensitively(item, keywords, kept):
    assert _passes(item, keywords=keywords) is kept


def test_exclude_keywords_win():
    item = _item(title="Python developer (unpaid internship)")
    assert not _passes(item, keywords=["python"], exclude_keywords=["unpaid"])
    assert _passes(_item(), exclude_keywords=["unpaid"])


def test_min_budget_keeps_items_without_a_budget():
    assert not _passes(_item(budget="400"), min_budget=500)
    assert _passes(_item(budget="500"), min_budget=500)
    assert _passes(_item(budget=None), min_budget=500)


def test_max_age_days_keeps_undated_items():
    assert _passes(_item(posted_at=NOW - timedelta(days=2)), max_age_days=3)
    assert not _passes(_item(posted_at=NOW - timedelta(days=4)), max_age_days=3)
    assert _passes(_item(posted_at=None), max_age_days=3)


def test_apply_filters_keeps_order():
    items = [_item(title=f"Python job {n}", ident=str(n)) for n in range(5)] + [
        _item(title="Designer", ident="x")
    ]
    kept = apply_filters(items, BaseSourceConfig(keywords=["python"]), now=NOW)
    assert [item.external_id for item in kept] == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"keywords": [""]}, "keywords"),
        ({"keywords": "python"}, "keywords"),
        ({"exclude_keywords": ["   "]}, "exclude_keywords"),
        ({"min_budget": -1}, "min_budget"),
        ({"min_budget": "lots"}, "min_budget"),
        ({"max_age_days": 0}, "max_age_days"),
        ({"keyword": ["python"]}, "keyword"),  # typo: unknown keys are refused
    ],
)
def test_bad_filter_config_is_refused(config, field):
    with pytest.raises(ValidationError) as caught:
        BaseSourceConfig(**config)
    assert caught.value.errors()[0]["loc"][0] == field
