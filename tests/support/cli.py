"""Run ``charlee-collector`` as a real subprocess (``python -m charlee_collector``) in a clean,
test-owned environment: HOME and CHARLEE_HOME in the test's tmp folder, no AWS settings from the
machine, a wide terminal so tables are not wrapped."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL

# Settings of the machine running the tests that must not leak into the command under test.
SCRUBBED_PREFIXES = (
    "AWS_",
    "COLLECT",
    "DATABASE_URL",
    "DB_",
    "POWERTOOLS_",
    "CHARLEE_",
    "HTTP_",
    "DISPATCH_",
)


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Cli:
    """``cli("platforms", "list")`` runs the command and returns its ``Result``."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
        env.update(
            HOME=str(self.home),
            CHARLEE_HOME=str(self.home / "charlee"),
            COLUMNS="250",
            NO_COLOR="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        return env

    def __call__(
        self, *args: str, expect: int | None = 0, timeout: float = 120, env: dict[str, str] | None = None
    ) -> Result:
        completed = subprocess.run(
            [sys.executable, "-m", "charlee_collector", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.base_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            check=False,
        )
        result = Result(completed.returncode, completed.stdout, completed.stderr)
        if expect is not None:
            assert result.code == expect, (
                f"`charlee-collector {' '.join(args)}` exited {result.code}, expected {expect}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        if result.code in (0, 1, 2):
            assert "Traceback" not in result.stderr, result.stderr
        return result

    def on_terminal(self, *args: str, columns: int, timeout: float = 120) -> Result:
        """Run the command with stdout on a pseudo-terminal ``columns`` wide (as a person sees it);
        stdout comes back with its escape sequences removed and line ends as ``\n``."""
        main, child = os.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "charlee_collector", *args],
            stdout=child,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={**self.base_env(), "COLUMNS": str(columns)},
        )
        os.close(child)
        chunks: list[bytes] = []
        try:
            while select.select([main], [], [], timeout)[0]:
                try:
                    data = os.read(main, 65536)
                except OSError:  # EIO: the command ended and its side of the terminal closed
                    break
                if not data:
                    break
                chunks.append(data)
            _, stderr = process.communicate(timeout=timeout)
        finally:
            os.close(main)
            if process.poll() is None:
                process.kill()
        stdout = ANSI_ESCAPE.sub("", b"".join(chunks).decode("utf-8")).replace("\r\n", "\n")
        return Result(process.returncode, stdout, stderr.decode("utf-8"))

    def json(self, *args: str, expect: int = 0) -> Any:
        """Run with ``--json``: stdout must be exactly one JSON document."""
        return self(*args, "--json", expect=expect).json


def postgres_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """The command on the test run's PostgreSQL database (emptied after the test), allowed to
    fetch from the local HTTP server."""
    request.getfixturevalue("pg_engine")  # truncates the tables when the test ends
    url: URL = request.getfixturevalue("postgres_url")
    return Cli(
        tmp_path,
        {
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true",
        },
    )


def local_cli(tmp_path: Path, embedded_home: Path, **env: str) -> Cli:
    """The command on its default database: no DATABASE_URL, so the embedded PostgreSQL of
    ``embedded_home`` (already running: started once per test run)."""
    return Cli(
        tmp_path, {"CHARLEE_HOME": str(embedded_home), "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true", **env}
    )


# --- a small feed for the local HTTP server ---------------------------------------------------

FEED_ITEMS = [
    ("Initrode: Senior Elixir Engineer", "Mon, 01 Jun 2026 10:00:00 +0000"),
    ("Vandelay: Frontend Developer", "Tue, 02 Jun 2026 10:00:00 +0000"),
    ("Globex: Python Freelancer", "Wed, 03 Jun 2026 10:00:00 +0000"),
]


def rss(items: list[tuple[str, str]] = FEED_ITEMS) -> str:
    """A small RSS feed, one item per (title, pubDate)."""
    entries = "".join(
        f"<item><title>{title}</title><link>https://example.org/jobs/{n}</link>"
        f"<guid>https://example.org/jobs/{n}</guid><description>About {title}</description>"
        f"<pubDate>{date}</pubDate></item>"
        for n, (title, date) in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'
