"""The local mode: the same handlers on one machine, no AWS account.

``queue``     an SQS service in this process, O(1) per message; ``sqs`` its queues, as the template's
``handlers``  the Lambda handler functions themselves, and a Lambda context to call them with
``poller``    the SQS event source stand-in: batches in (several at once), ``batchItemFailures`` honoured
``event_bus`` the event bus stand-in: PutEvents checked as EventBridge does, the webhook posted
``defaults``  the public platforms a fresh database starts with
``runner``    one tick: dispatch everything due -> drain -> per-platform summary, or the count left
"""
