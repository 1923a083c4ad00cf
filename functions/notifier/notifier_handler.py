"""The Notifier Lambda's entry point (template.yaml: notifier_handler.handler); the body is in the layer."""

from charlee_collector.handlers.notifier import handler

__all__ = ["handler"]
