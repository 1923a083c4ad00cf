"""The HTTP layer: a client that is polite, bounded, and refuses to reach our own network.

``client``     the client, the guarded transport, the collection's deadline, error mapping
``addresses``  which addresses may be fetched (private, metadata, IPv6 forms carrying IPv4)

May import: core.
"""
