"""Found by a fix helper: a reset missed while the service was stopped is priced at the start
(the gateway's price at it, read over REST), and the position held across it is valued at that
price, stale, until its contract is quoted. That price was never saved as the contract's mark:
the restore moves a mark too old to be fresh out of the marks the service saves, so the
database kept the mark of the stop. A restart later that day (MNQ still quiet) valued the
position at the stop's price again: the day read the fall since the stop as a gain.

Long 3 MNQ @21,000 and MNQ's mark 21,000 when the service stops Monday 09:00 CST; the
gateway's price at Monday's 17:00 reset 20,900 (-$600 carried). The service starts Tuesday
08:05, stops, and starts again at 08:35; MNQ quiet since the reset. The trader buys 1 MES
@6,000; MES falls to 5,800: -$1,000 today on a $1,000 limit, all of it MES's. Before: after
the second start the day read +$600 with MNQ at the stop's 21,000, and the limit fired at a
real -$1,600 (MES 5,680)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.cli import _transition_offline
from fsm_risk.core.models import Mark
from fsm_risk.core.states import State
from tests.factories import ACC, MES, MNQ, Driver, account, position, quote, start_up_read
from tests.unit.test_offline_change_after_missed_reset import (
    MON_RESET,
    MON_STOP,
    TUE_ADMIN,
    TUE_START,
    _seed,
)
from tests.unit.test_stale_after_missed_reset import _lose_on_mes, _start

D = Decimal
STOP_MARK = Mark(D("21000"), D("21000"), D("21000"), MON_STOP)


def _first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_admin: bool
) -> tuple[Any, Any, Driver]:
    """The first start after the missed reset (MNQ at 20,900 at it), from a database holding
    the mark the stop saved (21,000 at the stop); ``offline_admin``: the reset applied through
    the database while stopped, reading no price, and redone at the start."""
    settings, store = _seed(tmp_path)
    store.save_marks({MNQ: STOP_MARK})  # (as `Service` stops)
    if offline_admin:
        monkeypatch.setattr("fsm_risk.cli._now", lambda: TUE_ADMIN)
        _transition_offline(
            settings, store, str(ACC), MES, State.LockedDaily, "desk", None, "admin:ana", True
        )
    d = Driver(_start(settings, store, D("20900")), now=TUE_START)
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=MON_STOP))
    assert d.acct.day.start == MON_RESET
    assert d.acct.day.carry == -600
    assert d.acct.day_pnl(with_unrealized=True) == 0  # MNQ at the reset's 20,900
    return settings, store, d


def _second_start(settings: Any, store: Any) -> Driver:
    later = TUE_START + timedelta(minutes=30)
    d = Driver(_start(settings, store, D("1"), now=later), now=later)  # (no reset missed)
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=MON_STOP))
    return d


def _limit_at_minus_1000(d: Driver) -> None:
    acct = d.acct
    assert acct.day.carry == -600
    assert acct.day_pnl(with_unrealized=True) == 0, "the quiet MNQ valued at the stop's price"
    _lose_on_mes(d, to="5805")  # -$975 today
    assert acct.day_pnl(with_unrealized=True) == -975
    assert acct.state is State.Trading
    d.send(quote(MES, "5800", at=d.now))  # -$1,000 today, all of it MES's
    assert acct.state is not State.Trading, "the fall since the stop read as room"


@pytest.mark.parametrize("offline_admin", [False, True])
def test_a_restart_values_a_quiet_position_at_the_missed_resets_price(
    tmp_path: Path, offline_admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped cleanly (the changes committed, the marks saved as `Service` saves them)."""
    settings, store, d = _first_run(tmp_path, monkeypatch, offline_admin)
    store.commit(d.engine.take_changes(), [], d.engine.marks)
    store.save_marks(d.engine.marks)
    _limit_at_minus_1000(_second_start(settings, store))
    assert store.marks()[MNQ] == Mark(D("20900"), D("20900"), D("20900"), MON_RESET)


def test_the_missed_resets_price_is_saved_with_the_state_it_valued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start's own commit (no marks in it: `Service._commit` without ``now``) carries the
    price read, with the day whose carry it valued: a stop that saves nothing more (killed)
    still finds it at the next start."""
    settings, store, d = _first_run(tmp_path, monkeypatch, False)
    store.commit(d.engine.take_changes(), [])
    again = d.engine.take_changes()
    _limit_at_minus_1000(_second_start(settings, store))
    assert store.marks()[MNQ] == Mark(D("20900"), D("20900"), D("20900"), MON_RESET)
    assert not again.marks  # handed over once


def test_a_quote_since_the_read_is_the_mark_a_restart_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard (it held before the fix): the price read at the reset never replaces a newer
    quote, even in the commit that first saves both (MNQ 20,950 at 08:06, then quiet)."""
    settings, store, d = _first_run(tmp_path, monkeypatch, False)
    d.now += timedelta(minutes=1)
    d.send(quote(MNQ, "20950", at=d.now))
    store.commit(d.engine.take_changes(), [], d.engine.marks)
    assert store.marks()[MNQ].last == D("20950")
    d = _second_start(settings, store)
    assert d.acct.day_pnl(with_unrealized=True) == 300  # MNQ +50 points since the reset


def test_a_stored_mark_stamped_ahead_of_the_clock_is_not_newer_than_the_price_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop's mark stamped a day ahead of the start's clock (a gateway stamp gone wrong)
    is not newer than the price read at the reset: the position is valued at the reset's
    20,900, not at the misdated 21,000 (the day read +$600 at the first start)."""
    settings, store = _seed(tmp_path)
    store.save_marks({MNQ: Mark(D("21000"), D("21000"), D("21000"), TUE_START + timedelta(days=1))})
    d = Driver(_start(settings, store, D("20900")), now=TUE_START)
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=MON_STOP))
    _limit_at_minus_1000(d)
