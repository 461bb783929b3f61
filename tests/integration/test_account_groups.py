"""Several services on one PostgreSQL server, one per account group: a lease held for one
account says nothing of another, and what is kept per service (the settings in force, a held
loosening, the calendar) is kept per group, a record of the version before groups read as
the fallback of the group whose accounts it was written for. SQLite keeps one record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from fsm_risk import naming, reload
from fsm_risk.adapters.store import AccountRow, Store
from fsm_risk.config import load
from tests.factories import T0
from tests.postgres import fresh_database

OLD = {"daily_loss_limit": {"enabled": "true", "limit": "1000"}}


@pytest.fixture
def server() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def stored(store: Store, *accounts: tuple[int, str]) -> None:
    with Session(store.engine) as s:
        for account_id, name in accounts:
            s.add(AccountRow(account_id=account_id, name=name, state="Trading", updated_at="",
                             snapshot="{}"))  # fmt: skip
        s.commit()


def test_a_lease_held_for_one_account_says_nothing_of_another(server: str) -> None:
    holder, other = Store(server), Store(server)
    try:
        assert not other.service_running()
        holder.acquire_service_lock()
        holder.acquire_leases([1001])
        assert other.service_running() and other.service_running([1001, 1002])
        assert not other.service_running([1002]) and other.leased([1001, 1002]) == [1001]
        assert "holds the lease for account 1001" in other.lease_refusal(1001)
    finally:
        other.close()
        holder.close()


def test_each_group_keeps_its_own_settings_in_force(server: str) -> None:
    store = Store(server)
    try:
        one, two = reload.Keeper(store, "1001"), reload.Keeper(store, "1002")
        one.save(OLD, None)
        assert two.in_force() is None  # the second group's first start: its file is in force
        two.save({"daily_loss_limit": {"enabled": "true", "limit": "3000"}}, None)
        assert one.in_force() == OLD
        assert store.meta(reload.IN_FORCE) is None  # nothing global written on a server
    finally:
        store.close()


def test_a_record_from_before_groups_is_read_by_the_group_it_was_written_for(
    server: str,
) -> None:
    store = Store(server)
    try:
        # the previous version's rows: one set per database, written by the 1001 service
        store.set_meta(reload.IN_FORCE, json.dumps(OLD))
        held = reload.Pending(OLD, T0 + timedelta(hours=3), ("[rule.daily_loss_limit] x",))
        store.set_meta(reload.PENDING, held.to_json())
        stored(store, (1001, "PAPER-1"))
        assert reload.Keeper(store, "1001").in_force() == OLD
        assert reload.Keeper(store, "PAPER-1").pending() == held  # a name as configured
        assert reload.Keeper(store, "1002").in_force() is None  # never 1002's settings
        assert reload.Keeper(store, "1001,1002").in_force() is None
        reload.Keeper(store, "1001").save({}, None)  # then its own record, the old one kept
        assert reload.Keeper(store, "1001").in_force() == {}
        assert reload.Keeper(store, "1001").pending() is None
        assert store.meta(reload.IN_FORCE) == json.dumps(OLD)
    finally:
        store.close()


def test_sqlite_keeps_one_record_whatever_the_accounts(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_text("[general]\naccounts = 1001\ndatabase = state.db\n", encoding="utf-8")
    store = Store(tmp_path / "state.db")
    try:
        keeper = reload.Keeper.of(load(path), store)
        assert keeper.group == "" and not store.service_running([1001])
        keeper.save(OLD, None)
        assert store.meta(reload.IN_FORCE) == json.dumps(OLD, sort_keys=True)
    finally:
        store.close()


def test_a_group_is_its_accounts_sorted_on_a_server_only() -> None:
    assert naming.group([" 1002", "1001", "1002"], shared=True) == "1001,1002"
    assert naming.group([], shared=True) == ""  # every active account: the database's keys
    assert naming.group(["1001"], shared=False) == ""
    assert naming.scoped("settings.in_force", "1001") == "settings.in_force@1001"
    assert naming.scoped("settings.in_force", "") == "settings.in_force"
