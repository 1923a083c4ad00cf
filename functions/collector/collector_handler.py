"""The Collector Lambda's entry point (template.yaml: collector_handler.handler); the body is in the layer."""

from charlee_collector.handlers.collector import handler

__all__ = ["handler"]
