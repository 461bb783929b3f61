"""Found by a review of 747fc1f: `ContractModel.closing_to` counted a close of ours the gateway
took (its order known) at the size it takes the contract to after an unlock freed the contract,
until its fills were all seen: one whose trade record was lost counted for good (9 open on
RULE-001's 5, nothing cut: ES counted at 0), and the trader's add beside it was counted at 0.
It counts only while its order is not final, the position less what it still has to fill."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk.core.events import (
    Fill,
    Listing,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    Tick,
    TradesSnapshot,
)
from tests.factories import ACC, ES, Driver, closes, fill, flat, position, reads, reduces
from tests.unit.test_unlock_review42 import UNLOCK, in_flight_es_beside_grown_nq


def _cuts(out: list[object]) -> list[tuple[str, str, object]]:
    return [(r.contract_id, r.rule_id, r.size) for r in reduces(out)] + [
        (c.contract_id, c.rule_id, "all") for c in closes(out)
    ]


def test_a_freed_contract_whose_close_trade_is_lost_is_counted_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RULE-001 limit 5. Unlocked with our ES close (order 901) working; it FILLS at the
    gateway: its order event (Filled, 1) and the position (ES flat) arrive, its trade record
    does not (the user hub drops it; the trades read lists it later). Then the trader, free,
    buys ES 4: NQ 5 + ES 4 = 9 open on a limit of 5: RULE-001 must cut 4."""
    seen: list[Fill] = []
    send = Driver.send

    def record(self: Driver, *events: object) -> list[object]:
        seen.extend(e for e in events if isinstance(e, Fill))
        return send(self, *events)  # type: ignore[arg-type]

    monkeypatch.setattr(Driver, "send", record)
    d, nq = in_flight_es_beside_grown_nq()
    d.now += timedelta(milliseconds=50)
    d.send(UNLOCK)
    d.now += timedelta(milliseconds=100)
    done = OrderUpdate(
        ACC, 901, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 1, d.now, fill_volume=1
    )
    d.send(done, flat(ES, at=d.now))  # (its trade, lost, is listed by the next trades read)
    trade = fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=901, trade_id=9901, at=d.now)
    out: list[object] = []
    for _ in range(4):  # periodic reads, each listing the trade of our close
        out += d.advance(seconds=15)
        out += d.send(
            TradesSnapshot(ACC, d.acct.week.start, (*seen, trade), frozenset(d.acct.seen_trades))
        )
        out += d.send(Tick(ACC))  # (no balance read: see the report, it double counts)
    d.now += timedelta(seconds=1)
    out = d.send(
        fill(ES, Side.BUY, 4, "5990", order_id=950, trade_id=9950, at=d.now),
        position(ES, 4, "5990", at=d.now),
    )
    for _ in range(8):
        out += d.advance(seconds=15)
        for _ in reads(out):  # the gateway read back: NQ 5, ES 4, no order of ours works
            out += d.send(
                Listing(
                    ACC,
                    frozenset({nq, ES}),
                    frozenset(),
                    frozenset({nq, ES}),
                    frozenset(),
                    frozenset(d.acct.seen_trades),
                    began=d.now,
                )
            )
            out += d.send(position(nq, 5, "20998", at=d.now), position(ES, 4, "5990", at=d.now))
    cut = _cuts(out)
    assert sum(p.size for p in d.acct.positions.values()) == 9
    assert cut, (
        f"9 open (NQ 5, ES 4) on RULE-001's 5, nothing cut: ES counted at "
        f"{d.acct.reducing_to(ES)} (a close of ours that filled a minute ago)"
    )


def test_a_freed_contract_added_to_while_our_close_works_counts_the_add() -> None:
    """Unlocked, our ES close (whole, sized from ES 1) still works; the trader buys ES 4
    more (ES 5): once ours fills ES 4 stays: NQ 5 + ES 4 = 9 on 5. What RULE-001 counts for
    ES meanwhile: `closing_to` says 0 (a whole close), not 4."""
    d, _ = in_flight_es_beside_grown_nq()
    d.now += timedelta(milliseconds=50)
    d.send(UNLOCK)
    d.now += timedelta(milliseconds=100)
    d.send(
        fill(ES, Side.BUY, 4, "5990", order_id=950, trade_id=9950, at=d.now),
        position(ES, 5, "5990", at=d.now),
    )
    assert d.acct.reducing_to(ES) == 4, d.acct.reducing_to(ES)
