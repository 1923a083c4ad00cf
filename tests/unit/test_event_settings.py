"""The events' settings, and what the dispatcher's cold start imports for them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from charlee_collector.core.errors import ConfigurationError
from charlee_collector.core.settings import Settings
from tests.support.cfn_yaml import ROOT


def test_event_settings_are_read_and_the_webhook_url_never_shown() -> None:
    settings = Settings.from_env(
        {
            "EVENT_BUS_NAME": "charlee-collector-events",
            "EVENTS_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/secret-token",
            "EVENTS_WEBHOOK_FORMAT": "Discord",
        }
    )
    assert (settings.event_bus_name, settings.events_webhook_format) == (
        "charlee-collector-events",
        "discord",
    )
    assert "secret-token" not in repr(settings)
    defaults = Settings.from_env({})
    assert (defaults.event_bus_name, defaults.events_webhook_url, defaults.events_webhook_format) == (
        None,
        None,
        "slack",
    )


def test_an_unknown_webhook_format_fails_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="EVENTS_WEBHOOK_FORMAT"):
        Settings.from_env({"EVENTS_WEBHOOK_FORMAT": "teams"})


def test_the_dispatcher_publishes_events_without_importing_the_parsers_or_httpx() -> None:
    code = (
        "import sys; sys.path.insert(0, 'functions/dispatcher'); import dispatcher_handler; "
        "from charlee_collector.app import collected_event, publishing; "
        "print(sorted(m for m in ('lxml', 'httpx', 'feedparser') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"
