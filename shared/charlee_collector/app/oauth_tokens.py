"""OAuth2 tokens kept in a platform's credentials secret, fresh for every collection.

The secret (``charlee-collector upwork authorize`` writes it) holds ``client_id``, ``client_secret``,
``token_url``, ``refresh_token``, ``refresh_token_issued_at``, ``access_token`` and
``access_token_expires_at`` (times ISO-8601, UTC). ``PlatformTokens.collect`` runs a fetch with an
access token that lasts past ``EXPIRY_MARGIN``: the one read, else a refreshed one; after a 401 the
rejected token is renewed once and the fetch runs again.

A refresh holds a database lock on the secret's name (``store.named_locks``) around read, refresh
and write: it re-reads the secret inside the lock (another collector may have refreshed meanwhile:
its token is used, no request made), asks the token endpoint, and writes the new tokens back before
the lock is let go. Refresh tokens rotate, so two refreshes racing would leave one collector with a
token the other had replaced.

Where each failure goes: the lock not granted within ``LOCK_WAIT_SECONDS``, the token endpoint or
Secrets Manager unavailable -> ``TransientSourceError`` (SQS retries); the endpoint refusing the
refresh token (400/401: unused for 14 days, revoked or replaced), a secret lacking a key, a secret
the collector may not write -> ``PermanentSourceError`` saying to run ``upwork authorize``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from charlee_collector.core.clock import utcnow
from charlee_collector.core.credentials import OAUTH_FOLDER
from charlee_collector.core.errors import PermanentSourceError, SourceError, TransientSourceError
from charlee_collector.fetching.client import Fetcher
from charlee_collector.observability.logger import logger
from charlee_collector.observability.redaction import register_secret_values
from charlee_collector.store.named_locks import hold_named_lock

T = TypeVar("T")

# A token this close to its expiry is refreshed first: it must last through the collection.
EXPIRY_MARGIN = timedelta(minutes=5)
# What the token endpoint's answer lacks an ``expires_in`` for: Upwork's access tokens last 24 h.
DEFAULT_ACCESS_LIFETIME = timedelta(hours=24)
# Upwork: a refresh token unused for 14 days is dead, and a new authorisation is needed.
REFRESH_TOKEN_LIFETIME = timedelta(days=14)
# ``status`` warns when a refresh token has less than this left.
REFRESH_WARNING = timedelta(days=4)
# The longest a collector waits for another's refresh (one token request, one secret write).
LOCK_WAIT_SECONDS = 30.0
REQUIRED_KEYS = ("client_id", "client_secret", "token_url", "refresh_token")
AUTHORIZE_AGAIN = "run `charlee-collector upwork authorize` again"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None  # unreadable: treated as expired, so a refresh mends it


@dataclass(frozen=True)
class OAuthGrant:
    """The tokens of one credentials secret (see the module docstring for its keys)."""

    client_id: str
    client_secret: str
    token_url: str
    refresh_token: str
    refresh_token_issued_at: datetime | None = None
    access_token: str | None = None
    access_token_expires_at: datetime | None = None

    @classmethod
    def from_secret(cls, values: Mapping[str, str], name: str) -> OAuthGrant:
        """The grant a secret holds; ``PermanentSourceError`` naming the keys it lacks."""
        missing = [key for key in REQUIRED_KEYS if not values.get(key)]
        if missing:
            raise PermanentSourceError(
                f"credentials secret {name} lacks {', '.join(missing)} of an OAuth2 grant: {AUTHORIZE_AGAIN}"
            )
        return cls(
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            token_url=values["token_url"],
            refresh_token=values["refresh_token"],
            refresh_token_issued_at=_time(values.get("refresh_token_issued_at")),
            access_token=values.get("access_token") or None,
            access_token_expires_at=_time(values.get("access_token_expires_at")),
        )

    def secret_values(self) -> dict[str, str]:
        """The grant as the secret stores it."""
        values = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_url": self.token_url,
            "refresh_token": self.refresh_token,
            "refresh_token_issued_at": _iso(self.refresh_token_issued_at),
            "access_token": self.access_token or "",
            "access_token_expires_at": _iso(self.access_token_expires_at),
        }
        return {key: value for key, value in values.items() if value}

    def usable(self, now: datetime) -> bool:
        """Whether the access token lasts past ``EXPIRY_MARGIN`` from ``now``."""
        expires = self.access_token_expires_at
        return bool(self.access_token) and expires is not None and expires - EXPIRY_MARGIN > now

    @property
    def refresh_token_dies_at(self) -> datetime | None:
        """When the refresh token dies if it is not used before (unknown: ``None``)."""
        issued = self.refresh_token_issued_at
        return issued + REFRESH_TOKEN_LIFETIME if issued else None

    def renewed(self, answer: Mapping[str, Any], now: datetime) -> OAuthGrant:
        """The grant after a token endpoint's ``answer``; a refresh token it does not rotate is kept."""
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise PermanentSourceError(
                f"the token endpoint {self.token_url} answered without an access_token"
            )
        expires_in = answer.get("expires_in")
        lifetime = (
            timedelta(seconds=int(expires_in))
            if isinstance(expires_in, int | str) and str(expires_in).isdigit()
            else DEFAULT_ACCESS_LIFETIME
        )
        rotated = answer.get("refresh_token")
        grant = replace(self, access_token=access, access_token_expires_at=now + lifetime)
        if isinstance(rotated, str) and rotated and rotated != self.refresh_token:
            grant = replace(grant, refresh_token=rotated, refresh_token_issued_at=now)
        return grant


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def request_tokens(fetcher: Fetcher, token_url: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The token endpoint's JSON answer to ``form`` (an authorization code or a refresh token).

    400 and 401 (the grant refused) are permanent, with the advice to authorise again.
    """
    try:
        response = fetcher.post(
            token_url,
            content=urlencode(form).encode(),
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
        )
    except PermanentSourceError as exc:
        if exc.http_status in (400, 401):
            raise PermanentSourceError(
                f"the token endpoint refused the grant (HTTP {exc.http_status}): the refresh token was "
                f"unused for 14 days, revoked or replaced, or the code has expired; {AUTHORIZE_AGAIN}",
                http_status=exc.http_status,
            ) from None
        raise
    try:
        answer = json.loads(response.body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise PermanentSourceError(f"the token endpoint {token_url} did not answer with a JSON object")
    register_secret_values(str(value) for key, value in answer.items() if key.endswith("token"))
    return answer


class TokenSecrets(Protocol):
    """Where the grants live: read (never cached) and written back."""

    def read(self, name: str) -> dict[str, str]: ...

    def write(self, name: str, values: Mapping[str, str]) -> None: ...


class SecretsManagerTokens:
    """``TokenSecrets`` in AWS Secrets Manager (``GetSecretValue``, ``PutSecretValue``)."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            from charlee_collector.core.aws import aws_region

            self._client = boto3.client("secretsmanager", region_name=aws_region())
        return self._client

    def read(self, name: str) -> dict[str, str]:
        try:
            value = json.loads(self.client.get_secret_value(SecretId=name)["SecretString"])
        except ValueError:
            raise PermanentSourceError(f"credentials secret {name} is not a JSON object") from None
        except Exception as exc:
            raise _aws_failure(exc, f"credentials secret {name} cannot be read") from None
        if not isinstance(value, dict):
            raise PermanentSourceError(f"credentials secret {name} is not a JSON object")
        secrets = {str(key): str(item) for key, item in value.items()}
        register_secret_values(secrets.values())
        return secrets

    def write(self, name: str, values: Mapping[str, str]) -> None:
        try:
            self.client.put_secret_value(SecretId=name, SecretString=json.dumps(dict(values)))
        except Exception as exc:
            raise _aws_failure(exc, f"credentials secret {name} cannot be written") from None

    def save(self, name: str, values: Mapping[str, str]) -> None:
        """``write``, creating the secret when there is none (the operator's ``upwork authorize``;
        the collector only ever writes a secret that exists)."""
        try:
            self.client.create_secret(Name=name, SecretString=json.dumps(dict(values)))
            return
        except Exception as exc:
            from charlee_collector.core.aws import aws_error_code

            if aws_error_code(exc) != "ResourceExistsException":
                raise _aws_failure(exc, f"credentials secret {name} cannot be created") from None
        self.write(name, values)


def _aws_failure(exc: Exception, what: str) -> SourceError:
    from charlee_collector.core.aws import aws_cause, aws_error_code

    code = aws_error_code(exc)
    if code in ("ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"):
        return PermanentSourceError(
            f"{what} ({code}): check its name and the collector's policy (grants live under "
            f"charlee/<stack>/{OAUTH_FOLDER}, the only secrets it may write)"
        )
    return TransientSourceError(f"{what}: {aws_cause(exc)}")


class PlatformTokens:
    """The access token of one collection of one platform (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        fetcher: Fetcher,
        store: TokenSecrets,
        name: str,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.fetcher = fetcher  # the collection's: its deadline bounds the refresh too
        self.store = store
        self.name = name
        self.clock = clock

    def collect(self, secrets: Mapping[str, str], fetch: Callable[[Mapping[str, str]], T]) -> T:
        """``fetch(secrets)`` with a fresh access token; once more with a renewed one after a 401."""
        fresh = self.fresh(secrets)
        try:
            return fetch(fresh)
        except PermanentSourceError as exc:
            if exc.http_status != 401:
                raise
            logger.info("access token refused (401); renewing it once")
            renewed = self.fresh(fresh, rejected=fresh.get("access_token"))
        return fetch(renewed)  # a second 401 is the source's answer: a failed run

    def fresh(self, secrets: Mapping[str, str], *, rejected: str | None = None) -> dict[str, str]:
        """``secrets`` with an access token that lasts the collection (and is not ``rejected``)."""
        grant = OAuthGrant.from_secret(secrets, self.name)
        if rejected is None and grant.usable(self.clock()):
            return dict(secrets)
        wait = max(1.0, min(LOCK_WAIT_SECONDS, self.fetcher.deadline.remaining() - 5.0))
        try:
            with self.engine.begin() as conn:
                hold_named_lock(conn, f"oauth:{self.name}", wait_seconds=wait)
                return self._refresh_locked(rejected)
        except DBAPIError as exc:
            raise TransientSourceError(
                f"the token lock of credentials secret {self.name} was not granted within {wait:g} s, "
                f"or the database did not answer ({type(exc).__name__}); the collection will be retried"
            ) from None

    def _refresh_locked(self, rejected: str | None) -> dict[str, str]:
        stored = self.store.read(self.name)  # never the cached copy: it may be the one refreshed away
        grant = OAuthGrant.from_secret(stored, self.name)
        if grant.access_token != rejected and grant.usable(self.clock()):
            return stored  # another collector refreshed while this one waited for the lock
        answer = request_tokens(
            self.fetcher,
            grant.token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": grant.refresh_token,
                "client_id": grant.client_id,
                "client_secret": grant.client_secret,
            },
        )
        values = {**stored, **grant.renewed(answer, self.clock()).secret_values()}
        # Written before the lock is let go. Should the write fail, the old refresh token still
        # lives a day (Upwork's rotation), so the next collection's refresh mends it.
        self.store.write(self.name, values)
        logger.info("access token refreshed", extra={"secret": self.name})
        return values
