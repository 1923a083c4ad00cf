"""MigrateFunction's entry point (template.yaml: migrate_handler.handler); the body is in the layer."""

from charlee_collector.handlers.migrate import handler, migrate_schema

__all__ = ["handler", "migrate_schema"]
