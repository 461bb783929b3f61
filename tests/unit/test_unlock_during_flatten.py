"""An admin's forced Trading during a flatten (or a lock's close) ends the account's closes:
the contracts closing only for the account's cause are forced with it, audited; a close of
ours already working still counts as ours when it fills; a contract's own lock is kept.

Found by a hunt: forced to Trading while RULE-003's close was refused, the account said
Trading but its contract stayed in Flattening: the close was re-sent 30 s later and the
trader's new entry in that contract cancelled and closed, citing the waived RULE-003."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import (
    AdminCommand,
    EnforcementAccepted,
    EnforcementRejected,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ACC,
    ES,
    MNQ,
    T0,
    Driver,
    account,
    cancels,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    quote,
    transitions,
)


def breached() -> tuple[Driver, int]:
    """1 ES long, -$625 open on a $500 daily loss limit: flattening, its close sent."""
    d = Driver(make_engine({TradeCooldown: {}, DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=20), position(ES, 1, "6000"))
    out = d.send(quote(ES, "5950"))
    assert d.acct.state is State.Flattening and closes(out)
    return d, closes(out)[-1].seq


def test_a_refused_close_is_not_sent_again_after_the_unlock() -> None:
    d, seq = breached()
    out = d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    assert (ES, "Flattening", "Trading", "force") in transitions(out)
    d.now += timedelta(seconds=1)
    d.send(EnforcementRejected(ACC, ES, None, "refused", seq=seq))
    out = d.send(order(95, ES, Side.BUY, 1, limit="5940", at=d.now))
    out += d.send(
        fill(ES, Side.BUY, 1, "5950", order_id=96, at=d.now), position(ES, 2, "5975", at=d.now)
    )
    for _ in range(6):
        out += d.advance(seconds=15)
    assert closes(out) == [] and cancels(out) == []
    assert d.acct.state is State.Trading and d.acct.contracts[ES].state is State.Trading


def test_our_close_filling_after_the_unlock_is_still_ours() -> None:
    d, seq = breached()
    d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    d.now = T0 + timedelta(seconds=1)
    done = OrderUpdate(
        ACC, 555, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 1, d.now, fill_volume=1
    )
    d.send(
        EnforcementAccepted(ACC, ES, None, seq),
        done,
        fill(ES, Side.SELL, 1, "5950", pnl="-625", order_id=555, at=d.now),
        flat(ES, at=d.now),
    )
    assert d.acct.state is State.Trading  # no RULE-008 cooldown: the loss was our close's
    assert "RULE-008" not in d.acct.holds


def test_a_contracts_own_lock_is_kept_by_the_accounts_unlock() -> None:
    d, _ = breached()
    d.send(AdminCommand(ACC, State.LockedDaily, "no MNQ", "ana", contract_id=MNQ))
    out = d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    assert d.acct.contracts[MNQ].state is State.LockedDaily
    assert not any(c == MNQ for c, *_ in transitions(out))


def test_a_forced_lock_keeps_the_closes_going() -> None:
    d, seq = breached()
    d.send(AdminCommand(ACC, State.Cooldown, "cool off", "ana", minutes=30))
    d.send(EnforcementRejected(ACC, ES, None, "refused", seq=seq))
    out = d.advance(seconds=30)
    assert d.acct.contracts[ES].state is State.Flattening and closes(out)


def test_a_contract_forced_to_trading_keeps_its_unseen_close_ours() -> None:
    """Found by the same hunt: one contract forced to Trading while RULE-014's close of it
    worked (the gateway names no order for a close): its fill, -$625, was taken for the
    trader's own losing exit and RULE-008 cooled the whole account down."""
    d = Driver(make_engine({TradeCooldown: {}, PositionStopLoss: {"limit": "400"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=20), position(ES, 1, "6000"))
    seq = closes(d.send(quote(ES, "5950")))[-1].seq  # -625 open: RULE-014 closes ES
    d.send(AdminCommand(ACC, State.Trading, "leave ES", "ana", contract_id=ES))
    d.now = T0 + timedelta(seconds=1)
    done = OrderUpdate(
        ACC, 556, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 1, d.now, fill_volume=1
    )
    d.send(
        EnforcementAccepted(ACC, ES, None, seq),
        done,
        fill(ES, Side.SELL, 1, "5950", pnl="-625", order_id=556, at=d.now),
        flat(ES, at=d.now),
    )
    assert d.acct.state is State.Trading and "RULE-008" not in d.acct.holds
    d.advance(seconds=30)  # past its close timeout: nothing of it is kept
    assert ES not in d.acct.contracts or not d.acct.contracts[ES].close_in_flight
