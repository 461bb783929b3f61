"""The trader's view of when a lock ends is when the engine lets him trade again.

At 16:30 Chicago one losing round trip (-1,200) breaches the daily loss limit (RULE-003,
LockedDaily until the 17:00 reset) and the cooldown tier for losses of 500+ (RULE-008,
Cooldown for 60 min: until 17:30). Found by a hunt: `status` (text and JSON), the dashboard
and the lock notice showed the strongest lock alone, "LockedDaily until 17:00"; a trader who
entered at 17:00 as told was closed at once at market, the Cooldown holding until 17:30.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk import status
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import ES, Driver, account, fill, flat, make_engine, position

AT = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # Mon 16:30 CST
RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Mon 17:00 CST


def test_status_says_when_the_account_can_trade_again() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}, TradeCooldown: {}}), now=AT)
    d.send(account("50000"))
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=11, at=AT), position(ES, 1, "6000", at=AT))
    d.send(fill(ES, Side.SELL, 1, "5976", pnl="-1200", order_id=12, at=AT), flat(ES, at=AT))
    assert d.acct.state is State.LockedDaily, d.acct.state

    snap = status.snapshot(d.engine, d.now)
    lock = snap["accounts"][0]["lock"]
    text = status.render(snap, color=False, source="running service")
    assert "Cooldown until Mon 17:30 CST" in text, text  # what the trader reads
    # the end the view gives for the lock (`ends`: when it can trade again)
    shown_end = datetime.fromisoformat(lock.get("ends") or lock["until"])

    # one second after the end the view gave: is the account free to trade, as it was told?
    d.at(shown_end + timedelta(seconds=1))
    real_end = max(h.until for h in d.acct.holds.values() if h.until) if d.acct.holds else None
    assert d.acct.state is State.Trading, (
        f"status said the lock ends {lock['until']} ({lock['kind']}); 1 s later the account "
        f"is {d.acct.state.value} until {real_end}"
    )


def test_the_fixed_view_names_the_lock_that_outlasts() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}, TradeCooldown: {}}), now=AT)
    d.send(account("50000"))
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=11, at=AT), position(ES, 1, "6000", at=AT))
    d.send(fill(ES, Side.SELL, 1, "5976", pnl="-1200", order_id=12, at=AT), flat(ES, at=AT))
    lock = status.snapshot(d.engine, d.now)["accounts"][0]["lock"]
    text = status.render(status.snapshot(d.engine, d.now), color=False, source="running service")
    assert lock["ends"] == "2026-11-23T23:30:00+00:00"
    assert "  then Cooldown until Mon 17:30 CST, in 1 h (RULE-008 TRADE_COOLDOWN)\n" in text
    d.at(datetime.fromisoformat(lock["ends"]) - timedelta(seconds=1))
    assert d.acct.state is State.Cooldown
    d.at(datetime.fromisoformat(lock["ends"]))
    assert d.acct.state is State.Trading
