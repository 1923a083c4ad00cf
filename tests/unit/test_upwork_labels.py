"""Upwork's ``<b>Label</b>: value`` block read with lxml: the shapes its items and lookalikes take."""

from __future__ import annotations

import pytest

from charlee_collector.normalize.html import html_to_text
from charlee_collector.sources.feeds.rss import upwork_fields

UPWORK = (
    "Build an Android app &amp; its API<br /><br />"
    "<b>Hourly Range</b>: $25.00-$50.00\n\n<br /><b>Posted On</b>: March 07, 2018 10:02 UTC<br />"
    "<b>Category</b>: Mobile Development<br /><b>Skills</b>:Android,     Java\n<br />"
    '<b>Country</b>: Germany\n<br /><a href="https://www.upwork.com/jobs/x">click to apply</a>'
)


def test_labels_and_the_description_above_them():
    description, fields = upwork_fields(UPWORK)
    assert fields == {
        "hourly range": "$25.00-$50.00",
        "posted on": "March 07, 2018 10:02 UTC",
        "category": "Mobile Development",
        "skills": "Android, Java",
        "country": "Germany",
    }
    assert html_to_text(description) == "Build an Android app & its API"


@pytest.mark.parametrize(
    ("html", "fields"),
    [
        # a label wrapped in inner markup and &nbsp;, a value holding inline markup
        ("Text<b><i>Budget</i>&nbsp;</b>: <span>$500</span> fixed<br>", {"budget": "$500 fixed"}),
        # labels inside a paragraph: values are read beside the label, not past the paragraph
        ("<p>Intro</p><p><b>Country</b>: Spain</p><p>tail</p>", {"country": "Spain"}),
        # an empty <b> is no label; a value ends at the next link
        ('<b></b><b>Skills</b>: Go <a href="/x">more</a> never', {"skills": "Go"}),
    ],
    ids=["inner_markup", "inside_paragraph", "empty_bold_and_link"],
)
def test_label_shapes(html, fields):
    assert upwork_fields(html)[1] == fields


@pytest.mark.parametrize(
    "html",
    [
        "<p>Plain <b>bold</b> text, no label</p>",  # bold text that is not Upwork's
        "<b>Budget</b>: $1" + "<b>x</b>" * 41,  # bolder than any Upwork item: not read for labels
        "<b>Budget</b>: $1" + "x" * (32 * 1024),  # longer than any Upwork item
    ],
    ids=["not_a_label", "too_bold", "too_long"],
)
def test_html_that_is_not_upworks_is_the_description_whole(html):
    assert upwork_fields(html) == (html, {})
