"""A fill stamped before the daily reset whose record came after it (a late fill, see
tests/unit/test_late_fill_peak.py) takes the carry of the contracts it closed back and moves the
day's ``late``, and with it RULE-004's ``end_of_day`` peak. When the gateway then voids that
trade, the void gives back exactly what the fill did: the peak, ``late``, the carry and the
contracts' part of it, the week's P&L, to the cent, and after a restart as well (`late`).

The reviewer's case: long 2 MNQ from 21,000.25 at 21,010 at the reset (+$39.00, balance
49,998.76: peak 50,037.76); the sell of 1 at 21,030 stamped before the reset (+$59.50, fees
0.62) raised it to 50,077.14. Voided, the peak stayed there: a floor $39.38 too high, and the
account was locked (LockedWeekly) on a drawdown that did not happen."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.core.effects import Alert, Effect
from fsm_risk.core.events import Fill, Side
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from tests.factories import (
    MNQ,
    Driver,
    account,
    balance_read,
    balance_reads,
    fill,
    position,
    quote,
    restart,
    settled_read,
)
from tests.unit.test_late_fill_peak import (
    MON_RESET,
    STAMPED,
    SUN_RESET,
    TUE_RESET,
    driver,
    engine,
    long_two,
    peak,
)

D = Decimal


def sell(price: str, pnl: str, at: datetime, size: int = 1, trade_id: int = 777001) -> Fill:
    return fill(
        MNQ, Side.SELL, size, price, pnl=pnl, fees="0.62", order_id=2, at=at, trade_id=trade_id
    )


def void(f: Fill) -> Fill:
    return fill(
        MNQ,
        f.side,
        f.size,
        str(f.price),
        pnl=str(f.pnl),
        fees=str(f.fees),
        order_id=f.order_id,
        at=f.at,
        trade_id=f.trade_id,
        voided=True,
    )


def late_sell(d: Driver, reset: datetime, price: str = "21030", pnl: str = "59.50") -> Fill:
    """The sell of 1 stamped before ``reset``: its records (fill, position 1, balance) after."""
    f = sell(price, pnl, reset - STAMPED)
    d.now = reset + timedelta(seconds=2)
    d.send(
        f,
        position(MNQ, 1, "21000.25", at=f.at),
        account(str(D("49998.76") + realized_net(f.pnl, f.fees))),
    )
    return f


def voided(d: Driver, f: Fill, held: int = 2, balance: str = "49998.76") -> list[Effect]:
    """The gateway voids ``f``: the fill again with ``voided``, the position and balance back."""
    d.now += timedelta(seconds=5)
    return d.send(void(f), position(MNQ, held, "21000.25", at=d.now), account(balance))


def books(d: Driver) -> dict[str, Any]:
    a = d.acct
    return {
        "peak": peak(d),
        "memo": {k: v for k, v in a.rule_state["RULE-004"].items() if k != "late"},
        "day": (a.day.late, a.day.carry, a.day.carried, a.day.realized, a.day.fees),
        "week": (a.week.late, a.week.carry, a.week.carried, a.week.realized, a.week.fees),
        "pending": (a.pending_realized, a.unexplained, a.balance),
        "equity": a.equity,
    }


def unconfirmed(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if isinstance(e, Alert) and e.reason is Reason.BALANCE_UNCONFIRMED]


def test_a_voided_late_fill_gives_back_the_peak_the_late_and_the_carry_it_moved() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    assert peak(d) == D("50037.76")
    f = late_sell(d, MON_RESET)
    assert peak(d) == D("50077.14")
    assert (d.acct.day.late, d.acct.day.carry) == (D("39.38"), D("19.50"))
    out = voided(d, f)
    assert peak(d) == D("50037.76")
    assert str(peak(d)) == "50037.76"
    assert d.acct.day.late == 0
    assert d.acct.day.carry == D("39.00")
    assert d.acct.day.carried == {MNQ: (D("39.00"), 2)}
    assert d.acct.day.lates == {}
    # its P&L leaves the week too, and the balance back where it was is explained by the void
    assert (d.acct.week.realized, d.acct.week.fees) == (D("-1.24"), D("1.24"))
    assert d.acct.pending_realized == 0 and d.acct.balance == D("49998.76")
    assert unconfirmed(out) == [] and balance_reads(out) == []
    assert d.acct.day_pnl(with_unrealized=True) == 0
    # equity 49,557.76 at 20,890 (the balance confirmed by a read): above the floor 49,537.76
    # (the raised one, 49,577.14, flattened the account and locked it for the week)
    balance_read(d, "49998.76")
    d.send(quote(MNQ, "20890", at=d.now))
    assert d.acct.equity == D("49557.76")
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "20880", at=d.now))  # 49,517.76: below the true floor
    assert d.acct.state is State.Flattening


def test_after_the_void_the_books_are_those_of_an_account_that_never_saw_the_fill() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    never = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(never, MON_RESET, "21010")
    voided(d, late_sell(d, MON_RESET))
    never.now = d.now
    never.send(position(MNQ, 2, "21000.25", at=d.now), account("49998.76"))
    assert books(d) == books(never)


def test_a_void_after_a_restart_the_same_day_gives_back_what_the_late_fill_did() -> None:
    """What the late fill did is stored with the day (its fill row is the old day's: a restart
    does not read it back among the day's fills)."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    f = late_sell(d, MON_RESET)
    again = restart(d, engine, at=d.now + timedelta(minutes=5))
    assert again.acct.day.start == MON_RESET
    assert peak(again) == D("50077.14") and again.acct.day.late == D("39.38")
    assert again.acct.day.fills == []
    settled_read(again)  # (its stored books confirmed: the rule judges them)
    out = voided(again, f)
    assert peak(again) == D("50037.76")
    assert (again.acct.day.late, again.acct.day.carry) == (0, D("39.00"))
    assert again.acct.day.carried == {MNQ: (D("39.00"), 2)}
    assert again.acct.week.realized == D("-1.24")
    assert unconfirmed(out) == []


def test_a_void_of_a_fill_that_was_not_late_changes_no_peak() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    d.now = MON_RESET + timedelta(seconds=2)
    f = sell("21030", "59.50", d.now)
    d.send(f, position(MNQ, 1, "21000.25", at=d.now), account("50057.64"))
    assert (peak(d), d.acct.day.late, d.acct.day.realized) == (D("50037.76"), 0, D("58.88"))
    out = voided(d, f)
    assert peak(d) == D("50037.76")
    assert (d.acct.day.late, d.acct.day.carry, d.acct.day.realized) == (0, D("39.00"), 0)
    assert d.acct.day.carried == {MNQ: (D("39.00"), 2)}
    assert unconfirmed(out) == []


def test_voiding_one_of_two_late_fills_leaves_the_books_of_the_other_alone() -> None:
    """Both contracts sold in two trades stamped before the reset (21,030 and 21,020): the
    void of the first leaves the books as the second alone made them, to the cent."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    other = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(other, MON_RESET, "21010")
    first = sell("21030", "59.50", MON_RESET - STAMPED)
    second = sell("21020", "39.50", MON_RESET - STAMPED / 2, trade_id=777002)
    d.now = other.now = MON_RESET + timedelta(seconds=2)
    d.send(first, second, position(MNQ, 0, "0", at=second.at), account("50096.52"))
    assert d.acct.day.carried == {} and d.acct.day.carry == 0
    assert peak(d) == D("50096.52")  # flat at the reset, with both trades' P&L
    other.send(second, position(MNQ, 1, "21000.25", at=second.at), account("50037.64"))
    d.now += timedelta(seconds=5)
    other.now = d.now
    d.send(void(first), position(MNQ, 1, "21000.25", at=d.now), account("50037.64"))
    other.send(position(MNQ, 1, "21000.25", at=d.now), account("50037.64"))
    for each in (d, other):  # (the position gone and back is valued at the next quote)
        each.send(quote(MNQ, "21010", at=d.now))
    assert books(d) == books(other)
    assert peak(d) == D("50057.14")  # 50,037.64 + the one carried at 21,010 (+19.50)


def test_an_order_filled_across_the_reset_gives_back_only_its_late_fill() -> None:
    """One order's two fills: one stamped before the reset (late), one after it (the new
    day's). The late one voided: the peak is the reset's again; the other stays the day's."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    early = sell("21030", "59.50", MON_RESET - STAMPED)
    d.now = MON_RESET + timedelta(seconds=2)
    after = sell("21030", "59.50", d.now, trade_id=777002)
    d.send(early, after, position(MNQ, 0, "0", at=d.now), account("50116.52"))
    assert peak(d) == D("50077.14")
    assert d.acct.day.realized == D("58.88")
    voided(d, early, held=1, balance="50057.64")
    assert peak(d) == D("50037.76")
    assert (d.acct.day.late, d.acct.day.carry) == (0, D("39.00"))
    assert d.acct.day.realized == D("58.88")  # the new day's fill stands
    assert d.acct.week.realized == D("57.64")


def test_a_void_of_a_fill_late_for_the_weekly_reset_gives_back_the_weeks_carry_too() -> None:
    d = driver(now=SUN_RESET - timedelta(minutes=20))
    long_two(d, SUN_RESET, "21010")
    never = driver(now=SUN_RESET - timedelta(minutes=20))
    long_two(never, SUN_RESET, "21010")
    f = late_sell(d, SUN_RESET)
    assert d.acct.week.carry == D("19.50") and d.acct.week.realized == 0
    voided(d, f)
    never.now = d.now
    never.send(position(MNQ, 2, "21000.25", at=d.now), account("49998.76"))
    assert books(d) == books(never)
    assert (d.acct.week.carry, d.acct.week.realized) == (D("39.00"), 0)


def test_a_void_after_the_next_reset_leaves_the_new_days_books_alone() -> None:
    """The late fill corrected Monday's reset; the void comes after Tuesday's. The fill was no
    late fill of the new day (Tuesday's reset knew it): the new day's ``late``, carry and its
    contracts are left as that reset took them, and the balance moved back is read at once
    (a void of an earlier day's trade, corrected by the gateway's reads)."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    f = late_sell(d, MON_RESET)
    d.now = TUE_RESET - timedelta(seconds=1)
    d.send(quote(MNQ, "21010", at=d.now))
    d.at(TUE_RESET)
    taken = (d.acct.day.late, d.acct.day.carry, dict(d.acct.day.carried))
    assert taken == (0, D("19.50"), {MNQ: (D("19.50"), 1)})
    out = voided(d, f)
    assert (d.acct.day.late, d.acct.day.carry, d.acct.day.carried) == taken
    assert len(balance_reads(out)) == 1
