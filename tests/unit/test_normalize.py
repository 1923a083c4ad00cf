"""normalize.py: text, budgets, dates, cuts and the one builder every adapter uses."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from charlee_collector.core.limits import LIMITS
from charlee_collector.normalize.budgets import find_budget, parse_budget
from charlee_collector.normalize.dates import parse_datetime
from charlee_collector.normalize.html import html_to_text
from charlee_collector.normalize.json_values import json_safe
from charlee_collector.normalize.opportunities import (
    build_opportunity,
    dedupe,
    external_id_from_url,
)
from charlee_collector.normalize.text import clean_skills, cut, repair_mojibake


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello&nbsp;<b>world</b></p><ul><li>one</li><li>two</li></ul>", "Hello world\n\n- one\n- two"),
        # HN posts open paragraphs without closing them: each one still becomes its own paragraph.
        ("Company | Role<p>We build\nAPIs.<p>Stack: Go", "Company | Role\nWe build APIs.\n\nStack: Go"),
        ("line one<br>line two<br/>line three", "line one\nline two\nline three"),
        ("Tom &amp; Jerry\nsecond line", "Tom & Jerry\nsecond line"),
        ("plain\n\n\n\ntext", "plain\n\ntext"),
        ("<p>Job</p><script>alert(1)</script><style>p{}</style>", "Job"),
        ("   ", None),
        (None, None),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_html_to_text_removes_nul_bytes_and_lone_surrogates():
    assert html_to_text("<p>a\x00b \ud800c</p>") == "ab \ufffdc"


def test_html_to_text_reads_control_characters_inside_blocks():
    # lxml refuses such text when it is written back into a tree, which the old walk did: one
    # description like this failed its platform's whole payload as unparseable.
    assert html_to_text("<p>a\x01b</p><li>\x0cc\x02</li>") == "a\x01b\n\n- c\x02"


def test_html_to_text_strips_every_unicode_space_at_line_ends_but_keeps_others_inside():
    assert html_to_text("<p>\u3000a\u2028\x85b\t\xa0 c\u2003</p>") == "a\u2028\x85b c"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # Runs of two, three and four spaces, and of tabs and no-break spaces among them, are one.
        ("<p>a  b   c    d\u00a0\u00a0e</p>", "a b c d e"),
        ("<p>a \t\u00a0 b\r\n  c</p>", "a b c"),
        # Text without tags: CRLF lines, a run of blank ones (one of spaces, tabs, an ideographic
        # space) becomes one blank line, and every line's ends are stripped first.
        ("a  \t b\r\n\r\n\r\n\r\nc\u00a0 ", "a b\n\nc"),
        ("one\r\n \r\n\t\r\n\u3000\r\ntwo", "one\n\ntwo"),
        ("a<br><br>b", "a\n\nb"),
        ("a<br><br><br><br><br>b", "a\n\nb"),
        ("<p>a</p>\n\n<p> </p><div>\u00a0</div><p>b</p>", "a\n\nb"),
        ("<ul><li>a<ul><li>b <ol><li>c</li></ol></li></ul></li><li>d</li></ul>", "- a\n\n- b\n\n- c\n\n- d"),
        # Other Unicode spaces stay inside a line, single or in runs, and go at its ends.
        (
            "<p>caf\u00e9\u2003 \u2003na\u00efve\u3000\u3000x</p><p>\u2028\u00a0\u2002 y \u2009</p>",
            "caf\u00e9\u2003 \u2003na\u00efve\u3000\u3000x\n\ny",
        ),
        ("<p>x</p><script>a  =  1\n\n\n</script><style>p  {}</style>  <p>  y  </p>", "x\n\ny"),
        ("<pre>  a\n\n\n\n  b  </pre>", "a b"),
        ("\u00e9  \u00e9\n\n\n\n  \u00e9", "\u00e9 \u00e9\n\n\u00e9"),
    ],
)
def test_html_to_text_collapses_space_and_blank_line_runs(html, text):
    assert html_to_text(html) == text


def test_html_to_text_gives_the_same_text_on_many_threads():
    # The collector parses on a thread pool: each thread has its own parser and transform.
    html = [f"<p>item {n}<ul><li>a</li><li>b</li></ul><script>x()</script>tail {n}" for n in range(200)]
    expected = [html_to_text(value) for value in html]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(html_to_text, html)) == expected
    assert expected[7] == "item 7\n\n- a\n- b\ntail 7"


def test_repair_mojibake_only_changes_what_decodes():
    assert repair_mojibake("We\u00e2\u0080\u0099re in Gda\u00c5\u0084sk") == "We\u2019re in Gdańsk"
    assert repair_mojibake("café, naïve, 100°") == "café, naïve, 100°"
    assert repair_mojibake(None) is None


@pytest.mark.parametrize(
    ("text", "amount", "currency", "contract"),
    [
        ("$500", "500.00", "USD", None),
        ("$15.00-$30.00", "30.00", "USD", None),
        ("1,000 USD", "1000.00", "USD", None),
        ("$3k - $10k", "10000.00", "USD", None),
        ("$12K", "12000.00", "USD", None),
        ("80-100k EUR", "100000.00", "EUR", None),
        ("$50-$75 /hour", "75.00", "USD", "hourly"),
        ("$18 - $22/hr", "22.00", "USD", "hourly"),
        ("€40/h", "40.00", "EUR", "hourly"),
        ("£1,250.50", "1250.50", "GBP", None),
        ("CA$90 hourly", "90.00", "CAD", "hourly"),
        ("300", "300.00", None, None),
    ],
)
def test_parse_budget(text, amount, currency, contract):
    budget = parse_budget(text)
    assert budget is not None
    assert (budget.amount, budget.currency, budget.contract_type) == (Decimal(amount), currency, contract)


def test_parse_budget_keeps_both_ends_of_a_range():
    budget = parse_budget("$15.00-$30.00")
    assert budget is not None and (budget.minimum, budget.maximum) == (Decimal("15.00"), Decimal("30.00"))


@pytest.mark.parametrize("text", ["", "   ", "negotiable", "$0", None, "99999999999999 USD"])
def test_parse_budget_without_a_usable_amount(text):
    assert parse_budget(text) is None


def test_find_budget_ignores_bare_numbers_in_free_text():
    assert find_budget("Acme | Hybrid NYC (2-3 days) | 2026 | 10 engineers") is None
    budget = find_budget("Forage | Mobile | $185,000 - $200,000 per year | joinforage.com")
    assert budget is not None and budget.amount == Decimal("200000.00")
    assert find_budget("Rate: 40 USD/hr").contract_type == "hourly"  # type: ignore[union-attr]


def test_find_budget_is_fast_on_pathological_input():
    started = time.perf_counter()
    find_budget("1" * 1_000_000)
    parse_budget("1," * 200_000)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-06-09T08:50:02", datetime(2026, 6, 9, 8, 50, 2, tzinfo=UTC)),
        ("2026-06-10T05:43:34+02:00", datetime(2026, 6, 10, 3, 43, 34, tzinfo=UTC)),
        ("2026-05-01T15:00:07Z", datetime(2026, 5, 1, 15, 0, 7, tzinfo=UTC)),
        ("Tue, 21 Oct 2025 19:36:26 +0000", datetime(2025, 10, 21, 19, 36, 26, tzinfo=UTC)),
        ("Tue, 21 Oct 2025 21:36:26 +0200", datetime(2025, 10, 21, 19, 36, 26, tzinfo=UTC)),
        ("March 07, 2018 03:00 UTC", datetime(2018, 3, 7, 3, 0, tzinfo=UTC)),
        ("2026-09-18 13:27:28 UTC", datetime(2026, 9, 18, 13, 27, 28, tzinfo=UTC)),  # Recruitee
        (1778990421, datetime(2026, 5, 17, 4, 0, 21, tzinfo=UTC)),
        (1778990421000, datetime(2026, 5, 17, 4, 0, 21, tzinfo=UTC)),
        ("1778990421", datetime(2026, 5, 17, 4, 0, 21, tzinfo=UTC)),
        (time.struct_time((2018, 3, 7, 2, 45, 58, 2, 66, 0)), datetime(2018, 3, 7, 2, 45, 58, tzinfo=UTC)),
        (
            datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 1, 1, 17, tzinfo=UTC),
        ),
    ],
)
def test_parse_datetime_gives_aware_utc(value, expected):
    parsed = parse_datetime(value)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("posted", "kept"),
    [
        ("Mon, 30 Nov 2099 10:00:00 +0000", False),  # would sort first for ever
        ("0001-01-01T00:00:00Z", False),
        ("1969-12-31T23:59:59Z", False),
        ("1970-01-01T00:00:00Z", True),
        ("2026-11-30T10:00:00Z", True),
    ],
)
def test_a_posting_date_no_platform_could_mean_is_dropped_and_the_item_kept(posted, kept):
    item = build_opportunity(external_id="x", title="A job", posted_at=posted, raw={"published": posted})
    assert item is not None and item.raw == {"published": posted}
    assert (item.posted_at is not None) is kept


def test_a_posting_date_within_a_day_ahead_is_kept():
    """A date-only value or a zone ahead of UTC may be some hours in the future."""
    soon = datetime.now(UTC) + timedelta(hours=20)
    assert build_opportunity(external_id="x", title="A job", posted_at=soon).posted_at == soon


@pytest.mark.parametrize(
    "value", [None, "", "yesterday-ish", float("nan"), float("inf"), -1, 1e30, True, [], {}]
)
def test_parse_datetime_gives_none_for_junk(value):
    assert parse_datetime(value) is None


def test_cut_truncates_instead_of_refusing():
    assert cut("x" * 600, LIMITS["title"]) == "x" * 500
    assert cut("short", 10) == "short" and cut(None, 10) is None


def test_external_id_fallback_is_a_stable_hash_of_the_url():
    assert external_id_from_url("https://a.example/1") == external_id_from_url("https://a.example/1")
    assert len(external_id_from_url("https://a.example/1")) == 64
    item = build_opportunity(external_id=None, title="t", url="https://a.example/1")
    assert item is not None and item.external_id == external_id_from_url("https://a.example/1")


def test_build_opportunity_cuts_every_column_and_cleans_text():
    item = build_opportunity(
        external_id="id\x00-1",
        title="  Senior\n  Developer \x00" + "y" * 600,
        description_html="<p>Body\x00</p>",
        url="https://jobs.example/" + "p" * 3000,
        client_name="n" * 300,
        client_country="c" * 200,
        category="k" * 300,
        client_currency="usd-dollar-extra",
        contract_type="fixed_price",
        required_skills=["Python", "python", " Django ", "", 5, None, {"x": 1}],
        raw={"text": "a\x00b", "nan": float("nan"), "nested": [{"k\x00": "\ud800"}]},
    )
    assert item is not None
    assert item.external_id == "id-1"
    assert item.title.startswith("Senior Developer y") and len(item.title) == LIMITS["title"]
    assert item.description == "Body"
    for column in ("url", "client_name", "client_country", "category", "client_currency"):
        assert len(getattr(item, column)) == LIMITS[column]
    assert item.client_currency == "USD-DOLLAR"
    assert item.required_skills == ["Python", "Django", "5"]
    assert item.raw == {"text": "ab", "nan": None, "nested": [{"k": "\ufffd"}]}


def test_long_external_ids_are_hashed_not_cut():
    a = build_opportunity(external_id="a" * 300 + "1", title="t")
    b = build_opportunity(external_id="a" * 300 + "2", title="t")
    assert a is not None and b is not None
    assert a.external_id != b.external_id and len(a.external_id) == 64


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "/relative", "ftp://x.example/"])
def test_only_web_links_are_kept(url):
    item = build_opportunity(external_id="1", title="t", url=url)
    assert item is not None and item.url is None


def test_budgets_that_do_not_fit_the_column_are_dropped():
    too_big = build_opportunity(external_id="1", title="t", client_budget=Decimal("1e15"))
    negative = build_opportunity(external_id="2", title="t", client_budget=Decimal("-5"))
    nan = build_opportunity(external_id="3", title="t", client_budget=Decimal("NaN"))
    rounded = build_opportunity(external_id="4", title="t", client_budget=Decimal("10.005"))
    assert too_big.client_budget is None and negative.client_budget is None and nan.client_budget is None  # type: ignore[union-attr]
    assert rounded.client_budget == Decimal("10.01")  # type: ignore[union-attr]


def test_title_falls_back_to_the_description_and_items_without_either_are_skipped():
    item = build_opportunity(external_id="1", title="  ", description="First line\nsecond")
    assert item is not None and item.title == "First line"
    assert build_opportunity(external_id="2", title=None) is None
    assert build_opportunity(external_id=None, title="no id and no url") is None


def test_unknown_contract_types_are_dropped():
    item = build_opportunity(external_id="1", title="t", contract_type="salary")
    assert item is not None and item.contract_type is None


def test_clean_skills_splits_strings_and_caps_the_count():
    assert clean_skills("Python,  Django ,python") == ["Python", "Django"]
    assert len(clean_skills([f"s{i}" for i in range(80)])) == 50
    assert clean_skills({"not": "a list"}) == []


def test_dedupe_keeps_the_first_of_each_external_id():
    first = build_opportunity(external_id="1", title="first")
    second = build_opportunity(external_id="1", title="second")
    other = build_opportunity(external_id="2", title="other")
    assert [item.title for item in dedupe([first, second, other])] == ["first", "other"]  # type: ignore[list-item, union-attr]


def test_json_safe_survives_deep_nesting():
    deep: list = []
    cursor = deep
    for _ in range(200):
        cursor.append([])
        cursor = cursor[0]
    assert isinstance(json_safe(deep), list)
