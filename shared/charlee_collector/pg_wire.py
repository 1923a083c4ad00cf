"""The PostgreSQL connection the engine opens: pg8000's, with a statement in one round trip.

pg8000 1.31 runs each parameterised statement (and each COMMIT) in three round trips to the
server: Parse and Sync, then Describe and Sync, then Bind, Execute and Sync, each waited for. On
this machine a round trip costs ~0.1 ms of the collector's CPU (two system calls and the message
handling) and as much of the server's; a collection runs ~25 statements. ``Connection`` sends
Parse, Bind, Describe (of the portal), Execute and Sync in one write and reads the answers
once, as libpq's PQexecParams does. The messages are pg8000's own, and so is the reading of the
answers: an error at any step is answered after Sync like before, and pg8000 raises it.

Three more per-statement costs are cut here: timestamps are read with ``datetime.fromisoformat``
(pg8000's ``strptime`` cost ~30 us a value; anything that does not read falls back to it),
``BEGIN`` is sent together with the transaction's first statement instead of on its own, and a
row description is read once per connection (the same statement is described the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pg8000.legacy
from pg8000 import converters, core

TIMESTAMP_OID = 1114
TIMESTAMPTZ_OID = 1184
_BEGIN = "begin transaction"
_DESCRIPTIONS_KEPT = 256  # per connection; the collector runs a few dozen distinct statements


def _iso_or(fallback: Callable[[str], Any]) -> Callable[[str], Any]:
    """A reader of PostgreSQL's timestamp text ("2026-12-01 15:29:03.12+00") that leaves what
    ``fromisoformat`` cannot read (infinity, BC dates, years past 9999) to pg8000's ``fallback``."""

    def read(data: str) -> Any:
        try:
            return datetime.fromisoformat(data)
        except ValueError:
            return fallback(data)

    return read


_timestamptz_in = _iso_or(converters.timestamptz_in)
_timestamp_in = _iso_or(converters.timestamp_in)


def connect(*args: Any, **kwargs: Any) -> Any:
    """A ``Connection``, wrapped the way instrumentation wraps ``pg8000.connect``'s: X-Ray's patch
    (Powertools Tracer, wrapt) turns it into a traced connection whose statements are subsegments."""
    instrumented = getattr(pg8000.connect, "_self_wrapper", None)  # a wrapt FunctionWrapper's
    if instrumented is None:
        return Connection(*args, **kwargs)
    return instrumented(Connection, None, args, kwargs)


class Connection(pg8000.legacy.Connection):
    """A pg8000 DB-API connection whose statements take one round trip each (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._row_descriptions: dict[bytes, tuple[Any, Any]] = {}  # before pg8000 reads any
        super().__init__(*args, **kwargs)
        self.register_in_adapter(TIMESTAMPTZ_OID, _timestamptz_in)
        self.register_in_adapter(TIMESTAMP_OID, _timestamp_in)
        self._begin_sent = False  # BEGIN written, its answer not read yet

    def register_in_adapter(self, oid: int, in_func: Any) -> None:
        super().register_in_adapter(oid, in_func)
        self._row_descriptions.clear()  # their readers were looked up among the old adapters

    def handle_ROW_DESCRIPTION(self, data: bytes | bytearray, context: Any) -> None:
        # The same statement gets the same description each time: read once per connection
        # (pg8000 reads it field by field in Python, ~2 us a column).
        key = bytes(data)  # the same object when it is bytes already (handle_messages reads bytes)
        known = self._row_descriptions.get(key)
        if known is None:
            super().handle_ROW_DESCRIPTION(data, context)
            if len(self._row_descriptions) < _DESCRIPTIONS_KEPT:
                self._row_descriptions[key] = (context.columns, context.input_funcs)
            return
        context.columns, context.input_funcs = known
        if context.rows is None:
            context.rows = []

    def execute_simple(self, statement: str) -> Any:
        if statement == _BEGIN and not self._begin_sent:
            # Only the cursor's implicit BEGIN: held back and sent with the statement it precedes.
            self.send_QUERY(statement)
            self._begin_sent = True
            return core.Context(statement)
        context = core.Context(statement)
        self.send_QUERY(statement)
        core._flush(self._sock)
        self._read_begin(flushed=True)
        self.handle_messages(context)
        return context

    def ping(self) -> None:
        """One round trip that starts no transaction: the empty query (SQLAlchemy's ``SELECT 1``
        through a cursor would send BEGIN too, which a read outside a transaction must not)."""
        self.execute_simple("")

    def execute_unnamed(self, statement: str, vals: Any = (), oids: Any = (), stream: Any = None) -> Any:
        if stream is not None:  # COPY: pg8000's own exchange
            self._read_begin()
            return super().execute_unnamed(statement, vals=vals, oids=oids, stream=stream)
        # Converted before anything is written: a value pg8000 cannot send leaves nothing on the wire.
        params = core.make_params(self.py_types, vals)
        self.send_PARSE(core.NULL_BYTE, statement, oids)
        self.send_BIND(core.NULL_BYTE, params)
        self._send_message(core.DESCRIBE, core.PORTAL + core.NULL_BYTE)
        self.send_EXECUTE()
        core._write(self._sock, core.SYNC_MSG)
        core._flush(self._sock)
        self._read_begin(flushed=True)
        context = core.Context(statement)
        self.handle_messages(context)
        return context

    def handle_messages(self, context: Any) -> None:
        # pg8000's loop, reading each message with one buffered read instead of its ``_read``
        # (a bytearray, a loop and a copy per read: ~15 % of a statement's client CPU here).
        # As there, a socket error is raised as it is and a read cut short is a "network error".
        read = self._sock.read
        code = None
        while code != core.READY_FOR_QUERY:
            header = read(5)
            if len(header) != 5:
                raise core.InterfaceError("network error")
            code, length = core.ci_unpack(header)
            data = read(length - 4)
            if len(data) != length - 4:
                raise core.InterfaceError("network error")
            self.message_types[code](data, context)
        if context.error is not None:
            raise context.error

    def _read_begin(self, *, flushed: bool = False) -> None:
        """Read the answer to a held-back BEGIN (sending it first unless ``flushed``)."""
        if not self._begin_sent:
            return
        self._begin_sent = False
        if not flushed:
            core._flush(self._sock)
        self.handle_messages(core.Context(_BEGIN))

    # Everything else that talks to the server reads a held-back BEGIN's answer first.
    def rollback(self) -> None:
        self._read_begin()
        super().rollback()

    def prepare_statement(self, statement: str, oids: Any = None) -> Any:
        self._read_begin()
        return super().prepare_statement(statement, oids)

    def execute_named(self, *args: Any) -> Any:
        self._read_begin()
        return super().execute_named(*args)

    def close(self) -> None:
        self._begin_sent = False  # Terminate ends the session; a held-back BEGIN goes with it
        super().close()
