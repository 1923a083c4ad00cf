"""PostgreSQL: the engine, the tables, the statements of each table group, the migrations.

``engine`` one engine per process; ``tables`` the schema as SQLAlchemy Core tables; ``platforms``
claiming, releasing, loading and locking platforms; ``opportunities`` the bulk upsert; ``runs``
recording a run and moving its platform on; ``silence`` the sources whose runs stopped yielding;
``host_slots`` per-host request limits and leases; ``named_locks`` a lock on a name (an OAuth
refresh); ``retention`` purging content kept too long; ``profiles`` users' scoring profiles and
their rescoring cursor; ``alert_rules`` users' alert rules; ``duplicates`` linking new rows to the job they repeat; ``migrate`` and
``migrations/`` Alembic; ``unsupported_databases`` the refusal of anything else.

May import: observability, core. Every function takes a connection and never commits.
"""
