"""An exposed account read after a restart before its trades (`exposure.Behind`) is judged on
realized P&L at once when its balance, listed after the hubs were subscribed, settles what
those trades realized (`core.unread`); any other balance waits for the trades, so a win or a
loss made while the service was down never makes the judgement looser or falsely strict."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk import reconciler
from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ACC, MNQ, T0, Driver, account, fill, make_engine, position, quote

EARLIER = T0 - timedelta(minutes=10)  # while the service was down
BOUGHT = fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101, at=EARLIER)


def restarted(listed: str | None, *, realized: str = "0") -> Driver:
    """Long 2 MNQ at 21000 with a $500 daily loss limit and a $50,000 balance (``realized``:
    a round trip of the day closed before the stop, in the balance); then the restart's
    enforcing step, whose listing carries the balance listed after the subscription."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    before: list[object] = []
    if realized != "0":
        before = [
            fill(MNQ, Side.BUY, 1, "21000", order_id=7, trade_id=97, at=EARLIER),
            fill(MNQ, Side.SELL, 1, "21000", pnl=realized, order_id=8, trade_id=98, at=EARLIER),
        ]
    d.send(*before, account(str(Decimal(50000) + Decimal(realized))), BOUGHT)
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    held = frozenset({MNQ})
    applied = frozenset({97, 98, 101} if before else {101})
    d.send(
        Listing(
            ACC,
            held,
            frozenset(),
            held,
            frozenset(),
            applied,
            behind=True,
            listed=None if listed is None else Decimal(listed),
        ),
        position(MNQ, 2, "21000"),
    )
    return d


def closes(effects: list[object]) -> list[object]:
    return [e for e in effects if isinstance(e, ClosePosition)]


def test_a_balance_unmoved_while_down_lets_the_loss_limit_judge_before_the_trades() -> None:
    """The hunt: 40 of 60 accounts stayed open 60 s past their loss limit, waiting for the
    trades read of an account whose balance had not moved."""
    d = restarted("50000")
    acct = d.engine.accounts[ACC]
    assert acct.behind is not None and acct.behind.settled
    sent = d.send(quote(MNQ, "20850"))  # -$600 open on a $500 limit, its trades not read yet
    assert acct.state is State.Flattening, "judged at once: nothing was realized while down"
    assert [c.contract_id for c in closes(sent)] == [MNQ]


def test_the_realized_loss_stored_before_the_stop_counts_while_the_trades_wait() -> None:
    d = restarted("49700", realized="-300")  # -$300 realized before the stop
    acct = d.engine.accounts[ACC]
    assert acct.day.realized == -300 and acct.behind is not None and acct.behind.settled
    d.send(quote(MNQ, "20950"))  # -$200 open: -$500 on the day, at the limit
    assert acct.state is State.Flattening


def test_a_win_while_down_waits_for_the_trades_and_never_closes_falsely() -> None:
    """-$300 realized before the stop, +$400 won while down: the stored books alone would
    make -$600 of a -$200 open loss; the balance differs, so the trades decide."""
    d = restarted("50100", realized="-300")  # 49,700 at the stop, +400 while down
    acct = d.engine.accounts[ACC]
    assert acct.behind is not None and not acct.behind.settled
    d.send(quote(MNQ, "20950"))  # -$200 open
    assert acct.state is State.Trading and not closes(d.effects)
    won = (
        fill(MNQ, Side.BUY, 1, "20800", order_id=2, trade_id=102, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "21000", pnl="400", order_id=3, trade_id=103, at=EARLIER),
    )
    trades = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=7, trade_id=97, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "21000", pnl="-300", order_id=8, trade_id=98, at=EARLIER),
        BOUGHT,
        *won,
    )
    d.send(TradesSnapshot(ACC, acct.week.start, trades, frozenset({97, 98, 101})), Tick(ACC))
    assert acct.behind is None and acct.day.realized == 100
    assert acct.state is State.Trading and not closes(d.effects)  # -$100 on the day


def test_a_loss_while_down_is_not_judged_from_the_balance_but_once_read() -> None:
    d = restarted("49600")  # -$400 realized while down
    acct = d.engine.accounts[ACC]
    assert acct.behind is not None and not acct.behind.settled
    d.send(quote(MNQ, "20970"))  # -$120 open: -$520 on the day, once the loss is read
    assert acct.state is State.Trading
    lost = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=2, trade_id=102, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "20800", pnl="-400", order_id=3, trade_id=103, at=EARLIER),
    )
    d.send(TradesSnapshot(ACC, acct.week.start, (BOUGHT, *lost), frozenset({101})), Tick(ACC))
    assert acct.day.realized == -400 and acct.state is State.Flattening


def test_round_trips_netting_nothing_while_down_are_booked_without_a_false_close() -> None:
    """Settled (a -$400 loss and a +$400 win while down): judged at once, and the trades,
    booked one at a time once read, do not fire on the loss before its win."""
    d = restarted("50000")
    acct = d.engine.accounts[ACC]
    d.send(quote(MNQ, "20925"))  # -$300 open: judged, no breach
    assert acct.state is State.Trading and acct.behind is not None and acct.behind.settled
    trades = (
        BOUGHT,
        fill(MNQ, Side.BUY, 1, "21000", order_id=2, trade_id=102, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "20800", pnl="-400", order_id=3, trade_id=103, at=EARLIER),
        fill(MNQ, Side.BUY, 1, "20800", order_id=4, trade_id=104, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "21000", pnl="400", order_id=5, trade_id=105, at=EARLIER),
    )
    d.send(TradesSnapshot(ACC, acct.week.start, trades, frozenset({101})), Tick(ACC))
    assert acct.behind is None and acct.day.realized == 0
    assert acct.state is State.Trading and not closes(d.effects)


def test_fees_paid_while_down_leave_it_to_the_trades() -> None:
    d = restarted("49999.26")  # a round trip at no P&L, $0.74 of fees: realized -0.74
    acct = d.engine.accounts[ACC]
    assert acct.behind is not None and not acct.behind.settled


def test_no_balance_listed_waits_for_the_trades_as_before() -> None:
    d = restarted(None)
    acct = d.engine.accounts[ACC]
    assert acct.behind is not None and not acct.behind.settled
    d.send(quote(MNQ, "20850"))
    assert acct.state is State.Trading


def test_a_live_trade_after_the_subscription_counts_beside_the_settled_books() -> None:
    d = restarted("50000")
    acct = d.engine.accounts[ACC]
    d.send(
        fill(MNQ, Side.SELL, 1, "20900", pnl="-200", order_id=9, trade_id=109),
        position(MNQ, 1, "21000"),
        quote(MNQ, "20900"),
    )  # -$200 realized live, -$200 open on the one left: -$400
    assert acct.state is State.Trading and acct.day.realized == -200
    d.send(quote(MNQ, "20875"))  # -$250 open: -$450
    assert acct.state is State.Trading
    d.send(quote(MNQ, "20850"))  # -$300 open: -$500, the limit
    assert acct.state is State.Flattening


def test_an_account_settled_by_its_balance_reads_its_trades_after_the_probes() -> None:
    def level(**kw: bool) -> int:
        return reconciler.urgency(enforcing=False, exposed=True, known=True, probed=True, **kw)

    assert level(behind=True) == reconciler.HISTORY < reconciler.PROBE
    assert level(behind=True, settled=True) == reconciler.REST
