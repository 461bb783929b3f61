"""What looks like a firm's reset never loosens the equity-basis loss limits through the carry.

Found by a review of 786b5b3 (a book replaced by the list's only when its realized P&L is
lower): a position held over the day's end carries +300 into the day, and the day's P&L on
the equity basis is realized + open - carry; replaced by a lower realized P&L with the carry
dropped, the day went from -300 to -100 (a capped list and a fee in one read), and a real day
of -1,100 under a limit of 1,000 stayed Trading. Nothing is changed on it now (`wiped`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    MES,
    MNQ,
    account,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    rule_driver,
)

D = Decimal


def test_capped_list_and_fee_never_loosen_the_days_equity_pnl() -> None:
    d = rule_driver(DailyLossLimit, limit="1000")
    # Monday: long 2 MNQ at 21000, held over the day's end at 21075 (+300 open)
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now), position(MNQ, 2, "21000", at=d.now)
    )
    d.send(quote(MNQ, "21075", at=d.now))
    end = d.acct.day.end
    while d.now < end + timedelta(minutes=5):
        d.advance(minutes=30)
        d.send(quote(MNQ, "21075", at=d.now))
    assert d.acct.day.carry == D("300"), d.acct.day.carry
    # Tuesday: two MES round trips, +100 then -300 (realized -200); MNQ at 21050 (+200 open)
    d.send(quote(MES, "6000", at=d.now))
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=10, at=d.now), position(MES, 1, "6000", at=d.now)
    )
    d.advance(minutes=5)
    d.send(quote(MNQ, "21050", at=d.now), quote(MES, "6020", at=d.now))
    d.send(
        fill(MES, Side.SELL, 1, "6020", pnl="100", order_id=11, at=d.now),
        flat(MES, at=d.now),
        account("50100.00"),
    )
    d.advance(minutes=5)
    b2 = fill(MES, Side.BUY, 1, "6000", order_id=12, at=d.now)
    d.send(quote(MES, "6000", at=d.now), b2, position(MES, 1, "6000", at=d.now))
    d.advance(minutes=5)
    s2 = fill(MES, Side.SELL, 1, "5940", pnl="-300", order_id=13, at=d.now)
    d.send(
        quote(MNQ, "21050", at=d.now),
        quote(MES, "5940", at=d.now),
        s2,
        flat(MES, at=d.now),
        account("49800.00"),
    )
    a = d.acct
    before = a.day_pnl(with_unrealized=True)
    assert before == D("-300")
    # a $5 fee no fill explains; the next read's list is capped (newest first): only the
    # losing round trip; the MNQ position is still open at the gateway
    d.advance(seconds=30)
    d.send(account("49795.00"), quote(MNQ, "21050", at=d.now))
    gateway_read(
        d,
        account("49795.00"),
        position(MNQ, 2, "21000", at=d.now),
        trades=(b2, s2),
        since=a.week.start,
    )
    after = a.day_pnl(with_unrealized=True)
    # MNQ falls to 20850: the true day is -300 - 800 = -1,100, past the 1,000 limit
    d.advance(seconds=5)
    d.send(quote(MNQ, "20850", at=d.now), quote(MES, "5940", at=d.now))
    assert after <= before, f"the day's P&L was made looser: {before} -> {after}"
    assert a.state is not State.Trading
