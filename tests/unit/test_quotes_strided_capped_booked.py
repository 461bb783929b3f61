"""Found by merging the cap levels (`core.caps`) with holdings followed as the engine books
them: a holding with a leg booked to the cent (ZN or ZB on an odd size: $15.625 or $31.25 a
tick) is followed in its booked value, so its holders' cap levels must be placed in that same
value (each leg booked, less its constant), not in the unrounded sum, which lies up to 2.5
cents a leg away. What must hold: with capped peaks reached within strided runs of ZN and ZB
held together at odd sizes, every account ends in the state and with the peak one by one
left, the same positions closed, at the cap levels (placed, not unknown) as at every level."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal as D

from fsm_risk.core.caps import CapLevels
from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.valuation import leg_value
from fsm_risk.core.waited import TOGETHER, judged, waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import Driver, account, make_engine, position
from tests.unit.test_quotes_strided_legs import _ended
from tests.unit.test_quotes_strided_rounding import ZB, ZB_TICK, ZN, ZN_TICK
from tests.unit.test_quotes_waited_shared import AT, MS, S

_BASE = {ZN: (D(110), ZN_TICK), ZB: (D(115), ZB_TICK)}


def _booked(mode: MarkMode, held: list[dict[str, int]]) -> Driver:
    """Four accounts (balances 50,000 to 50,300) holding ``held``, entered a few ticks off the
    base (costs with fractions of a cent), each contract quoted at its base; a 400 intraday
    trailing drawdown from 50,000, its peak capped at 50,400, and a 2,000 daily loss limit."""
    rules = {
        TrailingDrawdown: {"drawdown": "400", "starting_balance": "50000", "mode": "intraday"},
        DailyLossLimit: {"limit": "2000"},
    }
    d = Driver(make_engine(rules, mark_mode=mode))  # type: ignore[arg-type]
    d.now = AT
    for acc, sizes in enumerate(held, 1):
        d.send(account(str(50000 + 100 * (acc - 1)), acc=acc))
        for c, n in sizes.items():
            base, tick = _BASE[c]
            entry = base + (acc - 2) * tick
            d.send(position(c, abs(n), str(entry), long=n > 0, acc=acc, at=AT))
    for c, (p, tick) in _BASE.items():
        d.send(Quote(c, AT - 10 * S, p, p - tick, p + tick))
    return d


type Walk = list[tuple[str, int, list[str], datetime]]


def _walks(r: random.Random, n: int) -> Walk:
    """``n`` partial quotes of ZN and ZB in a random order, in ticks from the base: a common
    move and each its own noise, stamped in order."""
    common, at, out = 0, AT, []
    for _ in range(n):
        common += r.choice((-1, 1)) * r.choice((1, 2, 3, 5, 8))
        at += r.choice((0, 1, 5)) * MS
        names = r.sample(("last", "bid", "ask"), r.randint(1, 3))
        out.append((r.choice((ZN, ZB)), common + r.choice((-2, -1, 0, 1, 2)), names, at))
    return out


def _quotes(walk: Walk, swap: dict[str, str]) -> list[Quote]:
    """The walk's quotes, each contract's ticks given to the one ``swap`` names."""
    out = []
    for c, ticks, names, at in walk:
        base, tick = _BASE[swap[c]]
        p = base + ticks * tick
        spread = {"last": D(0), "bid": -tick, "ask": tick}
        out.append(Quote(swap[c], at, **{k: p + spread[k] for k in names}))  # type: ignore[arg-type]
    return out


def _size(r: random.Random) -> int:
    """An odd size (booked to the cent), long or short."""
    return r.choice((1, 3)) * r.choice((1, -1))


def test_a_strided_run_of_legs_booked_to_the_cent_under_capped_peaks_ends_as_one_by_one() -> None:
    """Seeded random strided batches of ZN and ZB held at odd sizes (17 to 256 partial quotes,
    both orders of the legs, either mark mode): at the cap levels the service gives, and at
    every level, every account ends as one by one; the holdings' cap levels are placed (not
    unknown) in most batches, and peaks are capped and positions closed in many."""
    fired = capped = placed = 0
    for seed in range(120):
        r = random.Random(seed)
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        held = [{ZN: _size(r), ZB: _size(r)} for _ in range(3)] + [{ZN: _size(r)}]
        walk = _walks(r, r.randint(TOGETHER + 1, 256))
        for batch in (_quotes(walk, {ZN: ZN, ZB: ZB}), _quotes(walk, {ZN: ZB, ZB: ZN})):
            one = _booked(mode, held)
            one_by_one = _ended(one, batch)
            fired += len(one_by_one[1])
            capped += sum(
                D(a.rule_state["RULE-004"]["peak"]) == 50400 for a in one.engine.accounts.values()
            )
            fields = judged(mode is MarkMode.LIQUIDATION)
            d = _booked(mode, held)
            v = d.engine.valuation
            caps = CapLevels(v, d.engine.book)
            found = caps.held([ZN, ZB], mode is MarkMode.LIQUIDATION)
            placed += any(found(h) for h in v.holdings([ZN, ZB]))
            at_levels = waited(batch, d.engine.marks, fields, v.beside, v.holdings, caps)
            assert _ended(d, at_levels) == one_by_one, seed
            d = _booked(mode, held)
            v = d.engine.valuation
            every = waited(batch, d.engine.marks, fields, v.beside, v.holdings)
            assert _ended(d, every) == one_by_one, seed
    assert fired > 200 and capped > 200 and placed > 200, (fired, capped, placed)


ZF = "CON.F.US.FVA.Z26"  # 1/128 at $7.8125
ZF_TICK = D("0.0078125")


def _exact() -> Driver:
    """Long 1 ZN bought at 110 19/64 and long 1 ZF at 107 3/128 (costs 110,296.875 and
    107,023.4375: both booked to the cent, their sum unrounded 4 cents above the booked one
    at 110 and 107), quoted there (equity 49,626.56 on a 49,946.88 balance); a 400 intraday
    trailing drawdown from 50,000 capped at 50,400, at the last."""
    rules = {TrailingDrawdown: {"drawdown": "400", "starting_balance": "50000", "mode": "intraday"}}
    d = Driver(make_engine(rules, mark_mode=MarkMode.LAST))  # type: ignore[arg-type]
    d.now = AT
    d.send(account("49946.88"))
    d.send(position(ZN, 1, str(110 + 19 * ZN_TICK), at=AT))
    d.send(position(ZF, 1, str(107 + 3 * ZF_TICK), at=AT))
    d.send(Quote(ZN, AT - 10 * S, D(110), D(110), D(110)))
    d.send(Quote(ZF, AT - 10 * S, D(107), D(107), D(107)))
    return d


def _to_the_cap() -> list[Quote]:
    """Quotes at the marks (19), then ZF up 99 ticks (equity 50,400.00 to the cent: the cap,
    the floor 50,000), ZN down 26 ticks (49,993.76: 6.24 under the floor), ZF up 240 more, ZN
    down 40 more (a deeper fall, above the floor), up 20, and ZF a tick up."""
    path = [(ZN, 0), (ZF, 0)] * 9 + [(ZN, 0), (ZF, 99), (ZN, -26)]
    path += [(ZF, 339), (ZN, -66), (ZN, -46), (ZF, 340)]
    out, at = [], AT
    for c, ticks in path:
        at += MS
        base, tick = (D(110), ZN_TICK) if c == ZN else (D(107), ZF_TICK)
        out.append(Quote(c, at, base + ticks * tick, None, None))
    return out


def test_a_cap_reached_to_the_cent_in_a_booked_holding_value_is_placed_there() -> None:
    """One by one the account reaches its cap (50,400.00) at ZF's print 99 ticks up and
    touches the frozen floor at ZN's dip (49,993.76), which is no turn of either contract nor
    of the holding's value but for the cap: flattened. Strided at the cap levels the service
    gives, the holding's level sits in its booked value (the cap's word, 217,773.40, is in its
    range; the unrounded sum is 4 cents above, more than the range's two cents either way):
    the dip is judged, flattened too; without the holding's levels it is not."""
    d = _exact()
    for q in _to_the_cap():
        d.send(q)
    assert (d.acct.state, D(d.acct.rule_state["RULE-004"]["peak"])) == (State.Flattening, D(50400))
    d = _exact()
    v = d.engine.valuation
    caps = CapLevels(v, d.engine.book)
    (holding,) = v.holdings([ZN, ZF])
    at_cap = sum(map(leg_value, (107 + 99 * ZF_TICK, D(110)), holding), D(0))
    levels = caps.held([ZN, ZF], False)(holding)
    assert (at_cap, [lo <= at_cap <= hi for lo, hi in levels or ()]) == (D("217773.40"), [True])
    handed = waited(_to_the_cap(), d.engine.marks, judged(False), v.beside, v.holdings, caps)
    assert len(handed) < len(_to_the_cap())
    for q in handed:
        d.send(q)
    assert d.acct.state is State.Flattening
