"""The gateway's average price is a float: fills averaging to a repeating fraction come as
21001.583333333332 (21000.25 + 2 x 21002.25). Reported: the day read -251.359999999992 where
it was -251.36, so a daily loss limit of 251.36 fired a tick late (and a profit target on the
other side of the rounding, too). A whole position's cost is a whole number of ticks."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from tests.factories import MNQ, Driver, account, fill, make_engine, position, quote

THREE_LOTS = "21001.583333333332"  # 21000.25 + 2 x 21002.25, as the gateway's float says it
BELOW = "21014.916666666668"  # 2 x 21015.00 + 21014.75


def scaled_in(rule: type, raw: dict[str, str], prices: tuple[str, str, str], avg: str) -> Driver:
    d = Driver(make_engine({rule: raw}))
    d.send(account(), quote(MNQ, prices[0]))
    held = 0
    for n, price in enumerate(prices, start=1):
        held += 1
        d.send(fill(MNQ, Side.BUY, 1, price, order_id=n))
    d.send(position(MNQ, held, avg))
    return d


def test_a_loss_limit_fires_at_the_exact_touch_of_a_three_lot_averaged_at_a_fraction() -> None:
    d = scaled_in(
        DailyLossLimit,
        {"limit": "249.50", "basis": "equity"},
        ("21000.25", "21002.25", "21002.25"),
        THREE_LOTS,
    )
    d.send(quote(MNQ, "20960.25"))  # (62880.75 - 63004.75) x 2 = -248.00: inside
    assert d.acct.state is State.Trading
    assert d.acct.open_upnl == Decimal("-248.00")
    d.send(quote(MNQ, "20960"))  # -249.50: the limit touched
    assert d.acct.open_upnl == Decimal("-249.50")
    assert d.acct.state is not State.Trading


def test_a_profit_target_fires_at_the_exact_touch_of_a_three_lot_averaged_at_a_fraction() -> None:
    d = scaled_in(
        DailyProfitTarget,
        {"target": "165.50", "basis": "equity"},
        ("21015.00", "21015.00", "21014.75"),
        BELOW,
    )
    d.send(quote(MNQ, "21042.25"))  # (63126.75 - 63044.75) x 2 = 164.00: short of it
    assert d.acct.state is State.Trading
    assert d.acct.open_upnl == Decimal("164.00")
    d.send(quote(MNQ, "21042.50"))  # 165.50: the target touched
    assert d.acct.open_upnl == Decimal("165.50")
    assert d.acct.state is not State.Trading


def test_a_part_closed_at_that_average_keeps_the_fraction_of_its_cost() -> None:
    """After a partial close the gateway keeps the weighted average, so what is left cost a
    fraction of a tick (2 x 21001.5833...): taken to whole ticks (as at first), the open P&L
    read -6.50 for -6.33 and a loss limit of 7.60 closed a trader at -7.50 (an adversarial
    review). Only the float's noise goes."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "7.60", "basis": "equity"}}))
    d.send(account(), quote(MNQ, "21001.00"))
    d.send(fill(MNQ, Side.BUY, 1, "21000.25", order_id=1))
    d.send(fill(MNQ, Side.BUY, 2, "21002.25", order_id=2))
    d.send(position(MNQ, 3, THREE_LOTS))
    d.send(fill(MNQ, Side.SELL, 1, "21001.00", pnl="-1.17", order_id=3))
    d.send(position(MNQ, 2, THREE_LOTS))  # the gateway keeps the weighted average
    d.send(quote(MNQ, "21000.00"))
    # (21000 - 21001.58333...) x 2 x $2 = -6.3333...: -6.33, as closing them would book it
    assert d.acct.open_upnl == Decimal("-6.33")
    assert d.acct.state is State.Trading  # the day at -7.50: inside 7.60
