"""Which secrets a platform may name, and where its credentials may go (core/credentials)."""

from __future__ import annotations

from charlee_collector.core.credentials import refuse_in_clear, refuse_outside_prefix, urls_in

PREFIX = "charlee/prod/"


def test_a_secret_under_the_stacks_prefix_is_accepted_by_name_or_arn() -> None:
    assert refuse_outside_prefix("charlee/prod/upwork", PREFIX) is None
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:charlee/prod/upwork-AbCdEf"
    assert refuse_outside_prefix(arn, PREFIX) is None


def test_a_secret_outside_the_prefix_is_refused() -> None:
    for name in (
        "charlee/staging/upwork",
        "charlee/prod/",
        "charlee/production/upwork",  # a prefix of the text, not of the path
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-master",
        "prod/charlee/prod/x",
    ):
        assert refuse_outside_prefix(name, PREFIX) == (
            f"credentials secret {name} is outside charlee/prod/: the stack's functions may read "
            "only secrets named charlee/prod/<name>"
        ), name


def test_without_a_prefix_the_name_must_have_the_stacks_shape() -> None:
    assert refuse_outside_prefix("charlee/prod/upwork", None) is None
    for name in ("charlee/upwork", "upwork", "arn:aws:secretsmanager:us-east-1:1:secret:other/x/y"):
        assert refuse_outside_prefix(name, None) == (
            f"credentials secret {name} is not named charlee/<stack>/<name>, the only secrets a stack reads"
        )


def test_credentials_never_go_over_http_to_another_machine() -> None:
    assert refuse_in_clear(["https://api.example.com/jobs"]) is None
    assert refuse_in_clear(["http://127.0.0.1:8080/jobs", "http://localhost/x", "http://[::1]/x"]) is None
    assert refuse_in_clear(["https://a.example.com/", " HTTP://api.example.com/jobs"]) == (
        "a credentials secret is never sent over http:// ( HTTP://api.example.com/jobs): use the https:// URL"
    )


def test_urls_are_found_at_any_depth_of_a_config() -> None:
    config = {
        "url": "https://a.example.com/feed",
        "pages": [{"next": "http://b.example.com/2"}, 3, None],
        "headers": {"Authorization": "Bearer {api_key}"},
    }
    assert urls_in(config) == ["https://a.example.com/feed", "http://b.example.com/2"]
