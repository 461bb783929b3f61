"""A fresh PostgreSQL database per test on the server named by FSM_RISK_TEST_POSTGRES.

`.ci/run` starts a throwaway server (see `.ci/postgres`) and exports the URL. In CI the URL
is required: a missing server fails the test. Elsewhere the test is skipped, saying why."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
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


class Proxy:
    """A TCP relay to the server that can cut every connection and then swallow new ones
    (a server gone silent: connects are accepted by the kernel and never answered)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        target = make_url(url)
        self.target = (target.host or "127.0.0.1", int(target.port or 5432))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = target.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )
        self.silent = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.silent:
                continue  # held open, never answered
            upstream = socket.create_connection(self.target)
            self.sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Every connection dropped, and the next ones never answered."""
        self.silent = True
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        for s in self.sockets:
            s.close()
