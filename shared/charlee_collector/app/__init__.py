"""The application: what one message or one tick does, built from the layers below.

``collect``          one collect message: load the platform, fetch through its source, store, record
``dispatch``         one tick: claim due platforms, send one SQS message each
``publishing``       the OpportunitiesCollected outbox: publish after the commit, then on each tick
``collected_event``  the event's shape (ids, counts, the summary a webhook shows)
``messages``         the collect message and the dispatcher's events, validated
``sqs_batch``        the collector's SQS batch: records at once, each inside the time left
``runtime``          the clients one process builds once (engine, HTTP, SQS, EventBridge)
``cpu_turns``        collections take turns at the CPU
``platform_secrets`` a platform's credentials from Secrets Manager

May import: sources, politeness, fetching, normalize, store, observability, core.
"""
