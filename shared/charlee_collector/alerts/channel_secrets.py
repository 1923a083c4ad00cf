"""What each channel's secret holds (a JSON object in Secrets Manager, named by the rule), checked.

| channel | keys |
|---|---|
| slack, discord | ``url``: the incoming webhook |
| telegram | ``bot_token``, ``chat_id``; ``api_url`` (default ``https://api.telegram.org``) |
| ntfy | ``url``: the topic's (``https://ntfy.sh/my-topic``); ``token`` (an access token), optional |
| webhook | ``url``; ``signing_key``: the HMAC-SHA256 key the receiver checks with |
| email | ``to`` (one address or a list), ``from`` (an address SES may send from) |

A secret that does not fit raises ``InvalidChannelSecret`` naming the key, never its value; a URL
over ``http://`` to another machine is refused (``core/credentials.py``: the URL is the
credential).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from charlee_collector.core.credentials import refuse_in_clear
from charlee_collector.core.errors import InvalidChannelSecret

Text = Annotated[str, Field(min_length=1, max_length=2048)]


class _Secret(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _https(url: str) -> str:
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError("is an http(s) URL")
    refusal = refuse_in_clear([url])
    if refusal is not None:
        raise ValueError("is an https:// URL (it is a credential: never sent in clear)")
    return url


class WebhookUrl(_Secret):
    """Slack's and Discord's incoming webhooks."""

    url: Text
    _check_url = field_validator("url")(_https)


class TelegramBot(_Secret):
    """A bot's token and the chat it writes to."""

    bot_token: Text
    chat_id: Annotated[str, Field(min_length=1, max_length=100)]
    api_url: Text = "https://api.telegram.org"
    _check_url = field_validator("api_url")(_https)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id_as_text(cls, value: Any) -> Any:
        # A numeric chat id is often stored as a number; the API takes either.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class NtfyTopic(_Secret):
    """An ntfy topic's URL and, for a protected topic, an access token."""

    url: Text
    token: Text | None = None
    _check_url = field_validator("url")(_https)


class SignedWebhook(_Secret):
    """A generic JSON webhook and the key its body is signed with."""

    url: Text
    signing_key: Annotated[str, Field(min_length=16, max_length=1024)]
    _check_url = field_validator("url")(_https)


class EmailAddresses(_Secret):
    """Where an email goes and who sends it (an identity SES verified)."""

    to: Annotated[
        list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1, max_length=50)
    ]
    sender: Annotated[str, Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")]

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


SECRET_SHAPES: dict[str, type[_Secret]] = {
    "slack": WebhookUrl,
    "discord": WebhookUrl,
    "telegram": TelegramBot,
    "ntfy": NtfyTopic,
    "webhook": SignedWebhook,
    "email": EmailAddresses,
}


def parse_channel_secret(channel: str, value: Any) -> Any:
    """The secret of a ``channel`` rule, checked; ``InvalidChannelSecret`` names the key (no value)."""
    shape = SECRET_SHAPES[channel]
    if not isinstance(value, dict):
        raise InvalidChannelSecret(f"the {channel} secret is a JSON object with {_keys(shape)}")
    try:
        return shape.model_validate(value)
    except ValidationError as exc:
        # The message and the key only: pydantic's ``input`` would be the credential.
        problems = "; ".join(
            f"key {'.'.join(str(p) for p in d['loc']) or '(secret)'!r}: {d['msg']}" for d in exc.errors()[:5]
        )
        raise InvalidChannelSecret(f"the {channel} secret does not fit: {problems}") from None


def _keys(shape: type[_Secret]) -> str:
    return ", ".join((field.alias or name) for name, field in shape.model_fields.items())
