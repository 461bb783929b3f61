"""A fresh PostgreSQL database per test on the server named by FSM_RISK_TEST_POSTGRES.

`.ci/run` starts a throwaway server (see `.ci/postgres`) and exports the URL. In CI the URL
is required: a missing server fails the test. Elsewhere the test is skipped, saying why."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ENV = "FSM_RISK_TEST_POSTGRES"


def server_url() -> str:
    url = os.environ.get(ENV)
    if url:
        return url
    reason = f"no PostgreSQL server: {ENV} is not set (`.ci/postgres start` starts one)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the test server; dropped afterwards (open sessions ended)."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(server_url())
    name = f"fsm_risk_test_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: the ``params`` of a fixture that runs its tests on both backends (see `sqlite_or_postgresql`)
BACKENDS = ["sqlite", "postgresql"]


def sqlite_or_postgresql(request: pytest.FixtureRequest, sqlite_file: Path) -> Iterator[str | Path]:
    """For a fixture parametrised by `BACKENDS`: the SQLite file, or a fresh database on the
    PostgreSQL server (``yield from`` it)."""
    if request.param == "sqlite":
        yield sqlite_file
        return
    with fresh_database() as url:
        yield url
