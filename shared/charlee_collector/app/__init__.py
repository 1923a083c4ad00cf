"""The application: what one message or one tick does, built from the layers below.

``collect`` one collect message (load the platform, fetch through its source, store, record);
``dispatch`` one tick (claim due platforms, one SQS message each); ``publishing`` the
OpportunitiesCollected outbox; ``collected_event`` the event's shape; ``messages`` the collect
message and the dispatcher's events, validated; ``sqs_batch`` the collector's SQS batch; ``runtime``
the clients a process builds once; ``cpu_turns`` turns at the CPU; ``platform_secrets`` credentials;
``webhook_text`` what a webhook posts; ``source_health`` the tick's count of silent sources;
``oauth_tokens`` OAuth2 access tokens kept fresh; ``retention`` content purged when its terms say;
``scoring`` scores and duplicate keys at storage, and rescoring in batches.
May import: sources, politeness, fetching, normalize, store, observability, core.
"""
