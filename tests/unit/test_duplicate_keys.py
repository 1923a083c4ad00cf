"""normalize/canonical_urls.py and duplicate_keys.py: what tells one job posted twice."""

from __future__ import annotations

import pytest

from charlee_collector.normalize.canonical_urls import canonical_url
from charlee_collector.normalize.duplicate_keys import company_key, title_key


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTP://www.Example.com:443/jobs/1/?utm_source=x&b=2&a=1&ref=abc&fbclid=z#apply",
            "https://example.com/jobs/1?a=1&b=2",
        ),
        ("https://jobs.example/p?id=7&source=rss", "https://jobs.example/p?id=7"),
        ("https://jobs.example/p?UTM_Campaign=x", "https://jobs.example/p"),
        ("https://user:secret@jobs.example:8080/p", "https://jobs.example:8080/p"),
        ("mailto:jobs@example.org", None),
        ("ftp://example.org/job", None),
        ("https:///no-host", None),
        ("http://[bad/x", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_url(url: str | None, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_the_ids_a_page_is_told_by_stay() -> None:
    # Only tracking goes: a job board's own id parameter names the page.
    assert canonical_url("https://b.example/view?jobid=1") != canonical_url("https://b.example/view?jobid=2")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Senior Python Engineer (Remote)!", "senior python engineer - remote"),
        ("Café Barista", "CAFE barista"),
        ("Développeur·se Python", "developpeur se python"),
    ],
)
def test_title_keys_ignore_case_accents_and_punctuation(one: str, other: str) -> None:
    assert title_key(one) == title_key(other)


def test_title_keys_keep_every_word() -> None:
    assert title_key("Engineer (Lisbon)") != title_key("Engineer (Porto)")
    assert title_key("!!!") is None and title_key(None) is None


@pytest.mark.parametrize(
    "spelling", ["Acme", "ACME, Inc.", "acme inc", "The Acme Company", "Acme GmbH", "Ácme LLC"]
)
def test_company_keys_drop_legal_forms_case_and_spaces(spelling: str) -> None:
    assert company_key(spelling) == "acme"


def test_company_keys_tell_companies_apart() -> None:
    assert company_key("Init Tech") == company_key("InitTech") != company_key("Initech Labs")
    assert company_key("Inc.") is None and company_key(None) is None
