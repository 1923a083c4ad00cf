"""The Dispatcher Lambda's entry point (template.yaml: dispatcher_handler.handler); the body is in the layer."""

from charlee_collector.handlers.dispatcher import handler

__all__ = ["handler"]
