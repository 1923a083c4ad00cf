"""The channels an alert can go to, one module each, and ``send_alert``: the secret checked, the
message rendered and sent by the rule's channel. Every failure comes back as a ``ChannelAnswer``
except a secret that does not fit (``InvalidChannelSecret``: no retry can help)."""

from __future__ import annotations

from typing import Any

from charlee_collector.alerts.channel_secrets import parse_channel_secret
from charlee_collector.alerts.channels import discord, email, ntfy, slack, telegram, webhook
from charlee_collector.alerts.channels.base import Channel, Transports
from charlee_collector.alerts.http_delivery import ChannelAnswer
from charlee_collector.alerts.message import AlertMessage

CHANNEL_SENDERS: dict[str, Channel] = {
    "slack": slack.send,
    "discord": discord.send,
    "telegram": telegram.send,
    "ntfy": ntfy.send,
    "webhook": webhook.send,
    "email": email.send,
}


def send_alert(channel: str, secret_value: Any, message: AlertMessage, via: Transports) -> ChannelAnswer:
    """Send ``message`` on ``channel`` with the credentials in ``secret_value`` (its secret's JSON)."""
    return CHANNEL_SENDERS[channel](message, parse_channel_secret(channel, secret_value), via)


__all__ = ["CHANNEL_SENDERS", "ChannelAnswer", "Transports", "send_alert"]
