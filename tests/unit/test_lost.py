"""`core.lost`: an account started with no stored state is a new one, or one whose database was
lost or replaced: the trades the gateway lists this week tell them apart."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.exposure import Behind
from fsm_risk.core.lost import LostState, lost_state, shown
from tests.factories import ACC, MNQ, T0, Driver, account, fill, make_engine


def started() -> Driver:
    engine = make_engine()
    engine.add_account(ACC, "PAPER-1", T0)
    d = Driver(engine)
    d.send(account())
    return d


def test_an_account_that_has_not_traded_this_week_is_new() -> None:
    d = started()
    assert lost_state(d.acct, T0) is None


def test_trades_this_week_mean_the_stored_state_was_lost() -> None:
    d = started()
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", at=T0 - timedelta(minutes=5)),
        fill(MNQ, Side.SELL, 2, "20850", pnl="-600", fees="2.74", at=T0 - timedelta(minutes=1)),
    )
    note = lost_state(d.acct, T0)
    assert note is not None
    assert note.trades == 2
    assert note.week_net == note.day_net == Decimal("-602.74")
    assert note.week_start == d.acct.week.start and note.until == d.acct.week.end
    assert "no stored state" in note.text and "admin must check" in note.text
    assert LostState.from_dict(note.to_dict()) == note
    assert shown(note, T0) and not shown(note, note.until)


def test_it_is_judged_only_once_the_trades_are_read() -> None:
    d = started()
    d.acct.behind = Behind(trips={})
    with pytest.raises(ValueError, match="not read yet"):
        lost_state(d.acct, T0)
