"""The OAuth2 grant a credentials secret holds: read, renewed by a token answer, written back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from charlee_collector.app.oauth_tokens import EXPIRY_MARGIN, OAuthGrant
from charlee_collector.core.errors import PermanentSourceError

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SECRET = {
    "client_id": "id",
    "client_secret": "secret",
    "token_url": "https://www.upwork.com/api/v3/oauth2/token",
    "refresh_token": "refresh-0",
    "refresh_token_issued_at": "2026-05-30T12:00:00+00:00",
    "access_token": "access-0",
    "access_token_expires_at": "2026-06-01T13:00:00+00:00",
    "note": "kept",
}


def test_a_secret_reads_back_as_it_was_written() -> None:
    grant = OAuthGrant.from_secret(SECRET, "s")
    assert grant.secret_values() == {k: v for k, v in SECRET.items() if k != "note"}
    assert grant.refresh_token_dies_at == datetime(2026, 6, 13, 12, tzinfo=UTC)


def test_a_secret_without_the_grant_says_which_keys_and_to_authorize() -> None:
    with pytest.raises(PermanentSourceError, match=r"lacks client_secret, refresh_token .* upwork authorize"):
        OAuthGrant.from_secret({"client_id": "id", "token_url": "https://x"}, "charlee/platforms/oauth/u")


@pytest.mark.parametrize(
    ("expires_at", "usable"),
    [
        (NOW + EXPIRY_MARGIN + timedelta(seconds=1), True),
        (NOW + EXPIRY_MARGIN, False),  # would expire during the collection
        (NOW - timedelta(hours=1), False),
    ],
)
def test_a_token_is_usable_only_when_it_outlasts_the_margin(expires_at: datetime, usable: bool) -> None:
    grant = OAuthGrant.from_secret({**SECRET, "access_token_expires_at": expires_at.isoformat()}, "s")
    assert grant.usable(NOW) is usable


def test_an_unreadable_expiry_counts_as_expired() -> None:
    assert not OAuthGrant.from_secret({**SECRET, "access_token_expires_at": "soon"}, "s").usable(NOW)


def test_a_rotated_refresh_token_restarts_its_14_days() -> None:
    grant = OAuthGrant.from_secret(SECRET, "s").renewed(
        {"access_token": "access-1", "refresh_token": "refresh-1", "expires_in": 3600}, NOW
    )
    assert (grant.access_token, grant.access_token_expires_at) == ("access-1", NOW + timedelta(hours=1))
    assert (grant.refresh_token, grant.refresh_token_issued_at) == ("refresh-1", NOW)


def test_an_answer_that_keeps_the_refresh_token_keeps_its_age_and_a_day_for_the_access_token() -> None:
    before = OAuthGrant.from_secret(SECRET, "s")
    grant = before.renewed({"access_token": "access-1"}, NOW)
    assert grant.access_token_expires_at == NOW + timedelta(hours=24)
    assert (grant.refresh_token, grant.refresh_token_issued_at) == (
        "refresh-0",
        before.refresh_token_issued_at,
    )


def test_an_answer_without_an_access_token_is_refused() -> None:
    with pytest.raises(PermanentSourceError, match="without an access_token"):
        OAuthGrant.from_secret(SECRET, "s").renewed({"token_type": "Bearer"}, NOW)
