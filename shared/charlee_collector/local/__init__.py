"""The embedded local mode (DESIGN section 8): the same handlers on one machine, no AWS account.

``queue``     an SQS service in this process, O(1) per message (moto is O(n) per call)
``sqs``       that service with the collect queue and its DLQ, set up like the template
``handlers``  the Lambda handlers found in ``functions/`` (or their package fallbacks)
``poller``    the SQS event source stand-in: batches in (several at once), ``batchItemFailures`` honoured
``events``    the event bus stand-in: PutEvents checked as EventBridge does, the webhook posted
``defaults``  the public platforms a fresh database starts with
``runner``    one tick: dispatch everything due -> drain -> per-platform summary, or the count left
"""
