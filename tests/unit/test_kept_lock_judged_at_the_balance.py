"""Found by a review: a locked account's start-up read as the service makes it (an exposed/locked
account: the enforcing step, a `Listing` behind=True, then the history step: its
TradesSnapshot FIRST, its balance AFTER, then a Tick; service.py `_history_step`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from fsm_risk.core.events import Listing, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    account,
    balance_read,
    restart,
    rule_driver,
    rule_engine,
)

SUNDAY = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")
EMPTY = frozenset[str]()


def locked_restart_read(d, balance: str):
    """`_enforcing_step` then `_history_step` (service.py:2507-2545), in that order."""
    acct = d.acct
    applied = frozenset(acct.seen_trades)
    out = d.send(Listing(ACC, EMPTY, frozenset(), EMPTY, frozenset(), applied, behind=True))
    out += d.engine.resume(ACC, set(), d.now)  # its working orders known: `_resume`
    d.now += timedelta(seconds=5)
    upd = dataclasses.replace(account(balance), applied=applied, voided=frozenset())
    out += d.send(TradesSnapshot(ACC, acct.week.start, (), applied, frozenset()), upd, Tick(ACC))
    return out


@pytest.mark.parametrize("balance", ["50000", "48000"])
def test_a_blown_account_reset_by_the_firm_while_stopped_is_free_after_its_read(balance) -> None:
    d = rule_driver(TrailingDrawdown, now=SUNDAY - timedelta(days=2), drawdown="2000")
    balance_read(d, "48000")
    assert d.acct.state is State.LockedWeekly
    # the trader buys the firm's account reset over the weekend: 50,000 again
    again = restart(d, engine, at=SUNDAY + timedelta(minutes=1))
    locked_restart_read(again, balance)
    hold = again.acct.holds.get("RULE-004")
    if balance == "48000":  # still blown: locked for another week (sound)
        assert again.acct.state is State.LockedWeekly
    else:  # its cause is gone: as the start-up read in the other order, free
        assert again.acct.state is State.Trading, (again.acct.state, hold and hold.until)
