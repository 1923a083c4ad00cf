"""filters.py: the same keyword, budget and age filters for every source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.filters import BaseSourceConfig, apply_filters, matches

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _item(
    title="Python developer", description=None, skills=(), budget=None, posted_at=None, ident="1", period=None
):
    return Opportunity(
        external_id=ident,
        title=title,
        description=description,
        required_skills=list(skills),
        client_budget=None if budget is None else Decimal(budget),
        budget_period=period,
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


def test_a_bare_min_budget_applies_to_unknown_periods_only():
    # Its old meaning, for the items it always meant: those whose period nobody states.
    assert not _passes(_item(budget="400"), min_budget="500")
    assert _passes(_item(budget="90", period="hour"), min_budget=50000)  # the issue's $90/hr job
    assert _passes(_item(budget="400", period="fixed"), min_budget=500)


@pytest.mark.parametrize(
    ("budget", "period", "kept"),
    [
        ("59.99", "hour", False),
        ("60", "hour", True),
        ("80000", "year", False),
        ("90000", "year", True),
        ("499", "fixed", False),
        ("20", "day", True),  # no minimum for days: kept
        ("40", None, True),  # no bare minimum: kept
        (None, "hour", True),  # no budget stated: kept
    ],
)
def test_min_budget_compares_like_with_like(budget, period, kept):
    config = {"min_budget": ["60/hour", "90000/yr", "500/fixed"]}
    assert _passes(_item(budget=budget, period=period), **config) is kept


def test_an_hourly_minimum_keeps_salaries_and_fixed_prices_and_the_reverse():
    hourly, yearly = {"min_budget": "100/h"}, {"min_budget": "50000/year"}
    assert _passes(_item(budget="60000", period="year"), **hourly)
    assert _passes(_item(budget="300", period="fixed"), **hourly)
    assert _passes(_item(budget="90", period="hour"), **yearly)
    assert not _passes(_item(budget="90", period="hour"), **hourly)


def test_min_budget_spellings():
    minimums = BaseSourceConfig(min_budget=["60/ Hour", "5,000/mo", 7.5, "1200/wk", "300/d"]).min_budget
    assert minimums is not None
    assert dict(minimums.by_period) == {
        "hour": Decimal(60),
        "month": Decimal(5000),
        None: Decimal("7.5"),
        "week": Decimal(1200),
        "day": Decimal(300),
    }
    assert BaseSourceConfig(min_budget="60/hour").model_dump()["min_budget"] == "60/hour"


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
        ({"min_budget": "50/fortnight"}, "min_budget"),
        ({"min_budget": ["50/h", "60/hour"]}, "min_budget"),  # two minimums for one period
        ({"min_budget": []}, "min_budget"),
        ({"min_budget": True}, "min_budget"),
        ({"max_age_days": 0}, "max_age_days"),
        ({"keyword": ["python"]}, "keyword"),  # typo: unknown keys are refused
    ],
)
def test_bad_filter_config_is_refused(config, field):
    with pytest.raises(ValidationError) as caught:
        BaseSourceConfig(**config)
    assert caught.value.errors()[0]["loc"][0] == field


# The whole-word rule as the filters first wrote it, a regex with lookarounds: the reference the
# str.find matcher must agree with on any text, word by word.
def _regex_words(text: str, words: list[str]) -> set[str]:
    import re

    return {w for w in words if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text)}


_WORDS = ["go", "c++", ".net", "machine learning", "java", "ü", "_x", "node.js"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("we love go and java", ["go", "java"]),
        ("good javascript", []),
        ("c++ and .net, node.js!", ["c++", ".net", "node.js"]),
        ("machine learning", ["machine learning"]),
        ("x_go gogo go_", []),
        ("üb ü", ["ü"]),
        ("go", ["go"]),
    ],
)
def test_whole_words_are_found_by_the_filters_rule(text: str, found: list[str]) -> None:
    from charlee_collector.normalize.filters import first_whole_word, whole_words_in

    assert whole_words_in(text, _WORDS) == found
    assert first_whole_word(text, _WORDS) == (found[0] if found else None)


def test_whole_words_agree_with_the_regex_rule_on_any_text() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from charlee_collector.normalize.filters import whole_words_in

    alphabet = st.sampled_from([*"goc+.netjavü_ ml-\n", "go", "java", "c++", ".net", " learning"])

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(alphabet, max_size=30).map("".join))
    def check(text: str) -> None:
        assert set(whole_words_in(text, _WORDS)) == _regex_words(text, _WORDS)

    check()


def test_whole_words_made_ready_once_agree_with_the_regex_rule() -> None:
    # WholeWords casefolds and deduplicates its words once and looks for each with one find that
    # goes on from the last hit: "go" inside "django" first, whole later, must still be found.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from charlee_collector.normalize.filters import WholeWords, first_whole_word, whole_words_in

    words = ["Go", "go", "C++", ".NET", "Machine Learning", "JAVA", "Ü", "_x", "Node.js", "straße"]
    folded = list(dict.fromkeys(w.casefold() for w in words))
    ready = WholeWords(words)
    assert ready.words == tuple(folded)
    assert ready.found_in("django, then go") == ["go"]
    assert ready.found_in("c+++ and c++x and xc++") == ["c++"]
    assert ready.first_in("djangogo .net") == ".net"
    alphabet = st.sampled_from(
        [*"goc+.netjavüß_ ml-\nsd", "go", "java", "c++", ".net", " learning", "node.js", "strasse", "é"]
    )

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(st.lists(alphabet, max_size=40).map("".join))
    def check(text: str) -> None:
        expected = [w for w in folded if w in _regex_words(text, folded)]
        assert ready.found_in(text) == whole_words_in(text, words) == expected
        assert ready.first_in(text) == first_whole_word(text, words) == (expected[0] if expected else None)

    check()
