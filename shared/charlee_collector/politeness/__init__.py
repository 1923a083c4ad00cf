"""Politeness at scale: one upstream request per freshness window, limits per host.

``gate``            decides for each request: fetched, shared from another's fetch, or deferred
``shared_fetches``  the shared response cache: one row per request key, a lease per fetch in flight

May import: fetching, store, observability, core.
"""
