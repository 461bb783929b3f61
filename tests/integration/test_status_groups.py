"""`status` with no service answering, on a PostgreSQL server shared by two account groups:
group B's service is not running while group A's holds its lease (account 1001). B's status
must say no service runs, not that one holds the database but does not answer (A's lease was
taken for B's, and an operator would wait instead of starting B's service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fsm_risk import cli
from fsm_risk.adapters.store import Store
from tests.postgres import fresh_database


@pytest.fixture
def server() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_status_of_a_group_whose_service_is_down_is_not_another_groups_lease(
    server: str, tmp_path: Path
) -> None:
    b = tmp_path / "b.ini"
    b.write_text(
        f"[general]\naccounts = 1002\ndatabase = {server}\nlog_file = fsm.log\n"
        f"[rule.max_contracts]\nlimit = 5\n",
        encoding="utf-8",
    )
    holder = Store(server)  # group A's service: accounts 1001, running and answering
    try:
        holder.acquire_service_lock()
        holder.acquire_leases([1001])
        snap, live = cli._snapshot(str(b), None)
        assert not live
        assert snap["service_unanswering"] is False
    finally:
        holder.close()
