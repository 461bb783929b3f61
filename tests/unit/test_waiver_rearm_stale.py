"""A stale quote is never the reason a rule fires: not through a waiver's re-arm either.

Found by a hunt: RULE-004's waiver re-arms when `usage` falls to its re-arm level, and
RULE-004's `usage` was the plain equity, a stale quote's loss in it (the period rules' `usage`
leaves a stale loss out). A 40-second-old quote's loss re-armed an admin's waiver: flattened,
LockedWeekly. A fresh quote at that price re-arms it, and the rule acts at once. Likewise the
re-arm compares with the equity the rule judges while an account's trades are unread (the
listed balance's move in it)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk.core.events import AdminCommand, InstrumentInfo, Listing, Side, Tick
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import GRACE
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ES,
    MNQ,
    D,
    Driver,
    account,
    closes,
    fill,
    make_engine,
    position,
    quote,
    the_rule,
)


def _waived_and_adding_on_a_stale_quote() -> Driver:
    """Locked by RULE-004 (equity 47,900, floor 48,000), forced to Trading (re-arms at
    45,900); long 2 ES at 6,000 last quoted 5,985, 40 s ago; the trader adds 4 at 6,010: the
    stale 5,985 values the 6 at -6,500.01 (equity 41,399.99), the market is around 6,010."""
    d = Driver(make_engine({TrailingDrawdown: {"drawdown": "2000", "lock": "LockedWeekly"}}))
    d.send(InstrumentInfo(ES, D("0.25"), D("12.5")), account("50000"))
    d.send(fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5958", pnl="-2100"))
    d.send(account("47900"))
    assert d.acct.state is State.LockedWeekly
    d.now += timedelta(seconds=5)
    d.send(AdminCommand(d.acc, State.Trading, "let him trade", "admin"))
    assert d.engine.waivers(d.acct)["RULE-004"]["rearm"] == "45900"
    d.now += timedelta(seconds=5)
    d.send(quote(ES, "6000", at=d.now), fill(ES, Side.BUY, 2, "6000", at=d.now))
    d.send(position(ES, 2, "6000", at=d.now), quote(ES, "5985", at=d.now))
    assert d.acct.state is State.Trading  # fresh: -1,500, above the re-arm level
    d.now += timedelta(seconds=40)  # no quote since: 5985 is stale (30 s)
    out = d.send(fill(ES, Side.BUY, 4, "6010", at=d.now), position(ES, 6, "6006.6667", at=d.now))
    assert d.acct.equity == D("41399.990")  # the stale 5,985's -6,500 is in the plain equity
    assert "RULE-004" in d.engine.waivers(d.acct), "re-armed on a stale quote's loss"
    assert d.acct.state is State.Trading and closes(out) == []
    return d


def test_a_stale_quotes_loss_never_re_arms_a_waived_trailing_drawdown() -> None:
    d = _waived_and_adding_on_a_stale_quote()
    usage = the_rule(d, TrailingDrawdown).usage(d.acct, d.now)
    assert usage is not None and usage.value == D("47900")  # what the rule judges
    assert "6500.01 of losses not yet certain not counted" in usage.detail


def test_a_fresh_quote_confirming_the_loss_re_arms_it_and_the_rule_acts_at_once() -> None:
    d = _waived_and_adding_on_a_stale_quote()
    d.now += timedelta(seconds=1)
    out = d.send(quote(ES, "5985", at=d.now))  # fresh now: equity 41,399.99 <= 45,900
    assert "RULE-004" not in d.engine.waivers(d.acct)
    assert [c.contract_id for c in closes(out)] == [ES]
    assert d.acct.state is State.Flattening


@pytest.mark.parametrize(("listed", "re_armed"), [("47000", True), ("48500", False)])
def test_a_waiver_re_arms_on_the_listed_balance_the_rule_judges_while_trades_are_unread(
    listed: str, re_armed: bool
) -> None:
    """Its trades unread past the grace, RULE-004 judges equity with the listed balance's move
    (`unjudged.listed`), and its waiver's re-arm compares with that same equity. Before, the
    re-arm compared the plain equity (48,900): a -1,900 move while down (47,000, past the
    re-arm level of 47,900) fired the rule and the waiver held it, open."""
    d = Driver(make_engine({TrailingDrawdown: {"drawdown": "1000", "mode": "intraday"}}))
    d.send(account("50000"), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.BUY, 1, "21000", trade_id=100))
    d.send(fill(MNQ, Side.SELL, 1, "20725", order_id=2, trade_id=99, pnl="-1100"))
    d.send(account("48900"))  # floor 49,000
    assert d.acct.state is State.LockedWeekly
    d.now += timedelta(seconds=5)
    d.send(AdminCommand(d.acc, State.Trading, "unlock", "ops"))
    assert d.engine.waivers(d.acct)["RULE-004"]["rearm"] == "47900"
    d.now += timedelta(seconds=5)
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, trade_id=101, at=d.now))
    d.send(position(MNQ, 2, "21000", at=d.now))
    held = frozenset({MNQ})
    read = Listing(
        d.acc, held, frozenset(), held, frozenset(), frozenset({99, 100, 101}), behind=True,
        listed=D(listed),
    )  # fmt: skip
    d.send(read, position(MNQ, 2, "21000", at=d.now), Tick(d.acc, unread=True))
    d.now += GRACE + timedelta(seconds=1)
    out = d.send(quote(MNQ, "21000", at=d.now))  # judged: equity 48,900 + the listed move
    usage = the_rule(d, TrailingDrawdown).usage(d.acct, d.now)
    assert usage is not None and usage.value == D(listed)
    assert ("RULE-004" not in d.engine.waivers(d.acct)) is re_armed
    assert [c.contract_id for c in closes(out)] == ([MNQ] if re_armed else [])
    assert d.acct.state is (State.Flattening if re_armed else State.Trading)
