"""A change through the SQLite database (`fsm-risk transition` or `lock` with no service
running) holds the service lock until its commit: a `serve` starting meanwhile is refused
rather than restoring the state from before the change and never seeing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsm_risk.adapters.store import Store
from fsm_risk.errors import FsmRiskError


def test_a_service_starting_during_an_offline_change_is_refused_until_it_is_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    cli, service = Store(path), Store(path)
    try:
        with cli.held_for_change("busy"), pytest.raises(FsmRiskError, match="holds the lease"):
            service.acquire_service_lock()
        service.acquire_service_lock()  # the change committed: the service starts
        assert service.service_running()
    finally:
        service.close()
        cli.close()


def test_an_offline_change_while_a_service_holds_the_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    service, cli = Store(path), Store(path)
    service.acquire_service_lock()
    try:
        entered = False
        with (
            pytest.raises(FsmRiskError, match="started meanwhile"),
            cli.held_for_change("a service started meanwhile"),
        ):
            entered = True
        assert not entered
        assert service.service_running()  # its lock is untouched by the refusal
    finally:
        cli.close()
        service.close()
