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


# canonical_url as first written: every address through urlsplit and urlunsplit. The reference the
# regex read of plain links must agree with.
def _canonical_by_urlsplit(url: str | None) -> str | None:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    from charlee_collector.normalize.canonical_urls import TRACKING_PARAMETERS, TRACKING_PREFIXES

    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.casefold() not in ("http", "https"):
        return None
    netloc = parts.netloc.rpartition("@")[2].casefold().removeprefix("www.")
    netloc = netloc.removesuffix(":443").removesuffix(":80")
    if not netloc:
        return None
    query = ""
    if parts.query:
        kept = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not (k.casefold() in TRACKING_PARAMETERS or k.casefold().startswith(TRACKING_PREFIXES))
        ]
        query = urlencode(sorted(kept))
    return urlunsplit(("https", netloc, parts.path.rstrip("/"), query, ""))


@pytest.mark.parametrize(
    "url",
    [
        "https://jobs.example/p/1",
        "HTTPS://WWW.Jobs.Example/P/1/",
        "http://jobs.example:80abc/p",  # no path after the port: urlsplit's host runs to the "/"
        "https://jobs.example?id=1&utm_source=x",  # a query and no path
        "https://jobs.example#apply?id=1",  # the first "#" starts the fragment, "?" in it is no query
        "https://jobs.example/p?a=1#f?b=2",
        "https://jobs.example/p?a=1?b=2",
        "https://jobs.example:8080",
        "https://jobs.example:",
        "https://www./p",
        "https://:443/p",
        "https://user:pw@jobs.example/p",
        "https://jobs.example/p@x:y",
        "https://jobs.example/caf\u00e9/\u00fcber",
        "https://j\u00f6bs.example/p",
        "https://jobs.example/a b",
        "https://jobs.example/a\tb",
        " https://jobs.example/p\n",
        "https://[::1]/p",
        "https://[bad/p",
        "ftp://jobs.example/p",
        "https:/jobs.example/p",
        "https:///p",
        "jobs.example/p",
        "h-t://jobs.example/p",
    ],
)
def test_canonical_url_reads_links_as_urlsplit_does(url: str) -> None:
    assert canonical_url(url) == _canonical_by_urlsplit(url)


def test_canonical_url_agrees_with_urlsplit_on_any_link() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(
        [*"aZ09.-:/@?#&=[] \t%_~+é", "www.", "http", "https", "HTTP", "://", ":443", ":80", "ref", "utm_x"]
    )

    @settings(max_examples=500, deadline=None, derandomize=True)
    @given(
        st.lists(pieces, max_size=25).map("".join),
        st.sampled_from(["", "https://", "http://www.", "HTTP://"]),
    )
    def check(tail: str, head: str) -> None:
        assert canonical_url(head + tail) == _canonical_by_urlsplit(head + tail)

    check()
