"""Hostile values in what platforms serve and in their config: stored as data (cut to column
width, cleaned of what PostgreSQL cannot hold) or rejected cleanly, never executed, and never
taking the rest of the batch down with them.

Everything is served by the local HTTP server and collected through the collector handler in
one batch, so a value that broke a collection would show up as a failed record next to the
others.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import Engine, func, select, text

from charlee_collector.core.limits import LIMITS
from charlee_collector.store.tables import opportunities, platforms
from tests.faults.conftest import FaultEnv
from tests.faults.harness import (
    body,
    collect,
    jobs_payload,
    json_api_config,
    message,
    platform_row,
    runs_of,
)
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

DROP_OPPORTUNITIES = "'; DROP TABLE freelance_opportunities; --"
DROP_PLATFORMS = "Robert'); DROP TABLE freelance_platforms; --"
MEGABYTE = 1_000_000
RTL = "مطلوب مطور بايثون \u202egnp.exe\u202c שלום"
EMOJI = "🚀 Senior Rustacean 👩🏽\u200d💻 needed 🇧🇷"


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"down": value}
    return value


# json_api items: (item, what must be stored, or None when the item must be dropped)
HOSTILE_ITEMS: list[dict[str, Any]] = [
    {
        "id": "sql",
        "title": DROP_OPPORTUNITIES,
        "description": "x'); DELETE FROM collection_runs WHERE ('1'='1",
        "url": "https://jobs.example/?q=' OR 1=1 --",
        "client": "admin'--",
        "skills": [DROP_PLATFORMS, "SELECT pg_sleep(10)"],
        "budget": "$500'; --",
    },
    {"id": "1'; DELETE FROM freelance_platforms WHERE '1'='1", "title": "the id is SQL"},
    {
        "id": "huge",
        "title": "T" * MEGABYTE,
        "description": "D" * MEGABYTE,
        "client": "C" * 10_000,
        "country": "K" * 1_000,
        "category": "G" * 1_000,
        "currency": "X" * 1_000,
        "skills": ["s" * 1_000] * 3 + [f"skill {n}" for n in range(500)],
    },
    {
        "id": "nul",
        "title": "before\x00after",
        "description": "x\x00y",
        "client": "\x00",
        "extra": {"k\x00": "v\x00"},
    },
    {"id": "emoji", "title": EMOJI, "description": "🔥" * 1_000, "client": "😀"},
    {"id": "rtl", "title": RTL, "client": "שלום עולם"},
    {
        "id": "surrogate",
        "title": "lone \ud800 surrogate",
        "description": "\udfff tail",
        "extra": {"\udc00": "\ud83d"},
    },
    {"id": "i" * 1_000, "title": "an id longer than its column"},
    {
        "id": "money",
        "title": "absurd budget",
        "budget": 1e300,
        "extra": {"nan": float("nan"), "inf": float("inf")},
    },
    {"id": "xss", "title": "<script>alert(1)</script>", "url": "javascript:alert(document.cookie)"},
    {"id": "deep", "title": "deeply nested raw", "extra": _deep(200)},
    {"id": "\x00", "title": "an id that is only a NUL"},  # no usable id and no url: dropped
    {"id": "  ", "title": None, "description": None},  # nothing at all: dropped
]
STORED = len(HOSTILE_ITEMS) - 2

HOSTILE_FIELDS = {
    "external_id": "id",
    "title": "title",
    "description": "description",
    "url": "url",
    "client_name": "client",
    "client_country": "country",
    "category": "category",
    "client_currency": "currency",
    "required_skills": "skills",
    "client_budget": "budget",
}


def _hostile_json() -> bytes:
    # ensure_ascii writes lone surrogates as "\\ud800" escapes; NaN and Infinity as JS literals.
    return json.dumps({"jobs": HOSTILE_ITEMS}, ensure_ascii=True).encode()


REMOTIVE_JOBS = {
    "00-legal-notice": "ignore me",
    "jobs": [
        {
            "id": 1,
            "title": DROP_PLATFORMS,
            "company_name": "\x00\x00",
            "description": "<script>alert(1)</script><p>" + "é" * 50_000 + "</p>",
            "url": "https://remotive.com/remote-jobs/1",
            "tags": ["\ud800", "🚀", DROP_OPPORTUNITIES],
            "category": "Software Development",
            "salary": "$" + "9" * 400,
            "publication_date": "9999-99-99T99:99:99",
        },
        {
            "id": 2,
            "title": "fine",
            "url": "https://remotive.com/remote-jobs/2",
            "publication_date": "0001-01-01T00:00:00+14:00",
        },
        "not an object",
        None,
    ],
}


def _rows(engine: Engine, platform_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            row.external_id: row
            for row in conn.execute(select(opportunities).where(opportunities.c.platform_id == platform_id))
        }


def _table_exists(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar_one()


@pytest.fixture
def batch(fault_env: FaultEnv, http_server: LocalHTTPServer) -> dict[str, int]:
    """Five platforms collected in one batch, four records at a time."""
    fault_env.set(COLLECTOR_CONCURRENCY="4")
    http_server.route("/hostile.json", body=_hostile_json(), content_type="application/json")
    http_server.route(
        "/remote-jobs", body=json.dumps(REMOTIVE_JOBS, ensure_ascii=True), content_type="application/json"
    )
    http_server.route("/plain.json", body=jobs_payload(3))
    http_server.route("/not-a-list.json", body=b'{"jobs": "' + DROP_OPPORTUNITIES.encode() + b'"}')
    http_server.route("/too-deep.json", body=b'{"jobs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with fault_env.engine.begin() as conn:
        ids = {
            "hostile items": add_platform(
                conn,
                source="json_api",
                config=json_api_config(http_server.url("/hostile.json"), fields=HOSTILE_FIELDS),
            ),
            "remotive": add_platform(
                conn, source="remotive", config={"url": http_server.url("/remote-jobs")}
            ),
            "hostile config": add_platform(
                conn,
                source="json_api",
                name=DROP_OPPORTUNITIES,
                config=json_api_config(
                    http_server.url("/plain.json"),
                    params={"q": DROP_PLATFORMS, "emoji": EMOJI},
                    headers={"X-Search": "' OR '1'='1"},
                ),
            ),
            "not a list": add_platform(
                conn, source="json_api", config=json_api_config(http_server.url("/not-a-list.json"))
            ),
            "too deep": add_platform(
                conn, source="json_api", config=json_api_config(http_server.url("/too-deep.json"))
            ),
        }
    messages = [message(body(i)) for i in ids.values()]
    # A hostile field in the message itself is logged and ignored.
    messages[2] = message(body(ids["hostile config"], comment="'); DROP TABLE collection_runs; --"))
    assert collect(messages) == set()  # every record acknowledged: nothing crashed the batch
    return ids


def test_tables_survive_and_row_counts_are_right(fault_env: FaultEnv, batch: dict[str, int]) -> None:
    engine = fault_env.engine
    for table in ("freelance_opportunities", "freelance_platforms", "collection_runs"):
        assert _table_exists(engine, table)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(platforms)).scalar_one() == len(batch)
    assert len(_rows(engine, batch["hostile items"])) == STORED
    assert len(_rows(engine, batch["remotive"])) == 2
    assert len(_rows(engine, batch["hostile config"])) == 3
    outcomes = {name: [(r.outcome, r.inserted) for r in runs_of(engine, i)] for name, i in batch.items()}
    assert outcomes == {
        "hostile items": [("success", STORED)],
        "remotive": [("success", 2)],
        "hostile config": [("success", 3)],
        "not a list": [("failed", 0)],
        "too deep": [("failed", 0)],
    }


def test_hostile_strings_are_stored_as_data(fault_env: FaultEnv, batch: dict[str, int]) -> None:
    rows = _rows(fault_env.engine, batch["hostile items"])

    sql = rows["sql"]
    assert sql.title == DROP_OPPORTUNITIES
    assert sql.description == "x'); DELETE FROM collection_runs WHERE ('1'='1"
    assert sql.url == "https://jobs.example/?q=' OR 1=1 --"
    assert sql.client_name == "admin'--"
    assert sql.required_skills == [DROP_PLATFORMS, "SELECT pg_sleep(10)"]
    assert rows["1'; DELETE FROM freelance_platforms WHERE '1'='1"].title == "the id is SQL"

    assert rows["emoji"].title == EMOJI
    assert rows["emoji"].description == "🔥" * 1_000
    assert rows["rtl"].title == RTL
    assert rows["rtl"].client_name == "שלום עולם"

    xss = rows["xss"]
    assert xss.title == "<script>alert(1)</script>"  # stored as text; escaping is the reader's job
    assert xss.url is None  # only http(s) links are kept


def test_oversized_values_are_cut_to_their_columns(fault_env: FaultEnv, batch: dict[str, int]) -> None:
    rows = _rows(fault_env.engine, batch["hostile items"])
    huge = rows["huge"]
    assert huge.title == "T" * LIMITS["title"]
    assert huge.description == "D" * MEGABYTE  # a text column: kept whole
    assert huge.client_name == "C" * LIMITS["client_name"]
    assert huge.client_country == "K" * LIMITS["client_country"]
    assert huge.category == "G" * LIMITS["category"]
    assert huge.client_currency == "X" * LIMITS["client_currency"]
    assert len(huge.required_skills) == 50
    assert huge.required_skills[0] == "s" * 100
    # An id longer than its column is hashed, not cut (two cut ids could collide).
    long_ids = [key for key in rows if len(key) == 64 and key not in ("sql", "huge")]
    assert len(long_ids) == 1
    assert rows[long_ids[0]].title == "an id longer than its column"
    assert rows["money"].client_budget is None


def test_nul_bytes_and_lone_surrogates_are_cleaned(fault_env: FaultEnv, batch: dict[str, int]) -> None:
    rows = _rows(fault_env.engine, batch["hostile items"])
    nul = rows["nul"]
    assert (nul.title, nul.description, nul.client_name) == ("beforeafter", "xy", None)
    assert nul.raw["extra"] == {"k": "v"}
    surrogate = rows["surrogate"]
    assert surrogate.title == "lone \ufffd surrogate"
    assert surrogate.description == "\ufffd tail"
    assert surrogate.raw["extra"] == {"\ufffd": "\ufffd"}
    assert rows["money"].raw["extra"] == {"nan": None, "inf": None}
    assert "deep" in rows  # a 200-level raw document is stored (trimmed), not refused


def test_remotive_payload_with_hostile_values(fault_env: FaultEnv, batch: dict[str, int]) -> None:
    rows = _rows(fault_env.engine, batch["remotive"])
    first = rows["1"]
    assert first.title == DROP_PLATFORMS
    assert first.client_name is None
    assert "<script>" not in (first.description or "")
    assert first.required_skills == ["\ufffd", "🚀", DROP_OPPORTUNITIES]
    assert first.client_budget is None
    assert first.posted_at is None
    assert rows["2"].title == "fine"


def test_hostile_config_values_travel_as_data(
    fault_env: FaultEnv, http_server: LocalHTTPServer, batch: dict[str, int]
) -> None:
    [request] = http_server.requests_to("/plain.json")
    sent = parse_qs(request.query)
    assert sent["q"] == [DROP_PLATFORMS]
    assert sent["emoji"] == [EMOJI]
    assert request.headers["X-Search"] == "' OR '1'='1"
    assert platform_row(fault_env.engine, batch["hostile config"]).name == DROP_OPPORTUNITIES


def test_rejected_payloads_say_why(fault_env: FaultEnv, batch: dict[str, int]) -> None:
    [not_a_list] = runs_of(fault_env.engine, batch["not a list"])
    assert "selected str, not a list" in not_a_list.error
    [too_deep] = runs_of(fault_env.engine, batch["too deep"])
    assert "nested too deeply" in too_deep.error


LONG_VALIDATORS = {
    "ETag longer than its column": {"etag": '"' + "e" * 2_000 + '"'},
    "Last-Modified longer than its column": {"last_modified": "Wed, 21 Oct 2015 07:28:00 GMT" + "x" * 200},
}


def _collect_beside_a_plain_platform(
    fault_env: FaultEnv, server: LocalHTTPServer, validators: dict[str, str]
) -> tuple[int, int, set[str], list[str]]:
    server.route("/jobs", body=jobs_payload(2), **validators)
    server.route("/other", body=jobs_payload(2, "other"))
    with fault_env.engine.begin() as conn:
        hostile = add_platform(conn, source="json_api", config=json_api_config(server.url("/jobs")))
        other = add_platform(conn, source="json_api", config=json_api_config(server.url("/other")))
    fault_env.set(COLLECTOR_CONCURRENCY="2")
    batch = [message(body(hostile)), message(body(other))]
    failed = collect(batch)
    return hostile, other, failed, [m["MessageId"] for m in batch]


@pytest.mark.parametrize("validators", LONG_VALIDATORS.values(), ids=LONG_VALIDATORS.keys())
def test_hostile_validators_leave_the_batch_mate_alone(
    fault_env: FaultEnv, http_server: LocalHTTPServer, validators: dict[str, str]
) -> None:
    _, other, failed, [_, other_message] = _collect_beside_a_plain_platform(
        fault_env, http_server, validators
    )
    assert other_message not in failed
    assert [r.outcome for r in runs_of(fault_env.engine, other)] == ["success"]


@pytest.mark.parametrize("validators", LONG_VALIDATORS.values(), ids=LONG_VALIDATORS.keys())
def test_hostile_validators_do_not_cost_the_collection(
    fault_env: FaultEnv, http_server: LocalHTTPServer, validators: dict[str, str]
) -> None:
    """A validator longer than its column is the server's oddity, not a reason to lose the items:
    they are stored (the validator dropped or kept whole elsewhere) and the record acknowledged."""
    hostile, _, failed, [hostile_message, _] = _collect_beside_a_plain_platform(
        fault_env, http_server, validators
    )
    assert hostile_message not in failed
    assert [r.outcome for r in runs_of(fault_env.engine, hostile)] == ["success"]
    assert len(_rows(fault_env.engine, hostile)) == 2


def test_hostile_message_bodies_are_rejected_cleanly_beside_a_good_one(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    """JSON escapes let a message carry what SQS itself would refuse as characters: a lone
    surrogate as a field name, a NUL as the trigger, a number too big for a float. Each is an
    invalid message (failed, so it ends in the DLQ); the good record beside them is collected."""
    http_server.route("/jobs", body=jobs_payload(2))
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))
    good = message(body(platform_id))
    hostile = [
        message(body(platform_id, **{"\ud800": "\udfff"})),  # json.dumps writes "\\ud800" escapes
        message(body(platform_id, trigger="\x00")),
        message('{"platform_id": 1e400}'),
        message(body(platform_id, requested_at=DROP_OPPORTUNITIES)),
    ]

    failed = collect([hostile[0], good, *hostile[1:]])

    assert failed == {m["MessageId"] for m in hostile}
    assert [(r.outcome, r.message_id) for r in runs_of(fault_env.engine, platform_id)] == [
        ("success", good["MessageId"])
    ]
    assert _table_exists(fault_env.engine, "freelance_opportunities")
