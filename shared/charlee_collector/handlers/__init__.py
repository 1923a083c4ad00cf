"""The Lambda handler bodies: parse the event, call one function of ``app``, shape the answer.

``collector``        SQS batch -> one collection per record, partial failures reported
``dispatcher``       scheduled tick / {"user_id"} / {"platform_ids"} -> collect messages, then the outbox
``notifier``         SQS batch of OpportunitiesCollected events -> instant alerts, refused ones reported
``migrate``          the schema to the newest revision (by hand, or the custom resource)
``schema_resource``  the CloudFormation custom resource's protocol around ``migrate``
``functions/*/*_handler.py`` only import these and local mode calls them: one handler path.
May import everything below it.
"""
