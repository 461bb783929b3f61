"""Found by a review of `core.uncarried` (a position learned of after the reset carries its
value at the reset): a price not read never carries a loss (it hid the fall since the reset),
and a price answered before the contract is described is carried once it is."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import InstrumentInfo, PriceAt, PricesAtReset, Side
from fsm_risk.core.instruments import InstrumentBook
from fsm_risk.core.models import Mark
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    build_rule,
    fill,
    gateway_read,
    make_engine,
    position,
    quote,
)

NY_CLOSE = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
BOUGHT = NY_CLOSE - timedelta(minutes=30)
CAL = SessionCalendar(daily_reset=time(16, 0))
RULES = {DailyLossLimit: {"limit": "1000"}}


def asked(effects):
    return [w for e in effects for w in getattr(e, "wanted", ())]


def answer(d, *prices):
    d.send(PricesAtReset(ACC, tuple(PriceAt(at, c, Decimal(p)) for at, c, p in prices)))


def test_a_price_not_read_erases_the_loss_since_the_reset() -> None:
    """Long 3 MNQ bought at 21,500 at 15:30 (hub silent), the reset at 16:00 at 21,500, read at
    16:05 with MNQ at 21,400 (-600 since the reset); the gateway's bar read fails (a 429, a
    timeout: the answer holds no price). MNQ then falls to 21,250: -1,500 since the reset,
    over the 1,000 limit. The firm's day is -1,500: the account must not be Trading."""
    d = Driver(make_engine(RULES, calendar=CAL), now=NY_CLOSE - timedelta(hours=1))
    d.send(account("50000"))
    d.now = NY_CLOSE + timedelta(minutes=5)
    gateway_read(
        d,
        fill(MNQ, Side.BUY, 3, "21500", order_id=8, at=BOUGHT),
        account("50000"),
        position(MNQ, 3, "21500", at=BOUGHT),
    )
    d.send(quote(MNQ, "21400", at=d.now))  # the watch's first quote, before the bar read ends
    answer(d)  # the read failed: no price in the answer
    d.now += timedelta(minutes=1)
    d.send(quote(MNQ, "21250", at=d.now))
    day = d.acct.day_pnl(with_unrealized=True)
    assert d.acct.state is not State.Trading, f"-1,500 since the reset read as {day}"


def _engine_without_defaults() -> RiskEngine:
    es = EngineSettings(CAL)
    instruments, marks = InstrumentBook(defaults={}), dict[str, Mark]()
    ctx = RiskEngine.context(es, instruments, marks)
    return RiskEngine(es, [build_rule(DailyLossLimit, ctx, {"limit": "1000"})], instruments, marks)


def test_the_price_answered_before_the_instrument_is_never_carried() -> None:
    """The same hunt case, the contract's tick size/value not known yet (asked of the gateway:
    LearnInstrument, spawned beside ReadResetPrices). The price read answers first."""
    d = Driver(_engine_without_defaults(), now=NY_CLOSE - timedelta(hours=1))
    d.send(account("50000"))
    d.now = NY_CLOSE + timedelta(minutes=5)
    gateway_read(
        d,
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=BOUGHT),
        account("50000"),
        position(MNQ, 3, "21000", at=BOUGHT),
    )
    # the shell answers each ask (the bar read came back before the contract's description)
    seen = 0
    for step in ("read", "instrument"):
        if step == "instrument":
            d.send(InstrumentInfo(MNQ, Decimal("0.25"), Decimal("0.5")))
        if len(asked(d.effects)) > seen:
            seen = len(asked(d.effects))
            answer(d, (NY_CLOSE, MNQ, "21500"))
    d.send(quote(MNQ, "21500", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(quote(MNQ, "21000", at=d.now))
    day = d.acct.day_pnl(with_unrealized=True)
    assert d.acct.day.carry == 3000, "the reset's price was read, yet nothing carried"
    assert d.acct.state is not State.Trading, f"-3,000 since the reset read as {day}"
