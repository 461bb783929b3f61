"""Money the gateway reports that the fills do not explain: a balance update moved by what no
fill explains (a record stale or replayed) and a closing trade record without its P&L. Both
are doubtful until a read of the account says; neither fires a rule nor hides a breach."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.effects import ReadBalance, ReadTrades
from fsm_risk.core.events import Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    alerts,
    balance_read,
    balance_reads,
    closes,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    rule_driver,
    trade_reads,
)

D = Decimal


def round_trip(d: Driver, entry: str, exit_: str, pnl: str | None, balance: str) -> list:
    """Buy 3 MNQ at ``entry``, sell 3 at ``exit_`` (its record's P&L ``pnl``), each fill with
    its position and balance updates as the gateway sends them ($2.61 of fees a side)."""
    out = d.send(
        fill(MNQ, Side.BUY, 3, entry, fees="2.61"),
        position(MNQ, 3, entry),
        quote(MNQ, entry, at=d.now),
    )
    out += d.send(account(str(d.acct.balance - D("2.61"))))
    out += d.send(fill(MNQ, Side.SELL, 3, exit_, pnl=pnl, fees="2.61"), flat(MNQ))
    return out + d.send(account(balance))


# --- a balance update no fill explains --------------------------------------------------------


def test_a_stale_balance_record_never_hides_a_breach_the_fills_show() -> None:
    """Reported: trailing drawdown (floor 48,000); a losing round trip (balance 48,494.78),
    3 MNQ bought again, then a stale record of the balance (50,000) replayed. At 20,640 the
    true equity, 47,834.78 (less fees), was under the floor, but the engine took the stale
    balance (equity 49,340) and kept trading 3 MNQ past the floor for over a minute."""
    d = rule_driver(TrailingDrawdown, drawdown="2000")
    round_trip(d, "21000", "20750", "-1500.00", "48494.78")
    assert d.acct.balance == D("48494.78") and d.acct.unexplained == 0
    d.send(fill(MNQ, Side.BUY, 3, "20750"), position(MNQ, 3, "20750"), quote(MNQ, "20750"))
    out = d.send(account("50000.00"))  # a stale record of the balance, replayed
    assert balance_reads(out) == [ReadBalance(ACC)]
    assert [a.reason for a in alerts(out)] == [Reason.BALANCE_UNCONFIRMED]
    assert d.acct.balance == D("48494.78") and d.acct.unexplained == D("1505.22")
    assert d.acct.equity == D("48494.78")
    out = d.send(quote(MNQ, "20640"))  # 3 x -110 pts x $2 = -660: equity 47,834.78
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_a_replayed_pre_win_balance_never_locks_a_winning_trader() -> None:
    """Reported: intraday trailing, a win of $2,394.78 (balance 52,394.78), flat; a replayed
    record of the balance before the win (49,998.14) fired RULE-004 (equity 49,998.14 <= floor
    50,000) and locked the account for the week. The move no fill explains is left out; the
    read's balance is the truth."""
    d = rule_driver(TrailingDrawdown, drawdown="2000", mode="intraday")
    round_trip(d, "21000", "21400", "2400.00", "52394.78")
    floor = D(d.acct.rule_state["RULE-004"]["peak"]) - 2000
    assert floor == D("50000")  # the peak frozen at the start + drawdown
    out = d.send(account("49998.14"))
    assert d.acct.state is State.Trading
    assert balance_reads(out) == [ReadBalance(ACC)]
    assert d.acct.equity == D("52394.78")
    out = balance_read(d, "52394.78")  # the read: the stale record was stale
    assert d.acct.state is State.Trading and not balance_reads(out)
    assert d.acct.unexplained == 0 and d.acct.balance == D("52394.78")


def test_an_unexplained_move_is_not_asked_twice_and_the_next_explained_balance_clears_it() -> None:
    d = rule_driver(TrailingDrawdown, drawdown="2000")
    assert balance_reads(d.send(account("50500")))  # asked once
    assert not balance_reads(d.send(account("50500")))  # the same move repeated
    d.send(fill(MNQ, Side.BUY, 1, "21000", fees="1.00"), position(MNQ, 1, "21000"))
    d.send(account("49999.00"))  # what the fills since the balance taken make: taken
    assert d.acct.balance == D("49999.00") and d.acct.unexplained == 0


def test_a_read_confirming_a_loss_no_fill_explained_fires() -> None:
    d = rule_driver(TrailingDrawdown, drawdown="2000")
    d.send(account("47999.00"))
    assert d.acct.state is State.Trading
    gateway_read(d, account("47999.00"))
    assert d.acct.state is State.LockedWeekly


# --- a closing trade record without its P&L ---------------------------------------------------


def test_a_closing_trade_without_its_pnl_is_computed_not_booked_as_zero() -> None:
    """Reported: 3 MNQ bought, sold at 20,850 in a trade record without profitAndLoss (booked
    $0), then a normal losing round trip: the gateway's day P&L was -1,810.44, the service
    showed -908.94 and kept trading until a restart rebuilt the books."""
    d = rule_driver(DailyLossLimit, limit="1500")
    out = round_trip(d, "21000", "20850", None, "49094.78")  # -900 in fact
    assert trade_reads(out) == [ReadTrades(ACC)]
    assert Reason.PNL_COMPUTED in [a.reason for a in alerts(out)]
    assert d.acct.day.realized == D("-905.22")  # -900 computed, less 5.22 of fees
    assert d.acct.unexplained == 0  # the balance agrees with the computed P&L
    assert d.acct.state is State.Trading
    round_trip(d, "20850", "20700", "-900.00", "48189.56")
    assert d.acct.day.realized == D("-1810.44")
    assert d.acct.state in (State.Flattening, State.LockedDaily)


def test_the_gateways_pnl_replaces_the_computed_one_once() -> None:
    d = rule_driver(DailyLossLimit, limit="5000")
    round_trip(d, "21000", "20850", None, "49094.78")
    [sell] = [f for f in d.acct.day.fills if f.side is Side.SELL]
    relisted = fill(MNQ, Side.SELL, 3, "20850", pnl="-903.00", fees="2.61", trade_id=sell.trade_id)
    [alert] = d.engine.diverged(ACC, [relisted])  # the periodic read sees the difference
    assert "booked as computed" in alert.message
    out = gateway_read(d, relisted, account("49091.78"))
    assert Reason.PNL_COMPUTED in [a.reason for a in alerts(out)]
    assert d.acct.day.realized == D("-908.22") and d.acct.week.realized == D("-908.22")
    gateway_read(d, relisted, account("49091.78"))  # read again: never counted twice
    assert d.acct.day.realized == D("-908.22")
    assert d.engine.diverged(ACC, [relisted]) == []


def test_a_position_held_from_before_monitoring_takes_the_gateways_average_price() -> None:
    d = rule_driver(DailyLossLimit, limit="5000")
    d.send(position(MNQ, 2, "21000.50"), quote(MNQ, "21000"))  # opened before: no fills seen
    d.send(fill(MNQ, Side.SELL, 2, "20900"))
    assert d.acct.day.realized == D("-402.00")  # -100.50 pts x 2 x $2


def test_an_opening_fill_without_pnl_asks_for_nothing() -> None:
    d = rule_driver(DailyLossLimit, limit="5000")
    out = d.send(fill(MNQ, Side.BUY, 1, "21000"))
    assert not trade_reads(out) and not alerts(out)
