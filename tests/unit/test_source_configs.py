"""validate_config: every source's schema, and messages that name the offending field."""

from __future__ import annotations

import pytest

from charlee_collector.core.errors import InvalidPlatformConfig
from charlee_collector.normalize.filters import BaseSourceConfig
from charlee_collector.sources import SOURCE_KEYS, validate_config

MINIMAL = {
    "rss": {"url": "https://weworkremotely.com/categories/remote-programming-jobs.rss"},
    "remoteok": {},
    "remotive": {},
    "himalayas": {},
    "arbeitnow": {},
    "jobicy": {},
    "hn_freelancer": {},
    "freelancer_com": {},
    "json_api": {"url": "https://api.example.com/jobs", "items": "data[*]"},
    "greenhouse": {"board": "acme"},
    "lever": {"board": "acme"},
    "ashby": {"board": "acme"},
    "smartrecruiters": {"board": "AcmeRobotics"},
    "workable": {"board": "acme"},
    "recruitee": {"board": "acme"},
    "workingnomads": {},
    "landingjobs": {},
    "upwork": {},
}
BOARDS = ["greenhouse", "lever", "ashby", "smartrecruiters", "workable", "recruitee"]


def test_source_keys_are_the_documented_ones():
    assert set(SOURCE_KEYS) == set(MINIMAL)


@pytest.mark.parametrize("source", sorted(MINIMAL))
def test_minimal_config_is_valid_and_carries_the_filters(source):
    config = validate_config(source, MINIMAL[source])
    assert isinstance(config, BaseSourceConfig)
    assert config.keywords == [] and config.min_budget is None


@pytest.mark.parametrize("source", sorted(MINIMAL))
def test_every_source_accepts_the_shared_filters(source):
    config = validate_config(
        source,
        {
            **MINIMAL[source],
            "keywords": ["python"],
            "exclude_keywords": ["php"],
            "min_budget": "50",
            "max_age_days": 7,
        },
    )
    assert config.keywords == ["python"] and config.max_age_days == 7


@pytest.mark.parametrize("source", sorted(MINIMAL))
def test_unknown_keys_are_refused_naming_them(source):
    with pytest.raises(InvalidPlatformConfig, match="field 'surprise'"):
        validate_config(source, {**MINIMAL[source], "surprise": 1})


def test_defaults_point_at_the_public_apis():
    assert validate_config("remoteok", {}).url == "https://remoteok.com/api"
    assert validate_config("remotive", {}).url == "https://remotive.com/api/remote-jobs"
    assert validate_config("himalayas", {}).url == "https://himalayas.app/jobs/api"
    assert validate_config("arbeitnow", {}).max_pages == 3
    assert validate_config("jobicy", {}).url == "https://jobicy.com/api/v2/remote-jobs"
    hn = validate_config("hn_freelancer", {})
    assert (hn.base_url, hn.thread) == ("https://hn.algolia.com/api/v1", "freelancer")
    assert validate_config("freelancer_com", {}).url.startswith(
        "https://www.freelancer.com/api/projects/0.1/"
    )


@pytest.mark.parametrize(
    ("source", "config", "field"),
    [
        ("rss", {}, "url"),
        ("rss", {"url": "not a url"}, "url"),
        ("rss", {"url": "file:///etc/passwd"}, "url"),
        ("rss", {"url": "ftp://example.com/feed"}, "url"),
        ("remotive", {"limit": 0}, "limit"),
        ("remotive", {"search": ""}, "search"),
        ("jobicy", {"count": 500}, "count"),
        ("arbeitnow", {"max_pages": 0}, "max_pages"),
        ("hn_freelancer", {"thread": "jobs"}, "thread"),
        ("hn_freelancer", {"hits_per_page": 5000}, "hits_per_page"),
        ("freelancer_com", {"project_types": ["salary"]}, "project_types.0"),
        ("json_api", {"url": "https://api.example.com"}, "items"),
        ("json_api", {"url": "https://api.example.com", "items": "data[?"}, "items"),
        (
            "json_api",
            {"url": "https://api.example.com", "items": "d", "fields": {"title": "a[?"}},
            "fields.title",
        ),
        (
            "json_api",
            {"url": "https://api.example.com", "items": "d", "fields": {"salary": "x"}},
            "fields.salary",
        ),
        (
            "json_api",
            {"url": "https://api.example.com", "items": "d", "headers": {"Bad Name": "x"}},
            "headers",
        ),
        (
            "json_api",
            {"url": "https://api.example.com", "items": "d", "headers": {"X": "a\r\nInjected: 1"}},
            "headers",
        ),
        ("remoteok", {"min_budget": -3}, "min_budget"),
        ("greenhouse", {"board": "../admin"}, "board"),
        ("recruitee", {"board": "evil.example.com"}, "board"),
        ("lever", {"board": "acme", "region": "us"}, "region"),
        ("smartrecruiters", {"board": "x", "page_size": 101}, "page_size"),
        ("landingjobs", {"page_size": 51}, "page_size"),
        ("landingjobs", {"max_pages": 0}, "max_pages"),
        ("remoteok", {"keywords": [""]}, "keywords.0"),
    ],
)
def test_bad_config_is_refused_naming_the_field(source, config, field):
    with pytest.raises(InvalidPlatformConfig) as caught:
        validate_config(source, config)
    message = str(caught.value)
    assert f"field {field!r}" in message and repr(source) in message


def test_unknown_source_and_non_object_config():
    with pytest.raises(InvalidPlatformConfig, match=r"unknown source 'upwork_api'.*one of"):
        validate_config("upwork_api", {})
    with pytest.raises(InvalidPlatformConfig, match="must be a JSON object"):
        validate_config("remoteok", ["url"])  # type: ignore[arg-type]


def test_missing_config_means_defaults():
    assert validate_config("remoteok", None).url == "https://remoteok.com/api"


@pytest.mark.parametrize("source", BOARDS)
def test_a_board_source_needs_its_board_or_a_url(source):
    with pytest.raises(InvalidPlatformConfig, match=r"give 'board' .* or a full 'url'"):
        validate_config(source, {"keywords": ["python"]})
    assert validate_config(source, {"url": "https://boards.example.com/jobs"}).board is None
