"""Shared fixtures: a real PostgreSQL (and SQLite) database, the local HTTP server, moto AWS."""

pytest_plugins = [
    "tests.support.db",
    "tests.support.aws",
    "tests.support.http_server",
    "tests.support.moto_server",
    "tests.support.pipeline",
]
