"""``fetch_cache.request_key``: what makes two requests one, and what keeps them apart."""

from __future__ import annotations

import httpx

from charlee_collector.politeness.shared_fetches import request_key

URL = httpx.URL("https://remotive.com/api/remote-jobs?category=software-dev")


def key(**changes: object) -> str:
    parts: dict[str, object] = {
        "source": "remotive",
        "url": URL,
        "headers": {"Accept": "application/json"},
        "credentials_secret": None,
        "secrets": (),
    }
    parts.update(changes)
    return request_key(**parts)  # type: ignore[arg-type]


def test_the_same_request_has_one_key_whatever_the_client_or_validators_add() -> None:
    assert key() == key(headers={"accept": "application/json", "User-Agent": "x", "If-None-Match": '"v1"'})


def test_source_query_headers_and_credentials_each_change_the_key() -> None:
    keys = {
        key(),
        key(source="json_api"),
        key(url=URL.copy_set_param("category", "design")),
        key(headers={"Accept": "application/rss+xml"}),
        key(credentials_secret="arn:aws:secretsmanager:eu-west-1:1:secret:a"),
        key(credentials_secret="arn:aws:secretsmanager:eu-west-1:1:secret:b"),
    }
    assert len(keys) == 6 and all(len(k) == 64 for k in keys)


def test_a_secret_value_is_masked_before_hashing_and_the_arn_keeps_credentials_apart() -> None:
    def with_value(value: str, arn: str) -> str:
        return key(headers={"Authorization": f"Bearer {value}"}, credentials_secret=arn, secrets=[value])

    # Under one secret ARN the key does not depend on the value (it is never an input)...
    assert with_value("one-value", "arn:a") == with_value("another-value", "arn:a")
    # ...and the same value under another ARN is another key.
    assert with_value("one-value", "arn:a") != with_value("one-value", "arn:b")
