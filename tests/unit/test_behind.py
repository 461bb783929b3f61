"""An exposed account is enforced from its positions and working orders before its trades are
read (see fsm_risk/reconciler.py): between the two it is behind. The trades read later are
already in the positions enforced, so they move nothing twice; the limits on realized P&L
wait for them, so a trade not read yet can neither fire them falsely nor hide a breach once
read."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import Alert, ClosePosition, ReducePosition
from fsm_risk.core.events import EnforcementAccepted, Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import ACC, MES, MNQ, T0, Driver, account, fill, make_engine, position, quote

EARLIER = T0 - timedelta(minutes=10)  # while the service was down


def behind_listing(applied: set[int], listed: frozenset[str] = frozenset({MNQ})) -> Listing:
    """The enforcing step's listing (positions and orders read, the trades to follow) of an
    account that held MNQ when the read began."""
    before = frozenset({MNQ})
    return Listing(ACC, listed, frozenset(), before, frozenset(), frozenset(applied), behind=True)


def snapshot_of(*events: object, applied: set[int]) -> list[object]:
    import dataclasses

    return [dataclasses.replace(e, snapshot=True, applied=frozenset(applied)) for e in events]


def enforcement(effects: list[object]) -> list[object]:
    return [e for e in effects if isinstance(e, ClosePosition | ReducePosition)]


def test_a_position_read_ahead_of_its_trades_is_reduced_once_and_its_trades_book_once() -> None:
    d = Driver(make_engine({MaxContracts: {"limit": "5"}}))
    bought = fill(MNQ, Side.BUY, 5, "21000", order_id=1, trade_id=101, at=EARLIER)
    d.send(account(), bought, position(MNQ, 5, "21000"))
    acct = d.engine.accounts[ACC]
    assert acct.net[MNQ] == 5 and not enforcement(d.effects)

    # the enforcing step: a sixth contract bought while the service was down (its trade
    # not read yet)
    sent = d.send(behind_listing({101}), *snapshot_of(position(MNQ, 6, "21000"), applied={101}))
    assert [(type(e), e.size) for e in enforcement(sent)] == [(ReducePosition, 1)]
    assert acct.behind is not None
    # the reduction fills, live, before the trades are read
    d.send(EnforcementAccepted(ACC, MNQ, 900))
    live = d.send(
        fill(MNQ, Side.SELL, 1, "21010", pnl="20", order_id=900, trade_id=103),
        position(MNQ, 5, "21000"),
    )
    assert not enforcement(live)
    assert acct.contracts[MNQ].state is State.Trading  # reduced to the limit: confirmed

    # the history step: the sixth contract's trade is in the position taken already
    sixth = fill(MNQ, Side.BUY, 1, "21000", fees="0.37", order_id=2, trade_id=102, at=EARLIER)
    listed = (bought, sixth, fill(MNQ, Side.SELL, 1, "21010", pnl="20", order_id=900,
                                  trade_id=103))  # fmt: skip
    after = d.send(TradesSnapshot(ACC, acct.week.start, listed, frozenset({101, 103})), Tick(ACC))
    assert not enforcement(after), after
    assert acct.behind is None
    assert acct.net[MNQ] == 5 and acct.positions[MNQ].size == 5  # not 6: booked once
    assert 102 in acct.seen_trades and [f.trade_id for f in acct.day.fills] == [101, 103, 102]
    assert acct.day.fees == sixth.fees
    assert not [
        e for e in [*sent, *live, *after]
        if isinstance(e, Alert) and e.reason is Reason.POSITION_WITHOUT_FILLS
    ]  # fmt: skip


def test_a_position_closed_while_down_is_flat_at_once_and_its_loss_counts_once_read() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    bought = fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=201, at=EARLIER)
    d.send(account(), bought, position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    acct = d.engine.accounts[ACC]
    # the enforcing step lists no position: closed while down (its trade not read yet)
    d.send(behind_listing({201}, frozenset()))
    assert MNQ not in acct.positions and not acct.exposed()
    sold = fill(MNQ, Side.SELL, 2, "20700", pnl="-1200", order_id=2, trade_id=202, at=EARLIER)
    d.send(TradesSnapshot(ACC, acct.week.start, (bought, sold), frozenset({201})), Tick(ACC))
    assert acct.net.get(MNQ, 0) == 0  # not -2: the close was in the listing already
    assert acct.day.realized == -1200
    assert acct.state is State.LockedDaily  # the loss read late is judged once read


def test_the_pnl_limits_wait_for_the_trades_of_an_account_behind() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    bought = fill(MNQ, Side.BUY, 1, "21000", order_id=1, trade_id=301, at=EARLIER)
    d.send(account(), bought, position(MNQ, 1, "21000"), quote(MNQ, "21000"))
    acct = d.engine.accounts[ACC]
    d.send(behind_listing({301}), *snapshot_of(position(MNQ, 1, "21000"), applied={301}))
    # -$1,500 open (MNQ: $2 a point) while a +$2,000 trade of the day is not read yet
    d.send(quote(MNQ, "20250"))
    assert acct.state is State.Trading and not enforcement(d.effects)
    trades = (
        bought,
        fill(MNQ, Side.BUY, 1, "20000", order_id=2, trade_id=302, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "21000", pnl="2000", order_id=3, trade_id=303, at=EARLIER),
    )
    d.send(TradesSnapshot(ACC, acct.week.start, trades, frozenset({301})), Tick(ACC))
    assert acct.behind is None and acct.day.realized == 2000
    assert acct.state is State.Trading and not enforcement(d.effects)  # +$500 on the day
    assert acct.net[MNQ] == 1
    d.send(quote(MNQ, "19500"))  # -$3,000 open: -$1,000 on the day, judged at once
    assert acct.state is State.Flattening


def test_round_trips_made_while_down_count_once_their_trades_are_read() -> None:
    d = Driver(make_engine({MaxConsecutiveLosses: {"losses": "2"}}))
    bought = fill(MNQ, Side.BUY, 1, "21000", order_id=1, trade_id=401, at=EARLIER)
    d.send(account(), bought, position(MNQ, 1, "21000"))
    acct = d.engine.accounts[ACC]
    # while down: that position closed at a loss, a second round trip lost too, and a third
    # was opened; the enforcing step lists it
    d.send(behind_listing({401}), *snapshot_of(position(MNQ, 1, "20900"), applied={401}))
    assert acct.state is State.Trading
    minute = timedelta(minutes=1)
    trades = (
        bought,
        fill(MNQ, Side.SELL, 1, "20990", pnl="-20", order_id=2, trade_id=402, at=EARLIER + minute),
        fill(MNQ, Side.BUY, 1, "20990", order_id=3, trade_id=403, at=EARLIER + 2 * minute),
        fill(
            MNQ, Side.SELL, 1, "20980", pnl="-20", order_id=4, trade_id=404, at=EARLIER + 3 * minute
        ),
        fill(MNQ, Side.BUY, 1, "20900", order_id=5, trade_id=405, at=EARLIER + 4 * minute),
    )
    d.send(TradesSnapshot(ACC, acct.week.start, trades, frozenset({401})), Tick(ACC))
    assert acct.behind is None and acct.net[MNQ] == 1
    assert [t.net for t in acct.day.trips][-2:] == [Decimal(-20), Decimal(-20)]
    assert acct.trips_open[MNQ].opened_at == EARLIER + 4 * minute  # the trip held now
    assert acct.state is not State.Trading  # the second loss in a row stops trading


def test_trades_made_while_down_are_the_traders_even_once_the_first_starts_a_flatten() -> None:
    """Reported: two losing MNQ round trips made while the service was down, MES held open.
    Read back, the first (-151.74) fired RULE-008 and the account flattened (MES kept it
    Flattening); the second (-601.74) was then booked as the service's own close, so RULE-011
    (two losses in a row: the day) never saw it, and the trader was back in 15 minutes. A
    trade from before the flatten began is never the flatten's close."""
    from fsm_risk.rules.trade_cooldown import TradeCooldown

    rules = {
        TradeCooldown: {"tiers": "100: 15, 500: 60"},
        MaxConsecutiveLosses: {"losses": "2", "lock": "daily"},
    }
    d = Driver(make_engine(rules))
    held = fill(MES, Side.BUY, 1, "6000", order_id=1, trade_id=501, at=EARLIER)
    d.send(account(), held, position(MES, 1, "6000"))
    acct = d.engine.accounts[ACC]
    listed = frozenset({MES})
    d.send(
        Listing(ACC, listed, frozenset(), listed, frozenset(), frozenset({501}), behind=True),
        *snapshot_of(position(MES, 1, "6000"), applied={501}),
    )
    minute = timedelta(minutes=1)
    trades = (
        held,
        fill(MNQ, Side.BUY, 1, "21000", order_id=2, trade_id=502, at=EARLIER + minute),
        fill(
            MNQ,
            Side.SELL,
            1,
            "20925",
            pnl="-150",
            fees="1.74",
            order_id=3,
            trade_id=503,
            at=EARLIER + 2 * minute,
        ),
        fill(MNQ, Side.BUY, 1, "21000", order_id=4, trade_id=504, at=EARLIER + 3 * minute),
        fill(
            MNQ,
            Side.SELL,
            1,
            "20700",
            pnl="-600",
            fees="1.74",
            order_id=5,
            trade_id=505,
            at=EARLIER + 4 * minute,
        ),
    )
    d.send(TradesSnapshot(ACC, acct.week.start, trades, frozenset({501})), Tick(ACC))
    assert [f.enforcement for f in acct.day.fills if f.trade_id in (503, 505)] == [False, False]
    assert [t.net for t in acct.day.trips][-2:] == [Decimal("-151.74"), Decimal("-601.74")]
    d.send(position(MES, 0, "6000"))  # the flatten's close of MES: flat
    assert acct.state is State.LockedDaily  # two losses in a row: the day, not 15 minutes
