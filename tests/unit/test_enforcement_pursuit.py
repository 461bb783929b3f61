"""One close in flight per contract, and the next one out as soon as it is done.

A trader who adds faster than one reduce at a time must be reduced close after close, each
sent when the previous one is done at the gateway (its order final and its fills seen), never
when a timer fires; never two at once, never more than is open. The gateway's answer to a
close carries no order id: the service recognises its order among the order events."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from itertools import count

from fsm_risk.core.effects import ClosePosition, Effect, Level, ReadAccount, ReducePosition
from fsm_risk.core.events import (
    AdminCommand,
    EnforcementAccepted,
    EnforcementRejected,
    Event,
    Fill,
    OrderStatus,
    OrderType,
    Side,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    alerts,
    cancels,
    closes,
    fill,
    flat,
    gateway_read,
    make_engine,
    market,
    order,
    position,
    quote,
    reads,
    reduces,
    restart,
    trip_on,
)

LIMIT = 3
_ids = count(500)


def engine() -> Driver:
    raw = {"limits": f"MNQ: {LIMIT}", "default_limit": "10"}
    d = Driver(make_engine({MaxContractsPerInstrument: raw}))
    d.send(account())
    return d


def rebuild() -> object:
    return make_engine({MaxContractsPerInstrument: {"limits": f"MNQ: {LIMIT}"}})


class Gateway:
    """A tiny stand-in for the gateway's books on one contract: it builds the events it would
    push, and checks what the service sends against what is open."""

    def __init__(self, d: Driver) -> None:
        self.d = d
        self.size = 0
        self.in_flight: list[tuple[int, ReducePosition | ClosePosition]] = []
        self.sent: list[ReducePosition | ClosePosition] = []

    def take(self, out: list[Effect]) -> None:
        for e in out:
            if isinstance(e, ReducePosition | ClosePosition) and e.contract_id == MNQ:
                size = e.size if isinstance(e, ReducePosition) else self.size
                assert 0 < size <= self.size, f"{e} with {self.size} open"
                self.in_flight.append((next(_ids), e))
                self.sent.append(e)
                assert len(self.in_flight) == 1, "two service closes in flight"

    def send(self, *events: Event) -> list[Effect]:
        out = self.d.send(*events)
        self.take(out)
        return out

    def trader_buy(self, n: int = 1, *, position_first: bool = False) -> list[Effect]:
        oid = next(_ids)
        self.size += n
        events: list[Event] = [
            market(oid, Side.BUY, n, OrderStatus.OPEN),
            market(oid, Side.BUY, n, OrderStatus.FILLED, n),
            fill(MNQ, Side.BUY, n, "21000", order_id=oid),
        ]
        pos = position(MNQ, self.size, "21000")
        events.insert(1 if position_first else 3, pos)
        return self.send(*events)

    def close_order(self) -> tuple[int, int]:
        oid, e = self.in_flight[0]
        size = e.size if isinstance(e, ReducePosition) else self.size
        return oid, size

    def accept(self) -> list[Effect]:
        oid, size = self.close_order()
        return self.send(market(oid, Side.SELL, size, OrderStatus.OPEN))

    def fill_close(self, *, position_first: bool = False, parts: tuple[int, ...] = ()) -> None:
        oid, size = self.close_order()
        self.in_flight.pop(0)
        pieces = parts or (size,)
        done = 0
        for i, part in enumerate(pieces):
            done += part
            self.size -= part
            final = i == len(pieces) - 1
            status = OrderStatus.FILLED if final else OrderStatus.OPEN
            order_ev = market(oid, Side.SELL, size, status, done)
            trade = fill(MNQ, Side.SELL, part, "21000", pnl="0", order_id=oid)
            pos = position(MNQ, self.size, "21000") if self.size else flat(MNQ)
            self.send(*((pos, order_ev, trade) if position_first else (order_ev, trade, pos)))

    def reject_close(self) -> None:
        oid, size = self.close_order()
        self.in_flight.pop(0)
        self.send(
            market(oid, Side.SELL, size, OrderStatus.REJECTED),
            EnforcementRejected(ACC, MNQ, None, "Order rejected: market closed"),
        )


def burst(gw: Gateway, n: int) -> None:
    for _ in range(n):
        gw.trader_buy()


def test_the_next_reduce_goes_out_when_the_first_is_filled_not_at_the_timeout() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    assert [r.size for r in reduces(gw.d.effects)] == [1]
    gw.accept()
    burst(gw, 6)  # the trader adds while our reduce works: no second reduce meanwhile
    assert len(gw.sent) == 1
    gw.fill_close()  # no time passes: the next one goes with the events that end the first
    assert [r.size for r in reduces(gw.d.effects)] == [1, 6]
    gw.accept()
    gw.fill_close()
    assert gw.size == LIMIT and gw.in_flight == []
    assert gw.d.acct.contracts[MNQ].state is State.Trading


def test_the_gateway_position_before_the_closing_fill_sizes_the_next_reduce_right() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.accept()
    for _ in range(6):
        gw.trader_buy(position_first=True)
    gw.fill_close(position_first=True)  # position 9 arrives before the order and the fill
    assert [r.size for r in reduces(gw.d.effects)] == [1, 6]


def test_a_partly_filled_reduce_is_done_only_when_every_fill_is_seen() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.accept()
    burst(gw, 6)
    gw.fill_close()  # size 9: reduce 6
    assert [r.size for r in reduces(gw.d.effects)] == [1, 6]
    gw.accept()
    oid, _ = gw.close_order()
    gw.in_flight.pop(0)
    # the order says filled (6) before the second of its two trades arrives
    gw.send(market(oid, Side.SELL, 6, OrderStatus.OPEN, 4))
    gw.send(fill(MNQ, Side.SELL, 4, "21000", pnl="0", order_id=oid))
    gw.size -= 4
    gw.send(market(oid, Side.SELL, 6, OrderStatus.FILLED, 6))
    burst(gw, 2)  # the trader adds meanwhile: 7 at the gateway
    assert len(reduces(gw.d.effects)) == 2  # the last 2 of ours are still on their way
    gw.size -= 2
    gw.send(fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=oid), position(MNQ, gw.size, "1"))
    assert [r.size for r in reduces(gw.d.effects)] == [1, 6, 2]
    gw.in_flight.clear()  # (the stand-in's record of the last one, not checked further)


def test_a_reduce_filled_in_parts_with_the_position_first_is_never_oversized() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.accept()
    burst(gw, 6)
    gw.fill_close()
    gw.accept()
    gw.fill_close(parts=(1, 2, 3), position_first=True)
    assert gw.size == LIMIT
    assert gw.d.acct.contracts[MNQ].state is State.Trading
    assert [r.size for r in reduces(gw.d.effects)] == [1, 6]


def test_a_rejected_reduce_is_retried_after_the_backoff_not_in_a_loop() -> None:
    gw = Gateway(engine())
    gw.trader_buy(5)
    gw.accept()
    gw.reject_close()
    assert [a.reason for a in alerts(gw.d.effects)] == [Reason.CLOSE_REJECTED]
    assert len(gw.sent) == 1  # same position, same refusal: not at once
    gw.take(gw.d.advance(seconds=10))
    assert [r.size for r in reduces(gw.d.effects)] == [2, 2]
    # the alert says what is known (reported: "ended without a fill" for a close that filled
    # while the service was stopped, the position still over its target at the restart)
    [again] = [a for a in alerts(gw.d.effects) if a.reason is Reason.CLOSE_NOT_CONFIRMED]
    assert again.message == (
        f"close of {MNQ} re-sent (attempt 2): the last ended with 5 open, target {LIMIT}"
    )


def test_a_rejected_reduce_is_resized_at_once_when_the_position_moved() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.accept()
    burst(gw, 3)  # 7 at the gateway while the reduce of 1 is refused
    gw.reject_close()
    assert [r.size for r in reduces(gw.d.effects)] == [1, 4]


def test_a_tightened_target_closes_the_rest_when_the_reduce_is_done() -> None:
    close_all = Verdict(
        "RULE-T01", Reason.POSITION_HOLD_TIME, Action.CLOSE, Scope.CONTRACT, contract_id=MNQ
    )
    raw = {"limits": f"MNQ: {LIMIT}", "default_limit": "10"}
    d = Driver(make_engine({MaxContractsPerInstrument: raw}, extra=[trip_on(Fill, close_all)]))
    d.send(account())
    gw = Gateway(d)
    gw.size = 5
    gw.send(position(MNQ, 5, "21000"))  # reduce 2 (no fill yet: the scripted rule waits)
    gw.accept()
    gw.trader_buy()  # a fill: the scripted rule wants the contract closed
    gw.fill_close()
    assert isinstance(gw.sent[-1], ClosePosition)
    assert [type(e).__name__ for e in gw.sent] == ["ReducePosition", "ClosePosition"]


def test_enforcement_fills_of_a_burst_never_count_as_trader_trades() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.accept()
    burst(gw, 6)
    gw.fill_close()
    gw.accept()
    gw.fill_close()
    fills = gw.d.acct.day.fills
    assert sum(f.entry for f in fills if not f.enforcement) == 10
    assert all(f.entry == 0 for f in fills if f.enforcement)
    assert sum(f.exit for f in fills if f.enforcement) == 7


def test_a_close_in_flight_survives_a_restart_and_its_end_sends_the_next() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.accept()
    burst(gw, 6)
    gw.d = restart(gw.d, rebuild)  # type: ignore[arg-type]
    assert closes(gw.d.effects) == [] and reduces(gw.d.effects) == []  # still in flight
    gw.fill_close()
    assert [r.size for r in reduces(gw.d.effects)] == [6]


def test_a_close_unheard_of_is_re_sent_only_after_the_timeout_and_a_read() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.in_flight.clear()  # lost on its way: the gateway never placed it, nothing is heard
    assert len(gw.sent) == 1
    gw.take(gw.d.advance(seconds=9))
    assert len(gw.sent) == 1
    out = gw.d.advance(seconds=1)
    gw.take(out)
    assert len(gw.sent) == 1 and [r.contract_id for r in reads(out)] == [MNQ]
    assert "reading the gateway" in alerts(out)[0].message
    gw.take(gateway_read(gw.d, position(MNQ, gw.size, "21000")))  # 4 open, nothing working
    assert [r.size for r in reduces(gw.sent)] == [1, 1]
    assert [r.attempt for r in reduces(gw.sent)] == [1, 2]


def test_a_close_filled_unheard_of_is_confirmed_by_the_read_not_sent_again() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    oid, _ = gw.close_order()
    gw.in_flight.clear()  # filled at the gateway; its order, trade and position are lost
    gw.size -= 1
    out = gw.d.advance(seconds=10)
    gw.take(out)
    assert len(reads(out)) == 1 and len(gw.sent) == 1
    gw.take(
        gateway_read(
            gw.d,
            fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=oid),
            position(MNQ, 3, "21000"),
        )
    )
    assert len(gw.sent) == 1
    assert gw.d.acct.contracts.get(MNQ) is None or gw.d.acct.contracts[MNQ].state is State.Trading
    gw.take(gw.d.advance(seconds=60))
    assert len(gw.sent) == 1 and reads(gw.d.effects) == reads(out)


def test_a_close_still_working_per_the_read_is_waited_for() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    oid, size = gw.close_order()  # placed and working at the gateway; its records lost
    gw.take(gw.d.advance(seconds=10))
    out = gateway_read(
        gw.d, market(oid, Side.SELL, size, OrderStatus.OPEN), position(MNQ, 4, "21000")
    )
    gw.take(out)
    assert len(gw.sent) == 1 and "still working" in alerts(out)[-1].message
    gw.fill_close()  # then it fills, and is heard
    assert len(gw.sent) == 1 and gw.d.acct.positions[MNQ].size == 3


def test_a_close_the_read_showed_working_is_read_again_and_its_unheard_fill_confirmed() -> None:
    """The read says our close works; it then fills with its records lost. The next timeout
    reads again (the close would otherwise be waited for forever) and the read confirms it."""
    gw = Gateway(engine())
    burst(gw, 4)
    oid, size = gw.close_order()  # placed and working at the gateway; its records lost
    gw.take(gw.d.advance(seconds=10))
    working = market(oid, Side.SELL, size, OrderStatus.OPEN)
    out = gateway_read(gw.d, working, position(MNQ, 4, "21000"))
    gw.take(out)
    assert reads(out) == []  # the read just said it works: nothing to read again yet
    gw.in_flight.clear()  # it fills at the gateway, unheard of
    gw.size -= size
    out = gw.d.advance(seconds=20)  # the backoff after the read
    gw.take(out)
    assert [r.contract_id for r in reads(out)] == [MNQ] and len(gw.sent) == 1
    assert "still working after" in alerts(out)[-1].message
    assert "reading the gateway" in alerts(out)[-1].message
    gw.take(
        gateway_read(
            gw.d,
            fill(MNQ, Side.SELL, size, "21000", pnl="0", order_id=oid),
            position(MNQ, 3, "21000"),
        )
    )
    assert gw.d.acct.contracts.get(MNQ) is None or gw.d.acct.contracts[MNQ].state is State.Trading
    gw.take(gw.d.advance(seconds=120))
    assert len(gw.sent) == 1 and gw.d.acct.positions[MNQ].size == 3


def test_a_read_begun_before_the_timeout_does_not_answer_it() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.in_flight.clear()
    began = gw.d.now + timedelta(seconds=9)  # a read under way when the timeout passed
    gw.take(gw.d.advance(seconds=10))
    gw.take(gateway_read(gw.d, position(MNQ, 4, "21000"), began=began))
    assert len(gw.sent) == 1  # it may predate the close's fill: not enough to send again
    gw.take(gateway_read(gw.d, position(MNQ, 4, "21000")))
    assert len(gw.sent) == 2


def test_without_a_read_the_close_is_never_re_sent_and_the_read_is_asked_again() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.in_flight.clear()
    for _ in range(5):  # the gateway cannot be read: each timeout asks again
        gw.take(gw.d.advance(seconds=10))
    assert len(gw.sent) == 1 and len(reads(gw.d.effects)) == 5
    levels = [a.level for a in alerts(gw.d.effects) if a.reason is Reason.CLOSE_NOT_CONFIRMED]
    assert levels == [Level.WARNING] * 2 + [Level.CRITICAL] * 3  # from the 3rd ask on
    assert "asked 5 times, no read yet" in alerts(gw.d.effects)[-1].message


def test_a_restart_while_a_read_is_asked_takes_the_start_read_as_its_answer() -> None:
    gw = Gateway(engine())
    burst(gw, 4)
    gw.in_flight.clear()
    gw.take(gw.d.advance(seconds=10))
    d = restart(gw.d, rebuild)
    d.send(position(MNQ, 4, "21000"))  # the start's reconciliation: still 4, nothing working
    out = d.engine.resume(d.acc, set(), d.now)
    assert [r.size for r in reduces(out)] == [1] and reads(out) == []


def test_open_size_excludes_contracts_already_closed_by_fills() -> None:
    gw = Gateway(engine())
    gw.trader_buy(6)
    gw.accept()
    oid, size = gw.close_order()
    assert size == 3
    gw.in_flight.pop(0)
    gw.size -= 3
    gw.send(market(oid, Side.SELL, 3, OrderStatus.FILLED, 3))
    gw.send(fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=oid))
    # the gateway's position (still 6) has not caught up with the fill: nothing more is sent
    assert len(gw.sent) == 1
    assert gw.d.acct.positions[MNQ].size - gw.d.acct.positions[MNQ].settling == 3
    gw.send(position(MNQ, 3, "21000"))
    assert gw.d.acct.contracts[MNQ].state is State.Trading
    assert Decimal(0) == gw.d.acct.day.realized


def test_a_position_that_appears_while_its_contract_flattens_for_a_cancel_is_closed_at_once() -> (
    None
):
    from fsm_risk.rules.symbol_block import SymbolBlock

    d = Driver(make_engine({SymbolBlock: {"roots": "M*"}}))
    d.send(account())
    gw = Gateway(d)
    gw.send(market(40, Side.BUY, 2, OrderStatus.OPEN))  # blocked: cancelled on sight...
    assert d.acct.contracts[MNQ].state is State.Flattening and gw.sent == []
    gw.send(market(40, Side.BUY, 2, OrderStatus.FILLED, 2))  # ...but it filled first
    gw.send(fill(MNQ, Side.BUY, 2, "21000", order_id=40))
    gw.size = 2
    gw.send(position(MNQ, 2, "21000"))  # no time passes: closed with this event
    assert [type(e).__name__ for e in gw.sent] == ["ClosePosition"]


def test_a_market_order_that_closes_the_position_is_left_to_work_and_not_doubled() -> None:
    """The platform's liquidation (or the trader's exit) works while the account flattens:
    it is not cancelled, and no close of ours goes beside it (both would reverse)."""
    from fsm_risk.core.events import AccountUpdate

    close_all = Verdict("RULE-T01", Reason.DAILY_LOSS_LIMIT, Action.FLATTEN, lock=State.LockedDaily)
    d = Driver(make_engine(extra=[trip_on(AccountUpdate, close_all)]))
    gw = Gateway(d)
    d.send(position(MNQ, 2, "21000"))
    gw.size = 2
    gw.send(market(60, Side.SELL, 2, OrderStatus.OPEN))  # someone else's close, working
    gw.send(account())  # the account flattens now
    assert d.acct.state is State.Flattening
    assert gw.sent == [] and not [e for e in d.effects if type(e).__name__ == "CancelOrder"]
    gw.send(market(60, Side.SELL, 2, OrderStatus.CANCELLED))  # it did not fill after all
    assert [type(e).__name__ for e in gw.sent] == ["ClosePosition"]  # ours, at once


def test_the_traders_exits_adding_up_past_the_position_are_cancelled_not_left_to_reverse() -> None:
    """Reported: long 3 MNQ, three market sells of 3 working (a slow gateway), the day past
    its loss limit: each sell alone was taken for an exit and left working, so all three
    filled and the locked account was short 6 for 5 s. The first is the exit; the other two
    would reverse it and are cancelled at once (no close of ours beside the exit)."""

    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 3, "21000"))
    for oid in (11, 12, 13):
        d.send(order(oid, MNQ, Side.SELL, 3, type=OrderType.MARKET))
    out = d.send(quote(MNQ, "20800"))  # 3 x -200 pts x $2 = -1,200: past the limit
    assert d.acct.state is State.Flattening
    assert sorted(c.order_id for c in cancels(out)) == [12, 13]
    assert closes(out) == []  # the trader's own exit closes it


def test_a_traders_exit_after_our_close_of_the_whole_position_is_cancelled() -> None:
    """Our close of the whole position works: the trader's market sell of the same size
    placed after it would reverse the position once both fill (it was left working)."""

    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 3, "21000"))
    [close] = closes(d.send(quote(MNQ, "20800")))
    assert close.contract_id == MNQ
    d.send(EnforcementAccepted(ACC, MNQ, 900), market(900, Side.SELL, 3, OrderStatus.OPEN))
    out = d.send(market(901, Side.SELL, 3, OrderStatus.OPEN))  # the trader's own exit
    assert [c.order_id for c in cancels(out)] == [901]
    assert 900 not in [c.order_id for c in cancels(out)]


def test_a_fill_in_a_locked_account_with_no_position_update_asks_the_gateway_at_once() -> None:
    """Reported: the position feed quiet, a trader's buy in a Cooldown filled and its trade
    came, yet the position stayed open until the periodic read (7 s). The fills say it is
    open: the gateway's position is read at once (once per close timeout), and closed."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"))
    d.send(AdminCommand(ACC, State.Cooldown, "a break", "ops", minutes=30))
    out = d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=31))
    assert reads(out) == [ReadAccount(ACC, MNQ)]
    assert closes(out) == []  # nothing is closed from the fills alone
    assert reads(d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=32))) == []  # once
    d.now += timedelta(seconds=10)  # a close timeout later, the next fill asks again
    assert reads(d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=33))) == [ReadAccount(ACC, MNQ)]
    out = d.send(position(MNQ, 5, "21000"))  # what the read shows
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_a_fill_in_a_trading_account_asks_no_read() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"))
    assert reads(d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=41))) == []


def limit_3() -> Driver:
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 3", "default_limit": "5"}}))
    d.send(account(), quote(MNQ, "21000"))
    return d


def test_our_reduce_still_working_when_the_trader_exits_is_cancelled_not_left_to_reverse() -> None:
    """Reported: long 5 MNQ against a limit of 3, our reduce of 2 held by a slow gateway; the
    trader sells all 5 and is flat at once. The contract was confirmed and our sell of 2 left
    working: it filled and left the account short 2, a position the service made. It is
    cancelled as soon as the trader's exit shows, and nothing is sent after it."""
    d = limit_3()
    [r] = reduces(d.send(position(MNQ, 5, "21000")))
    assert r.size == 2
    d.send(EnforcementAccepted(ACC, MNQ, 70), market(70, Side.SELL, 2, OrderStatus.OPEN))
    d.send(market(71, Side.SELL, 5, OrderStatus.FILLED, volume=5))
    out = d.send(fill(MNQ, Side.SELL, 5, "21000", pnl="0", order_id=71))
    [c] = cancels(out)
    assert (c.order_id, c.reason) == (70, Reason.CLOSE_WITHDRAWN)
    out = d.send(flat(MNQ), market(70, Side.SELL, 2, OrderStatus.CANCELLED))
    assert reduces(out) == closes(out) == cancels(out) == []
    assert d.acct.contracts[MNQ].state is State.Trading
    assert not d.acct.contracts[MNQ].close_in_flight


def test_a_traders_partial_exit_makes_our_working_reduce_cancelled_and_sized_again() -> None:
    # long 5, our reduce of 2 working; the trader sells 1: 4 open, 1 over the limit. Ours
    # (2) would leave 2: cancelled, then a reduce of 1 goes once it has ended
    d = limit_3()
    d.send(position(MNQ, 5, "21000"))
    d.send(EnforcementAccepted(ACC, MNQ, 80), market(80, Side.SELL, 2, OrderStatus.OPEN))
    out = d.send(
        market(81, Side.SELL, 1, OrderStatus.FILLED, volume=1),
        fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=81),
        position(MNQ, 4, "21000"),
    )
    assert [c.order_id for c in cancels(out)] == [80]
    out = d.send(market(80, Side.SELL, 2, OrderStatus.CANCELLED))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]


def test_our_reduce_is_left_alone_while_the_position_still_needs_it() -> None:
    d = limit_3()
    d.send(position(MNQ, 5, "21000"))
    d.send(EnforcementAccepted(ACC, MNQ, 90), market(90, Side.SELL, 2, OrderStatus.OPEN))
    out = d.send(position(MNQ, 5, "21000"), quote(MNQ, "21001"))
    assert cancels(out) == []
    out = d.send(fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=90))
    assert cancels(out) == []  # its own fill: nothing left of it to overshoot


def test_a_refused_close_is_sent_again_after_a_second_doubling_not_a_close_timeout() -> None:
    """Reported: three refusals kept a breached scope open for 70 s (re-sent after 10, 20 and
    40 s). A refused close did nothing: the next goes after 1 s, then 2 s, then 4 s."""
    gw = Gateway(engine())
    gw.trader_buy(5)
    gw.accept()
    for n, wait in enumerate((1, 2, 4), start=1):
        gw.reject_close()
        gw.take(gw.d.advance(seconds=wait - 0.1))
        assert len(reduces(gw.d.effects)) == n  # not yet
        gw.take(gw.d.advance(seconds=0.1))
        assert len(reduces(gw.d.effects)) == n + 1
        gw.accept()
    assert [r.size for r in reduces(gw.d.effects)] == [2, 2, 2, 2]


def test_a_read_after_the_close_was_accepted_that_lists_it_done_sizes_the_next_at_once() -> None:
    """Reported: our reduce's order, trade and position records were lost; the trader added
    meanwhile (9 at the gateway against a limit of 3). Three reads showed 9 and no close of
    ours working, yet nothing went until the close timeout (8 s over the limit): only reads
    begun after that timeout were trusted. A read begun after the gateway accepted the close,
    listing none of ours working, has seen it done: the next reduce goes at once."""
    gw = Gateway(engine())
    gw.trader_buy(5)
    [first] = reduces(gw.d.effects)
    assert first.size == 2
    gw.d.now += timedelta(milliseconds=5)
    gw.send(EnforcementAccepted(ACC, MNQ, None))  # production: no order id in the answer
    gw.in_flight.clear()  # its order, fill and position records never come
    gw.d.now += timedelta(milliseconds=300)
    gw.size = 9  # filled (5 - 2 = 3), then the trader bought 6 more; none of it heard
    out = gateway_read(gw.d, replace(position(MNQ, 9, "21000"), snapshot=True))
    gw.take(out)
    assert [r.size for r in reduces(out)] == [6]


def test_a_read_after_the_acceptance_that_lists_our_close_working_waits_for_it() -> None:
    gw = Gateway(engine())
    gw.trader_buy(5)
    gw.d.now += timedelta(milliseconds=5)
    gw.send(EnforcementAccepted(ACC, MNQ, None))
    oid, size = gw.close_order()
    gw.d.now += timedelta(milliseconds=300)
    out = gateway_read(
        gw.d, position(MNQ, 5, "21000"), market(oid, Side.SELL, size, OrderStatus.OPEN)
    )
    assert reduces(out) == [] and alerts(out) == []  # still working: nothing sent, nothing said


def test_a_reduce_tightened_to_a_close_cancels_the_contracts_orders_and_ends() -> None:
    """Reported: RULE-001's reduce on its way, then another rule closed the contract; the
    trader's stop and target were left working on the flat contract, which stayed Flattening
    for good (it is not flat while an order of the trader's works), and the close was still
    named RULE-001."""
    close_all = Verdict(
        "RULE-T01", Reason.POSITION_HOLD_TIME, Action.CLOSE, Scope.CONTRACT, contract_id=MNQ
    )
    raw = {"limits": f"MNQ: {LIMIT}", "default_limit": "10"}
    d = Driver(make_engine({MaxContractsPerInstrument: raw}, extra=[trip_on(Fill, close_all)]))
    d.send(account(), order(77, MNQ, Side.SELL, 2, limit="21100"))
    gw = Gateway(d)
    gw.size = 5
    gw.send(position(MNQ, 5, "21000"))  # reduce 2 (the target order is left: 2 <= 3)
    gw.accept()
    out = gw.trader_buy()  # a fill: the scripted rule wants the contract closed
    assert [c.order_id for c in cancels(out)] == [77]
    cm = d.acct.contracts[MNQ]
    assert (cm.target_size, cm.rule_id) == (0, "RULE-T01")
    gw.fill_close()
    gw.send(order(77, MNQ, Side.SELL, 2, limit="21100", status=OrderStatus.CANCELLED))
    gw.accept()
    gw.fill_close()
    assert gw.size == 0 and d.acct.contracts[MNQ].state is not State.Flattening


def test_closes_refused_one_after_another_are_not_enforcing_from_the_first() -> None:
    """Left alone at stop 29: a close the gateway kept refusing showed NOT ENFORCING only
    within each attempt. Each refusal came at once and the close timeout counted from each
    re-send, so `status` and /readyz said the account was enforcing for as long as the
    refusals went on, with 2 contracts over the limit. Now counted from the first close."""
    from fsm_risk.core.exposure import unconfirmed_closes

    gw = Gateway(engine())
    gw.trader_buy(5)
    first = gw.d.now
    timeout = gw.d.engine.settings.close_timeout

    def unconfirmed() -> dict[str, object]:
        held = gw.d.engine.pursuit.held_since
        return dict(unconfirmed_closes(gw.d.acct, gw.d.now, timeout, held))

    for wait in (1, 2, 4, 8):  # 15 s of refusals, each attempt answered at once
        gw.reject_close()
        gw.take(gw.d.advance(seconds=wait))
    assert gw.d.now - first > timeout
    assert unconfirmed() == {MNQ: first}
    gw.accept()
    gw.fill_close()  # done at last: enforcing again
    assert gw.size == LIMIT and unconfirmed() == {}
    assert gw.d.acct.contracts[MNQ].wanted_since is None


def test_a_restart_while_closes_are_refused_counts_from_the_first_close_still() -> None:
    """Reported: after a restart the account showed enforcing (/readyz 200) until its close
    was refused again, and then NOT ENFORCING for 17 s when the close had failed for 78 s:
    the first close's time was runtime only. It is stored with the contract now."""
    from fsm_risk.core.exposure import unconfirmed_closes

    gw = Gateway(engine())
    gw.trader_buy(5)
    first = gw.d.now
    for wait in (1, 2, 4):
        gw.reject_close()
        gw.take(gw.d.advance(seconds=wait))
    raw = {"limits": f"MNQ: {LIMIT}", "default_limit": "10"}
    d = restart(gw.d, lambda: make_engine({MaxContractsPerInstrument: raw}))
    d.advance(seconds=20)  # down for 20 s
    timeout, held = d.engine.settings.close_timeout, d.engine.pursuit.held_since
    assert d.acct.contracts[MNQ].state is State.Flattening
    assert unconfirmed_closes(d.acct, d.now, timeout, held) == {MNQ: first}


def late_alerts(out: list[Effect]) -> list[str]:
    return [
        a.message
        for a in alerts(out)
        if a.reason is Reason.CLOSE_DELIVERED_LATE and a.level is Level.WARNING
    ]


def test_a_reduce_given_up_on_and_delivered_late_is_alerted() -> None:
    """Reported: long 6 MNQ against a limit of 3 in a 40 s black hole. Our reduce of 3 timed
    out unheard of; the read showed 6 (it was still in the network) and it went again (6 ->
    3); then the first arrived and filled too: 6 -> 3 -> 0, the 3 contracts the rules allow
    gone and nothing said. It cannot be undone, but it is said, naming the order."""
    d = limit_3()
    [first] = reduces(d.send(position(MNQ, 6, "21000")))
    assert first.size == 3
    out = d.advance(seconds=10)  # no answer: the gateway is read before anything is re-sent
    assert len(reads(out)) == 1
    [again] = reduces(gateway_read(d, position(MNQ, 6, "21000")))
    assert (again.size, again.attempt) == (3, 2)
    out = d.send(
        market(80, Side.SELL, 3, OrderStatus.FILLED, volume=3),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=80),
        position(MNQ, 3, "21000"),
    )
    assert late_alerts(out) == []  # ours sent again: down to the limit
    out = d.send(  # the first, delivered late
        market(81, Side.SELL, 3, OrderStatus.FILLED, volume=3),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=81),
        flat(MNQ),
    )
    [message] = late_alerts(out)
    assert "order 81" in message and "from 3 to 0, below its target 3" in message
    assert "reduce of 3" in message


def test_a_traders_exit_after_a_reduce_answered_in_time_is_no_late_close() -> None:
    d = limit_3()
    [r] = reduces(d.send(position(MNQ, 6, "21000")))
    d.send(
        EnforcementAccepted(ACC, MNQ, 80),
        market(80, Side.SELL, 3, OrderStatus.FILLED, volume=3),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=80),
        position(MNQ, 3, "21000"),
    )
    out = d.send(  # the trader's own exit: his to make
        market(81, Side.SELL, 3, OrderStatus.FILLED, volume=3),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=81),
        flat(MNQ),
    )
    assert r.size == 3 and late_alerts(out) == []
