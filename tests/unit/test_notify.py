"""The notifier's own arithmetic: the rate limit, and one warning per threshold per period."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
from typing import Any

from fsm_risk import config
from fsm_risk.notify import Notifier


def notifier(extra: str = "", **kw: Any) -> Notifier:
    return Notifier(config.parse(f"[notify]\nurls = json://127.0.0.1:9/x\n{extra}"), **kw)


def account(fraction: float, day: str = "2026-11-23", week: str = "2026-11-23") -> dict[str, Any]:
    rule = {
        "id": "RULE-003",
        "name": "daily_loss_limit",
        "value": "-410.00",
        "limit": "-500",
        "unit": "$",
        "fraction": fraction,
        "detail": "equity",
    }
    return {
        "account_id": 1001,
        "name": "PAPER-1",
        "rules": [rule],
        "day": {"label": day},
        "week": {"label": week},
    }


def titles(n: Notifier) -> list[str]:
    out = []
    while not n.queue.empty():
        out.append(n.queue.get_nowait().title)
    return out


def test_each_threshold_warns_once_per_day_and_again_the_next_day() -> None:
    n = notifier()
    for f in (0.3, 0.52, 0.55, 0.49, 0.51, 0.81, 0.79, 0.82):
        n._warn_usage(account(f))
    assert titles(n) == [
        "Account 1001: 50% of daily_loss_limit",
        "Account 1001: 80% of daily_loss_limit",
    ]
    n._warn_usage(account(0.95))  # straight past 90: the highest reached, once
    n._warn_usage(account(0.97))
    assert titles(n) == ["Account 1001: 90% of daily_loss_limit"]
    n._warn_usage(account(0.85, day="2026-11-24"))  # a new trading day
    assert titles(n) == ["Account 1001: 80% of daily_loss_limit"]


def test_thresholds_come_from_the_settings() -> None:
    n = notifier("warn_at = 25, 75\n")
    n._warn_usage(account(0.3))
    n._warn_usage(account(0.6))
    assert titles(n) == ["Account 1001: 25% of daily_loss_limit"]


async def test_the_rate_limit_holds_a_send_until_its_minute_has_passed() -> None:
    now = [100.0]
    n = notifier("per_minute = 2\n", monotonic=lambda: now[0])
    sent: deque[float] = deque()  # one URL's (each has its own)
    await n._rate_limit(sent)
    await n._rate_limit(sent)
    third = asyncio.ensure_future(n._rate_limit(sent))
    await asyncio.sleep(0)  # let it run up to its wait
    assert not third.done()
    now[0] = 160.0  # the first send is a minute old
    await asyncio.wait_for(third, 5)


def test_a_blind_feed_is_named_in_its_alert_not_unknown() -> None:
    """Reported: position records refused repeatedly (the feed blind to them) alerted "The
    gateway's feed is degraded: unknown", naming neither what was blind nor why."""
    n = notifier()
    health = {"healthy": False, "user_hub": {"1001": True}, "market_hub": True}
    n._feed({**health, "silent_contracts": [], "blind": ["position"]})
    notice = n.queue.get_nowait()
    assert notice.title == "Feed down"
    assert "blind to position records (refused repeatedly)" in notice.body
    assert "unknown" not in notice.body


def _notices(n: Notifier, d: Any, effects: list[Any]) -> list[Any]:
    from types import SimpleNamespace

    from fsm_risk.observe import Committed

    shown = SimpleNamespace(display_timezone=d.engine.calendar.tz)  # (the session's zone)
    n._service = SimpleNamespace(engine=d.engine, settings=shown)  # type: ignore[assignment]
    n._committed(Committed([], effects, d.now))
    out = []
    while not n.queue.empty():
        out.append(n.queue.get_nowait())
    return out


def test_a_reduce_says_it_reduces_and_a_contract_override_names_the_contract() -> None:
    """Reported: a reduce 5 -> 3 alerted "Positions are being closed and working orders
    cancelled" (2 contracts closed, nothing cancelled); an admin's contract lock read "Account
    1002: admin moved it to LockedDaily" while the account stayed in Trading."""
    from fsm_risk.core.events import AdminCommand
    from fsm_risk.core.states import State
    from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
    from tests.factories import MNQ, Driver, make_engine, position, quote
    from tests.factories import account as acct_update

    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 3"}}))
    d.send(acct_update(), quote(MNQ, "21000"))
    [flattening] = _notices(notifier(), d, d.send(position(MNQ, 5, "21000")))
    assert flattening.body.endswith("The position is being reduced to 3.")
    out = d.send(AdminCommand(d.acc, State.LockedDaily, "no MNQ today", "ops", "MNQ"))
    [forced] = _notices(notifier(), d, out)
    assert forced.title == f"Account {d.acc} contract MNQ: admin moved it to LockedDaily"


def test_the_end_of_a_lock_is_told_as_the_all_clear() -> None:
    """Reported: a lock ending (its time, or the gateway's permission back) sent nothing; the
    last word the supervisor had was the lock."""
    from fsm_risk.core.events import SelfLock
    from fsm_risk.core.states import State
    from fsm_risk.rules.daily_loss_limit import DailyLossLimit
    from tests.factories import Driver, make_engine
    from tests.factories import account as acct_update

    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(acct_update())
    d.send(SelfLock(d.acc, State.Cooldown, d.now + timedelta(minutes=5), "trader"))
    [ended] = _notices(notifier(), d, d.advance(minutes=5))
    assert (ended.title, ended.level) == (f"Account {d.acc}: trading again", "success")
    assert "Cooldown -> Trading" in ended.body


def test_a_slow_start_says_nothing_is_enforced_yet_then_when_it_is() -> None:
    """Reported: at a restart under the real rate limit the start notice said "fsm-risk is
    enforcing 6 rule(s)" while no account was for a minute, and nothing followed."""
    import time
    from types import SimpleNamespace

    stuck: dict[int, dict[str, object]] = {}
    cancels: dict[int, list[object]] = {}
    svc = SimpleNamespace(
        ready=asyncio.Event(),
        account_ids=[1001],
        engine=SimpleNamespace(rules=[1, 2, 3]),
        unconfirmed_closes=lambda: stuck,
        unconfirmed_cancels=lambda: cancels,
        verdict=lambda: (True, {"connected": True}),
    )
    n = notifier()
    n._service = svc  # type: ignore[assignment]
    n._started = time.monotonic()
    n._readiness()
    assert titles(n) == []  # a start that reconciles within seconds says it once, enforcing
    n._started -= 10
    n._readiness()
    n._readiness()
    assert titles(n) == ["fsm-risk started: not enforcing yet"]
    stuck[1001] = {"CON.F.US.MNQ.Z26": object()}  # a close failing since before the restart
    svc.ready.set()
    n._readiness()
    assert titles(n) == []  # reconciled, but not enforcing as it should
    stuck.clear()
    cancels[1001] = [object()]  # an opening order's cancel refused past a close timeout
    n._readiness()
    assert titles(n) == []  # not enforcing as it should either
    cancels.clear()
    n._readiness()
    n._readiness()
    assert titles(n) == ["fsm-risk enforcing"]
    fast = notifier()
    fast._service = svc  # type: ignore[assignment]
    fast._started = time.monotonic()
    fast._readiness()
    assert titles(fast) == ["fsm-risk started"]


def test_a_warning_sent_is_not_sent_again_after_a_restart(tmp_path: Any) -> None:
    """Reported: the 50% warning of the day came once per process: three times in a day of
    two restarts, where one per threshold per day is promised."""
    from types import SimpleNamespace

    from fsm_risk.adapters.store import Store

    store = Store(tmp_path / "state.db")
    try:
        svc = SimpleNamespace(
            store=store,
            account_ids=[],
            ready=asyncio.Event(),
            engine=SimpleNamespace(accounts={}, rules=[]),
        )
        first = notifier()
        asyncio.run(first.start(svc))  # type: ignore[arg-type]
        first._warn_usage(account(0.55))
        assert titles(first) == ["Account 1001: 50% of daily_loss_limit"]
        again = notifier()  # the service restarted
        asyncio.run(again.start(svc))  # type: ignore[arg-type]
        again._warn_usage(account(0.55))
        assert titles(again) == []
        again._warn_usage(account(0.85))
        assert titles(again) == ["Account 1001: 80% of daily_loss_limit"]
        again._warn_usage(account(0.55, day="2026-11-24"))  # the next day: warned anew
        assert titles(again) == ["Account 1001: 50% of daily_loss_limit"]
    finally:
        store.close()


def test_a_position_our_close_opened_is_notified_as_an_enforcement_failure() -> None:
    """Our reduce and the trader's exit both filled: the short our order opened is closed at
    once, and the people notified hear it (a CRITICAL CLOSE_OVERSHOT, event enforcement)."""
    from fsm_risk.core.effects import Alert, Level
    from fsm_risk.core.reasons import Reason
    from tests.factories import MNQ, Driver, make_engine

    d = Driver(make_engine({}))
    alert = Alert(Level.CRITICAL, Reason.CLOSE_OVERSHOT, "opened 2", d.acc, MNQ)
    [notice] = _notices(notifier(), d, [alert])
    assert (notice.event, notice.level) == ("enforcement", "failure")
    assert notice.title == f"Account {d.acc}: CLOSE_OVERSHOT" and "opened 2" in notice.body


def test_a_close_refused_again_and_again_is_one_notice_then_one_saying_how_many_were_held() -> None:
    """Reported: a close the gateway kept refusing, tried again every second, sent a notice
    per attempt (11 in 31 s, each CLOSE_NOT_CONFIRMED or "enforcement request failed").
    The first goes at once; the repeats of the same account, contract and kind are held for
    `REPEAT_WINDOW` after it, then the last goes saying how many were held. Another account,
    another contract or another kind is news and goes at once."""
    from fsm_risk.core.effects import Alert, ClosePosition, Level
    from fsm_risk.core.reasons import Reason
    from fsm_risk.notify import REPEAT_WINDOW
    from fsm_risk.observe import Committed, Enforced
    from tests.factories import MES, MNQ

    n, d, clock = clocked_notifier()

    def refused(contract: str = MNQ, account: int = d.acc) -> list[Any]:
        close = ClosePosition(account, contract, Reason.DAILY_LOSS_LIMIT, "RULE-003")
        n.observe(Enforced(close, 0.01, failed=True))
        alert = Alert(Level.CRITICAL, Reason.CLOSE_NOT_CONFIRMED, "not in time", account, contract)
        n.observe(Committed([], [alert], d.now))
        return titles_and_bodies(n)

    first = refused()
    assert [t for t, _ in first] == [
        f"Account {d.acc}: enforcement request failed",
        f"Account {d.acc}: CLOSE_NOT_CONFIRMED",
    ]
    for _ in range(10):  # ten more attempts, a second apart
        clock[0] += 1.0
        assert refused() == []
    assert len(refused(MES)) == 2  # another contract: news
    assert len(refused(account=d.acc + 1)) == 2  # another account: news

    clock[0] += REPEAT_WINDOW - 20.0  # the window since the first has not passed
    n._held_back()
    assert n.queue.empty()
    clock[0] += 21.0
    n._held_back()
    held = titles_and_bodies(n)
    assert [t for t, _ in held] == [
        f"Account {d.acc}: enforcement request failed",
        f"Account {d.acc}: CLOSE_NOT_CONFIRMED",
    ]
    assert all("held back: 10 notice(s) like this one since" in b for _, b in held)
    clock[0] += 1.0
    assert refused() == []  # a repeat after the summary waits for the next window again


def titles_and_bodies(n: Notifier) -> list[tuple[str, str]]:
    out = []
    while not n.queue.empty():
        x = n.queue.get_nowait()
        out.append((x.title, x.body))
    return out


def test_each_overshoot_is_news_however_soon_it_repeats() -> None:
    from fsm_risk.core.effects import Alert, Level
    from fsm_risk.core.reasons import Reason
    from tests.factories import MNQ, Driver, make_engine

    n = notifier()
    d = Driver(make_engine({}))
    alert = Alert(Level.CRITICAL, Reason.CLOSE_OVERSHOT, "opened 2", d.acc, MNQ)
    assert len(_notices(n, d, [alert])) == 1
    assert len(_notices(n, d, [alert])) == 1


def clocked_notifier() -> tuple[Notifier, Any, list[float]]:
    """A notifier on a monotonic clock of the test's (``clock[0]``), with a stand-in service
    (an engine, the UTC display zone, the driver's clock)."""
    from types import SimpleNamespace

    from tests.factories import Driver, make_engine

    clock = [1000.0]
    n = notifier(monotonic=lambda: clock[0])
    d = Driver(make_engine({}))
    n._service = SimpleNamespace(  # type: ignore[assignment]
        engine=d.engine,
        settings=SimpleNamespace(display_timezone="UTC"),
        clock=SimpleNamespace(now=lambda: d.now),
    )
    return n, d, clock


def test_a_rule_firing_on_a_scope_already_flattening_is_not_told_as_a_second_flatten() -> None:
    """Reported: a rule that fires on a contract already flattening (a position stop turning a
    reduce on its way into a close) is an audit row `fired`, Flattening -> Flattening; the
    notifier sent it as a second "flattening" notice, as if a new flatten had begun."""
    from fsm_risk.core.states import State
    from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
    from fsm_risk.rules.position_stop_loss import PositionStopLoss
    from tests.factories import MNQ, Driver, make_engine, position, quote
    from tests.factories import account as acct_update

    limits = {"default_limit": "3"}
    d = Driver(make_engine({MaxContractsPerInstrument: limits, PositionStopLoss: {"limit": "250"}}))
    d.send(acct_update(), quote(MNQ, "21000"))
    [reduce] = _notices(notifier(), d, d.send(position(MNQ, 4, "21000")))
    assert reduce.title == f"Account {d.acc}: flattening (RULE-002)"
    out = d.send(quote(MNQ, "20960"))  # RULE-014: the reduce becomes a close (`fired` row)
    assert [(e.entry.trigger, e.entry.to_state) for e in out if hasattr(e, "entry")] == [
        ("fired", State.Flattening)
    ]
    [fired] = _notices(notifier(), d, out)
    assert fired.title == f"Account {d.acc} contract {MNQ}: RULE-014 also fired while flattening"
    assert f"contract {MNQ} was already flattening; RULE-014 also fired: " in fired.body
    assert fired.body.endswith("The position is being closed and its working orders cancelled.")


def test_a_settings_change_while_an_account_flattens_is_not_told_as_a_flatten() -> None:
    from fsm_risk.core.states import State
    from fsm_risk.rules.daily_loss_limit import DailyLossLimit
    from tests.factories import MNQ, Driver, make_engine, position, quote
    from tests.factories import account as acct_update

    d = Driver(make_engine({DailyLossLimit: {"limit": "100"}}))
    d.send(acct_update(), quote(MNQ, "21000"), position(MNQ, 1, "21000"))
    [flatten] = _notices(notifier(), d, d.send(quote(MNQ, "20900")))
    assert flatten.title == f"Account {d.acc}: flattening (RULE-003)"
    rules = make_engine({DailyLossLimit: {"limit": "50"}}).rules
    out = d.engine.replace_rules(rules, d.now, actor="ops", detail="limit 50")
    assert [(e.entry.trigger, e.entry.to_state) for e in out if hasattr(e, "entry")] == [
        ("settings", State.Flattening)
    ]
    assert _notices(notifier(), d, out) == []
