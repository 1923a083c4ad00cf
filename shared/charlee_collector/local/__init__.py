"""The embedded local mode (DESIGN section 8): the same handlers on one machine, no AWS account.

``sqs``       the in-process moto SQS with the collect queue and its DLQ
``handlers``  the Lambda handlers found in ``functions/`` (or their package fallbacks)
``poller``    the SQS event source stand-in: batches in, ``batchItemFailures`` honoured
``defaults``  the public platforms a fresh database starts with
``runner``    one tick: dispatch -> drain -> per-platform summary
"""
