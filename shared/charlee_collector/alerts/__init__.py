"""Telling a user about the jobs that match their alert rules: the message and its channels.

``message`` what an alert says (its jobs, cut to what a channel takes, with a link to the rest);
``channel_secrets`` what each channel's Secrets Manager secret holds, validated and read;
``http_delivery`` one POST with retries (backoff on 429/5xx, honouring Retry-After) and what the
channel answered; ``channels/`` one module per channel (Slack, Discord, Telegram, ntfy, a signed
JSON webhook, email through SES), each rendering the message in its own escaping and sending it,
and the registry that maps a rule's ``channel`` to its module.

May import: fetching, normalize (``chat_text``: the escaping the per-run webhook uses too),
observability, core. ``app`` (the notifier) imports this package, never the reverse.
"""
