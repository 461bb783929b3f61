"""On a PostgreSQL server, editing [general] accounts (an account added or removed, one written
by its name) makes a new account group with no record of its own: it is compared with the
records kept for its accounts, never given its file as in force.

Found by a hunt: the 1001 service held a loosening of its daily loss limit (500 -> 5000) for
the reset; [general] accounts edited to "1001, 1002" (or "PAPER-1") and a restart minutes
later enforced 5000 at once, nothing held."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from fsm_risk import reload
from fsm_risk.adapters.store import AccountRow, Store
from fsm_risk.config import Settings, load
from tests.factories import T0
from tests.postgres import fresh_database

AT = T0 + timedelta(hours=8)  # 17:00 Chicago: the daily reset a held loosening waits for


@pytest.fixture
def store() -> Iterator[Store]:
    with fresh_database() as url:
        s = Store(url)
        try:
            with Session(s.engine) as session:
                for account_id, name in ((1001, "PAPER-1"), (1002, "PAPER-2")):
                    session.add(AccountRow(account_id=account_id, name=name, state="Trading",
                                           updated_at="", snapshot="{}"))  # fmt: skip
                session.commit()
            yield s
        finally:
            s.close()


def rules(daily: int, weekly: int) -> reload.Raw:
    return {
        "daily_loss_limit": {"enabled": "true", "limit": str(daily)},
        "weekly_loss_limit": {"enabled": "true", "limit": str(weekly)},
    }


def settings(tmp_path: Path, store: Store, accounts: str, daily: int, weekly: int) -> Settings:
    return file_of(
        tmp_path,
        store,
        accounts,
        f"[rule.daily_loss_limit]\nlimit = {daily}\n[rule.weekly_loss_limit]\nlimit = {weekly}\n",
    )


def file_of(tmp_path: Path, store: Store, accounts: str, rule_sections: str) -> Settings:
    url = store.engine.url.render_as_string(hide_password=False)
    path = tmp_path / "settings.ini"
    path.write_text(
        f"[general]\naccounts = {accounts}\ndatabase = {url}\n{rule_sections}", encoding="utf-8"
    )
    return load(path)


def limits(effective: Settings) -> tuple[str, str]:
    r = effective.raw_rules
    return r["daily_loss_limit"]["limit"], r["weekly_loss_limit"]["limit"]


def held_loosening(keeper: reload.Keeper, daily: int, weekly: int) -> None:
    """In force: ``daily`` and ``weekly``; the file's 5000 and 9000 held for the reset."""
    held = reload.Pending(rules(5000, 9000), AT, ("[rule.daily_loss_limit] limit: ...",))
    keeper.save(rules(daily, weekly), held)


@pytest.mark.parametrize("edited", ["1001, 1002", "PAPER-1"])
def test_an_edited_accounts_list_keeps_the_loosening_held_for_the_reset(
    tmp_path: Path, store: Store, edited: str
) -> None:
    held_loosening(reload.Keeper(store, "1001"), 500, 2000)
    file = settings(tmp_path, store, edited, 5000, 9000)
    effective, held, _ = reload.resolve(file, store, T0 + timedelta(minutes=5))
    assert limits(effective) == ("500", "2000"), "a loosening held for the reset applied at once"
    assert held is not None and held.applies_at == AT
    assert held.rules["daily_loss_limit"]["limit"] == "5000"  # the file, at the reset
    effective, held, _ = reload.resolve(file, store, AT)  # the reset: the file
    assert limits(effective) == ("5000", "9000") and held is None


@pytest.mark.parametrize("stricter_daily", ["1001", "1002"])
def test_two_groups_merged_keep_the_stricter_value_of_each_key(
    tmp_path: Path, store: Store, stricter_daily: str
) -> None:
    """Each group's record is stricter on one key: both hold, whichever is read first."""
    other = "1002" if stricter_daily == "1001" else "1001"
    held_loosening(reload.Keeper(store, stricter_daily), 500, 3000)
    held_loosening(reload.Keeper(store, other), 1000, 1500)
    file = settings(tmp_path, store, "1001, 1002", 5000, 9000)
    effective, held, _ = reload.resolve(file, store, T0)
    assert limits(effective) == ("500", "1500")
    assert held is not None and held.applies_at == AT
    file = settings(tmp_path, store, "1001, 1002", 200, 9000)  # the file's stricter daily: now
    assert limits(reload.resolve(file, store, T0)[0]) == ("200", "1500")


def test_a_service_of_every_account_keeps_the_loosening_for_a_group_naming_a_new_one(
    tmp_path: Path, store: Store
) -> None:
    """[general] accounts was empty (the database's own record); 1003 is new (not stored)."""
    held_loosening(reload.Keeper(store, ""), 500, 2000)
    file = settings(tmp_path, store, "1001, 1003", 5000, 9000)
    effective, held, _ = reload.resolve(file, store, T0)
    assert limits(effective) == ("500", "2000") and held is not None


def test_a_new_group_starts_with_its_file_when_no_record_is_of_its_accounts(
    tmp_path: Path, store: Store
) -> None:
    file = settings(tmp_path, store, "1001, 1002", 5000, 9000)
    assert reload.resolve(file, store, T0) == (file, None, None)  # an empty database
    held_loosening(reload.Keeper(store, "1003"), 500, 2000)  # another trader's group
    assert reload.resolve(file, store, T0) == (file, None, None)
    assert json.loads(store.meta("settings.in_force@1003") or "{}") == rules(500, 2000)


def test_two_groups_whose_values_neither_restricts_more_say_so(
    tmp_path: Path, store: Store
) -> None:
    """1001 blocked MNQ, 1002 blocked MES: neither value is stricter than the other, so one of
    them is looser for the other's account until the reset; the start says which."""
    for group, root in (("1001", "MNQ"), ("1002", "MES")):
        reload.Keeper(store, group).save({"symbol_block": {"enabled": "true", "roots": root}}, None)
    file = file_of(tmp_path, store, "1001, 1002", "[rule.symbol_block]\nroots = M2K\n")
    effective, held, p = reload.resolve(file, store, T0)
    assert effective.raw_rules["symbol_block"]["roots"] == "MES" and held is not None
    assert p is not None and [str(c) for c in p.apart] == ["[rule.symbol_block] roots: MNQ -> MES"]
    assert "neither restricts more than the other: [rule.symbol_block]" in reload.describe(p, held)


def test_back_to_an_older_group_keeps_the_newer_groups_held_loosening(
    tmp_path: Path, store: Store
) -> None:
    """Found by a review: a group with a record of its own (an older one) was never compared
    with a newer record another group kept for its accounts. Yesterday accounts = 1001
    enforced 5000. Today 1002 was added (group 1001,1002), the
    limit tightened to 500, then loosened back to 5000 by a reload (held for the reset). The
    admin removes 1002 again (accounts = 1001) and restarts minutes later."""
    reload.Keeper(store, "1001").save(rules(5000, 9000), None)  # yesterday's record
    held_loosening(reload.Keeper(store, "1001,1002"), 500, 2000)  # today's
    file = settings(tmp_path, store, "1001", 5000, 9000)
    effective, held, _ = reload.resolve(file, store, T0 + timedelta(minutes=5))
    assert limits(effective) == ("500", "2000"), (
        f"in force for 1001 after the restart: {limits(effective)}; held: {held}"
    )


def test_the_database_own_record_does_not_hide_a_newer_group_record(
    tmp_path: Path, store: Store
) -> None:
    """Found by a review: the database's own record hid a newer one. Last month a service of
    every account (no accounts) enforced 5000 (the database's own
    record). Today accounts = 1001 tightened to 500 and holds a loosening to 5000 for the
    reset. The admin edits accounts = 1001, 1002 and restarts."""
    reload.Keeper(store, "").save(rules(5000, 9000), None)
    held_loosening(reload.Keeper(store, "1001"), 500, 2000)
    file = settings(tmp_path, store, "1001, 1002", 5000, 9000)
    effective, held, _ = reload.resolve(file, store, T0 + timedelta(minutes=5))
    assert limits(effective) == ("500", "2000"), (
        f"in force for 1001, 1002 after the restart: {limits(effective)}; held: {held}"
    )


def test_a_stale_group_record_does_not_lower_the_limit_of_a_new_group(
    tmp_path: Path, store: Store
) -> None:
    """Found by a review (a false lock): the first start of a group took a months-old record
    of an overlapping group. Months ago accounts = 1001 ran with a $100 limit (its record
    stays). Since then accounts = 1001, 1003 has enforced $1000 (its record). Today 1002 is
    added: the group before enforced $1000, and so does the file."""
    reload.Keeper(store, "1001").save(rules(100, 9000), None)  # long ago
    reload.Keeper(store, "1001,1003").save(rules(1000, 9000), None)  # the group before
    file = settings(tmp_path, store, "1001, 1002", 1000, 9000)
    effective, held, _ = reload.resolve(file, store, T0 + timedelta(minutes=5))
    assert limits(effective) == ("1000", "9000"), (
        f"in force after the edit: {limits(effective)}; held: {held and held.held}"
    )
