"""``charlee-collector local run``: the whole pipeline on one machine, as ``make run`` runs it.

Dispatcher handler -> in-process SQS -> poller -> collector handler -> the embedded PostgreSQL, against the local
HTTP server. A platform on a closed port is retried up to the DLQ and reported failed while the
others succeed; a fresh database gets the default public platforms, which offline all fail with
a network error without anything crashing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from charlee_collector.store.tables import opportunities, platforms, runs
from charlee_collector_tools.local import embedded_server
from charlee_collector_tools.local.defaults import DEFAULT_PLATFORMS
from tests.support.cli import FEED_ITEMS, Cli, local_cli, rss
from tests.support.factories import add_platform, add_platforms

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


@pytest.fixture
def cli(tmp_path: Path, embedded_home: Path) -> Cli:
    return local_cli(tmp_path, embedded_home)


@pytest.fixture
def local_db(local_engine: Engine) -> Engine:
    """The embedded default database the command uses (emptied after the test)."""
    return local_engine


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(opportunities)).scalar_one())


def test_local_run_collects_retries_and_reports(cli: Cli, http_server, local_db: Engine) -> None:
    http_server.route("/feed.xml", body=rss(), content_type="application/rss+xml")
    http_server.route_file("/remotive.json", FIXTURES / "remotive.json", content_type="application/json")
    # Platforms straight into the database (`platforms add` is tested in test_cli.py).
    with local_db.begin() as conn:
        feed = add_platform(conn, name="Feed", config={"url": http_server.url("/feed.xml")})
        api = add_platform(
            conn, name="API", source="remotive", config={"url": http_server.url("/remotive.json")}
        )
        down = add_platform(conn, name="Down", config={"url": "http://127.0.0.1:9/feed.xml"})

    first = cli("local", "run", "--json", expect=1)  # one platform failed

    outcomes = {o["platform_id"]: o for o in first.json}
    assert (outcomes[feed]["outcome"], outcomes[feed]["inserted"]) == ("success", len(FEED_ITEMS))
    assert outcomes[api]["outcome"] == "success" and outcomes[api]["inserted"] == outcomes[api]["fetched"] > 0
    assert outcomes[down]["outcome"] == "failed" and outcomes[down]["attempts"] == 5
    assert "127.0.0.1" in outcomes[down]["error"] and "dead-lettered" in outcomes[down]["error"]
    assert "will be retried" not in outcomes[down]["error"]  # it was not: it gave up
    assert stored(local_db) == len(FEED_ITEMS) + outcomes[api]["inserted"]

    # Just collected: nothing is due. Forced, everything runs again and nothing new is stored.
    assert "nothing is due" in cli("local", "run").stdout
    second = cli("local", "run", "--force", "--exit-zero")
    assert "Local run: 3 platform(s) dispatched, 0 new opportunities" in second.stdout
    assert stored(local_db) == len(FEED_ITEMS) + outcomes[api]["inserted"]


def successful_platforms(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(runs.c.platform_id).where(runs.c.outcome == "success")).scalars())


def test_one_tick_collects_hundreds_of_platforms_whatever_the_lambda_time_budget(
    cli: Cli, http_server, local_db: Engine
) -> None:
    """No simulated Lambda timeout cuts the local tick short: a time margin bigger than the
    dispatcher's 60 s would have stopped it before its first claim."""
    count = 300
    with local_db.begin() as conn:
        for n in range(count):
            http_server.route(
                f"/feeds/{n}.xml", body=rss([(f"Feed {n}: Python developer", FEED_ITEMS[0][1])])
            )
        ids = add_platforms(conn, count, config={"url": ""})
        for n, platform_id in enumerate(ids):
            conn.execute(
                platforms.update()
                .where(platforms.c.id == platform_id)
                .values(config={"url": http_server.url(f"/feeds/{n}.xml")})
            )

    result = cli("local", "run", timeout=600, env={"TIME_MARGIN_MS": "60000", "DISPATCH_BATCH_SIZE": "20"})

    assert f"Local run: {count} platform(s) dispatched, {count} new opportunities" in result.stdout
    assert successful_platforms(local_db) == set(ids)
    assert "did not finish" not in result.stderr


def test_a_tick_past_its_time_limit_says_how_many_it_left_and_exits_1(
    cli: Cli, http_server, local_db: Engine
) -> None:
    # 120 answers of 0.5 s each, at most 16 at once: at least 3.75 s of work for a 1 s limit.
    count = 120
    http_server.route("/slow.xml", body=rss(), delay=0.5)
    with local_db.begin() as conn:
        ids = add_platforms(conn, count, config={"url": http_server.url("/slow.xml")})

    result = cli("local", "run", "--time-limit", "1s", "--exit-zero", expect=1, timeout=600)

    match = re.search(r"the tick did not finish: (\d+) platform\(s\) left uncollected", result.stderr)
    assert match, result.stderr
    collected = successful_platforms(local_db)
    assert int(match.group(1)) == count - len(collected) > 0
    assert collected < set(ids)


def _offline(command: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command in a network namespace of its own (no network at all), when this system allows.

    As root, a namespace of the network alone. Otherwise a user namespace too, in which the
    process is root to itself: the embedded server's wheel would then try to run it as a user of
    its own, so the command is pointed at the (running) embedded database by its URL instead.
    """
    unshare = shutil.which("unshare")
    if not unshare:
        return command, env
    if os.geteuid() == 0 and subprocess.run([unshare, "-n", "true"], check=False).returncode == 0:
        return [unshare, "-n", *command], env
    if subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False).returncode == 0:
        url = embedded_server.database_url(Path(env["CHARLEE_HOME"]))
        return [unshare, "-rn", *command], {**env, "DATABASE_URL": url.render_as_string(hide_password=False)}
    return command, env


def test_local_run_on_an_empty_database_seeds_the_defaults_and_survives_offline(
    tmp_path: Path, embedded_home: Path, local_engine: Engine
) -> None:
    command, env = _offline(
        [sys.executable, "-m", "charlee_collector", "local", "run"],
        Cli(tmp_path, {"CHARLEE_HOME": str(embedded_home)}).base_env(),
    )
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)

    assert completed.returncode == 1, completed.stderr  # every platform failed: exit 1, not a crash
    assert "Traceback" not in completed.stderr
    assert f"added {len(DEFAULT_PLATFORMS)} default public ones" in completed.stderr
    assert f"Local run: {len(DEFAULT_PLATFORMS)} platform(s) dispatched" in completed.stdout
    for platform in DEFAULT_PLATFORMS:
        assert platform["name"] in completed.stdout
    rows = [line for line in completed.stdout.splitlines() if "│ failed " in line]
    assert len(rows) == len(DEFAULT_PLATFORMS)
    assert all("could not resolve host" in row or "could not connect" in row for row in rows), rows


def test_default_platforms_are_valid_configs() -> None:
    from charlee_collector import sources

    for platform in DEFAULT_PLATFORMS:
        sources.validate_config(platform["source"], platform["config"])
    assert len({p["source"] for p in DEFAULT_PLATFORMS}) == len(DEFAULT_PLATFORMS)


def test_the_runner_calls_the_very_handlers_the_lambdas_run(
    http_server, local_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One handler path: the functions the Lambda entry points import, in-process, with the same
    events and the same answers (an installed wheel has no functions/ folder and needs none)."""
    import collector_handler
    import dispatcher_handler

    from charlee_collector.store.engine import dispose_engines
    from charlee_collector_tools.local.handlers import load_handlers
    from charlee_collector_tools.local.runner import LocalRunner, local_environment
    from charlee_collector_tools.local.sqs import local_sqs

    monkeypatch.setenv("COLLECTOR_ALLOW_PRIVATE_NETWORKS", "true")
    http_server.route("/feed.xml", body=rss())
    with local_db.begin() as conn:
        feed = add_platform(conn, name="Feed", config={"url": http_server.url("/feed.xml")})
        down = add_platform(conn, name="Down", config={"url": "http://127.0.0.1:9/feed.xml"})
    handlers = load_handlers()
    assert (handlers.collector, handlers.dispatcher) == (
        collector_handler.handler,
        dispatcher_handler.handler,
    )

    try:
        with local_environment({"DATABASE_URL": str(local_db.url)}), local_sqs() as sqs:
            monkeypatch.setenv("COLLECT_QUEUE_URL", sqs.queues.queue_url)
            report = LocalRunner(local_db, sqs, handlers=handlers).tick()
    finally:
        dispose_engines()  # the handlers' engine, cached by the runtime

    outcomes = {p.platform_id: p for p in report.platforms}
    assert (outcomes[feed].outcome, outcomes[feed].inserted) == ("success", len(FEED_ITEMS))
    assert (outcomes[down].outcome, outcomes[down].attempts) == ("failed", 5)
    assert report.failed and [json.loads(d.body)["platform_id"] for d in report.dead_lettered] == [down]


def test_a_local_tick_alerts_through_the_notifier_handler_once(
    http_server, local_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local mode delivers alerts with the notifier Lambda's handler: the tick's events in one
    batch (one message for the burst), the channel's secret read from (the mocked) Secrets
    Manager; a second tick with nothing new sends nothing."""
    import boto3
    import notifier_handler

    from charlee_collector.store.engine import dispose_engines
    from charlee_collector_tools.local.handlers import load_handlers
    from charlee_collector_tools.local.runner import LocalRunner, local_environment
    from charlee_collector_tools.local.sqs import local_sqs
    from tests.support.alerts import add_rule

    monkeypatch.setenv("COLLECTOR_ALLOW_PRIVATE_NETWORKS", "true")
    more = [*FEED_ITEMS, ("Initech: Python Contractor", "Thu, 04 Jun 2026 10:00:00 +0000")]
    http_server.route("/alerting-feed.xml", body=rss(more))
    http_server.route("/hook", body="ok")
    with local_db.begin() as conn:
        add_platform(conn, name="Feed", config={"url": http_server.url("/alerting-feed.xml")})
        add_rule(conn, keywords=["python"], secret="charlee/local/alerts/hook")
    handlers = load_handlers()
    assert handlers.notifier is notifier_handler.handler
    try:
        with local_environment({"DATABASE_URL": str(local_db.url)}), local_sqs() as sqs:
            monkeypatch.setenv("COLLECT_QUEUE_URL", sqs.queues.queue_url)
            boto3.client("secretsmanager").create_secret(
                Name="charlee/local/alerts/hook", SecretString=json.dumps({"url": http_server.url("/hook")})
            )
            runner = LocalRunner(local_db, sqs, handlers=handlers)
            runner.tick()
            runner.tick(force=True)  # collected again: nothing new, nothing sent
    finally:
        dispose_engines()
    [alert] = http_server.requests_to("/hook")
    text = json.loads(alert.body)["text"]
    assert text.startswith("*2 new jobs for your alert")
    assert "Globex: Python Freelancer" in text and "Initech: Python Contractor" in text
