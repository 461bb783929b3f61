"""Replay's counterfactual, computed by hand: the P&L made and the P&L had the enforcement
happened (a close at the mark of that moment, the trades during the lock not taken)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from fsm_risk import config
from fsm_risk.bootstrap import build_engine
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionType,
    PositionUpdate,
    Quote,
    Side,
    TradesSnapshot,
)
from fsm_risk.replay import RESTART, RESTORE, Entry, Replay, Report, replay_exact
from fsm_risk.replay_sources import RecordedSettings
from tests.factories import ACC, MNQ, T0

D = Decimal
DAILY_LOSS_300 = "[rule.daily_loss_limit]\nlimit = 300\n"


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fill(
    trade: int,
    side: Side,
    size: int,
    price: str,
    pnl: str | None,
    fees: str,
    at: float,
    order: int | None = None,
) -> Entry:
    ev = Fill(
        ACC,
        trade,
        MNQ,
        order or 100 + trade,
        side,
        size,
        D(price),
        None if pnl is None else D(pnl),
        D(fees),
        m(at),
    )
    return Entry(m(at), ACC, ev)


def quote(last: str, at: float) -> Entry:
    return Entry(m(at), None, Quote(MNQ, m(at), D(last)))


def at(minutes: float, ev: Event) -> Entry:
    return Entry(m(minutes), getattr(ev, "account_id", None), ev)


#: The trader's morning as the gateway saw it (no enforcement happened live): long 2 MNQ at
#: 20000 ($2 a point per contract, fees $0.50 a contract), held down to 19850 and sold (-$600);
#: then a re-entry at 19900 sold at 19950 (+$100).
MORNING = [
    Entry(T0, ACC, None, "PRAC-1001"),
    at(0, AccountUpdate(ACC, "PRAC-1001", D("50000"), True)),
    quote("20000", 0.5),
    fill(1, Side.BUY, 2, "20000", None, "1.00", 1),
    quote("19950", 2),  # day: -1 fees - 200 open = -201: inside the limit
    quote("19925", 3),  # day: -1 - 300 = -301: RULE-003 fires, the replay closes at 19925
    quote("19850", 5),
    fill(2, Side.SELL, 2, "19850", "-600", "1.00", 6),  # the trader's exit: already flat
    quote("19900", 9),
    fill(3, Side.BUY, 1, "19900", None, "0.50", 10),  # during the lock: not taken
    quote("19950", 19),
    fill(4, Side.SELL, 1, "19950", "100", "0.50", 20),  # its exit: nothing left to close
]


def run(settings_text: str, entries: list[Entry], hours: float = 7, **kw: object) -> Report:
    settings = config.parse(settings_text)
    engine = build_engine(settings)
    start = engine.calendar.last_daily_reset(T0)  # the window: the trading day of T0
    r = Replay(engine, ACC, start=start, **kw)  # type: ignore[arg-type]
    for e in entries:
        r.feed(e)
    return r.finish(T0 + timedelta(hours=hours))


def test_pnl_with_and_without_enforcement_computed_by_hand() -> None:
    report = run(DAILY_LOSS_300, MORNING)
    [day] = report.days.values()
    # made: -1 (fees) - 601 (exit) - 0.50 (re-entry fees) + 99.50 (its exit)
    assert day.actual == D("-503.00")
    # had RULE-003 closed at 19925: -1 (fees) + (19925 - 20000) x $2 x 2 - 1 (the close's fees)
    assert day.replayed == D("-302.00")
    [firing] = report.firings
    assert (firing.rule_id, firing.at, firing.action, firing.lock) == (
        "RULE-003",
        m(3),
        "flatten",
        "LockedDaily",
    )
    assert firing.until == datetime.fromisoformat("2026-11-23T23:00:00+00:00")  # 17:00 Chicago
    [blocked] = report.blocked
    assert (blocked.trade_id, blocked.size, blocked.price, blocked.state) == (
        3,
        1,
        D("19900"),
        "LockedDaily",
    )
    assert day.closes == 1 and day.blocked == 1 and day.rules == ["RULE-003"]


def test_without_the_rule_the_replay_makes_what_was_made() -> None:
    report = run("", MORNING)
    [day] = report.days.values()
    assert report.firings == [] and report.blocked == []
    assert day.actual == day.replayed == D("-503.00")


def test_the_live_services_own_close_is_left_out_under_looser_settings() -> None:
    # live, a tighter limit closed at 19925 (trade 99, the service's); the trader then only
    # re-entered. Replayed with no limit, the position stays open: valued at the last mark.
    live = [e for e in MORNING if not (isinstance(e.event, Fill) and e.event.trade_id == 2)]
    live.insert(6, fill(99, Side.SELL, 2, "19925", "-300", "1.00", 3.1, order=999))
    report = run("", live, own_trades={99}, own_orders={999})
    [day] = report.days.values()
    assert day.actual == D("-1") - D("301") - D("0.50") + D("99.50")
    # long 2 at 20000 and 1 at 19900; the sell of 1 closes the oldest (first in, first out);
    # what is left is valued at 19950
    closed = (D("19950") - D("20000")) * 2
    still_open = (D("19950") - D("20000")) * 2 + (D("19950") - D("19900")) * 2
    assert day.replayed == D("-1") - D("0.50") + closed - D("0.50") + still_open


def test_deadlines_between_events_are_ticked_on_the_simulated_clock() -> None:
    report = run(DAILY_LOSS_300, MORNING, hours=9, curve=True)
    # the lock ends at the 17:00 Chicago reset, with no event arriving after 09:20
    reset = datetime.fromisoformat("2026-11-23T23:00:00+00:00")
    assert report.locks == [(m(3), reset, "LockedDaily")]
    assert report.ticks >= 1
    assert [d.replayed for d in report.days.values()] == [D("-302.00"), D(0)]
    assert report.curve[-1][1:] == (D("-503.00"), D("-302.00"))


def test_explain_finds_the_transition_nearest_a_time_with_its_events_and_values() -> None:
    report = run(DAILY_LOSS_300, MORNING, explain_at=m(4))
    ex = report.explanation
    assert ex is not None and ex.at == m(3)
    assert "Trading -> Flattening" in ex.transition and "RULE-003" in ex.transition
    texts = [t for _, t in ex.events]
    assert any("fill #1: buy 2" in t for t in texts)
    assert texts[-1] == f"quote {MNQ}: last 19925"
    [(value, limit)] = [(v, lim) for r, v, lim, _ in ex.values if r == "RULE-003"]
    assert D(value) == D("-301") and D(limit) == D("-300")


def test_a_reconciliation_listing_the_trades_again_counts_each_once() -> None:
    # a restart at 09:30: the service re-reads the week's trades (one from last week, before
    # the window, and this morning's), then the open position as a snapshot
    old = Fill(ACC, 0, MNQ, 100, Side.BUY, 1, D("19000"), None, D("0.50"), T0 - timedelta(days=3))
    relisted = [
        at(30, old),
        *[Entry(m(30), ACC, e.event) for e in MORNING if isinstance(e.event, Fill)],
    ]
    report = run("", MORNING + relisted)
    [day] = report.days.values()
    assert day.actual == day.replayed == D("-503.00")


def test_a_fill_learned_only_from_the_trades_read_back_counts_in_the_actual_pnl() -> None:
    # reported: the service's close filled while it was down (kill -9); its fill reached the
    # journal only in the restart's trades read back, which replay skipped: "actual -1.86,
    # replayed -845.22", as if enforcement had cost the trader $843
    live = list(MORNING[:6])  # long 2 from 20000, last quoted 19925 before the crash
    close = Fill(ACC, 2, MNQ, 999, Side.SELL, 2, D("19850"), D("-600"), D("1.00"), m(6))
    opened = Fill(ACC, 1, MNQ, 101, Side.BUY, 2, D("20000"), None, D("1.00"), m(1))
    flat = PositionUpdate(ACC, MNQ, PositionType.LONG, 0, D(0), m(8), snapshot=True)
    live += [at(8, flat), at(8, TradesSnapshot(ACC, m(-60), (opened, close)))]
    report = run("", live, own_trades={2}, own_orders={999})
    [day] = report.days.values()
    assert day.actual == D("-602.00")  # the entry's fees, the close's loss and fees


def test_a_position_held_before_the_window_is_taken_from_the_snapshot() -> None:
    held = PositionUpdate(ACC, MNQ, PositionType.LONG, 1, D("19900"), m(-60), snapshot=True)
    entries = [MORNING[0], MORNING[1], at(0.2, held), quote("20000", 0.5), quote("19950", 30)]
    report = run("", entries)
    [day] = report.days.values()
    # on both sides, valued from its average price (the mark when the window opened is not
    # known) to the last mark: +50 points on 1 MNQ
    assert day.actual == day.replayed == (D("19950") - D("19900")) * 2


def test_exact_replay_restores_the_accounts_at_a_restart_as_the_service_does() -> None:
    settings = config.parse(DAILY_LOSS_300)
    # RULE-003 fires at 09:03; the service's close fills and the account is LockedDaily
    closed = PositionUpdate(ACC, MNQ, PositionType.UNDEFINED, 0, D(0), m(3.2))
    locked = [*MORNING[:6], fill(50, Side.SELL, 2, "19925", "-300", "1.00", 3.1), at(3.2, closed)]
    reset = datetime.fromisoformat("2026-11-23T23:00:00+00:00")
    restart = Entry(reset + timedelta(hours=1), None, None, RESTART)
    recorded = RecordedSettings(settings)
    before = replay_exact(locked, recorded)
    restored = [*locked, restart, Entry(restart.at, None, None, RESTORE)]
    # the restore at start-up applies the reset missed while stopped: the lock, past its
    # deadline, waits for the start-up read's trades (the rule judges them then), and ends
    # with that read (nothing traded since the reset)
    held = replay_exact(restored, recorded)
    assert held.audit == before.audit
    read = Entry(restart.at + timedelta(seconds=2), ACC, TradesSnapshot(ACC, reset, ()))
    after = replay_exact([*restored, read], recorded)
    assert [a.trigger for a in after.audit[len(before.audit) :]] == ["release"]
    assert after.audit[-1].at == read.at


def test_the_window_of_trading_days_runs_between_resets_across_daylight_saving() -> None:
    from fsm_risk.replay_sources import window

    cal = config.parse("").calendar()
    # Friday 2026-03-06 began Thursday 17:00 CST (23:00 UTC); clocks went forward on Sunday
    # 03-08, so Monday 03-09 ends at 17:00 CDT (22:00 UTC)
    start, end = window(cal, date(2026, 3, 6), date(2026, 3, 9))
    assert start == datetime.fromisoformat("2026-03-05T23:00:00+00:00")
    assert end == datetime.fromisoformat("2026-03-09T22:00:00+00:00")
    assert cal.trading_day(start + timedelta(seconds=1)) == date(2026, 3, 6)
    assert cal.trading_day(end - timedelta(seconds=1)) == date(2026, 3, 9)


def test_a_replayed_reduce_resizes_the_traders_stop_to_what_remains() -> None:
    # long 5 with a sell stop of 5, replayed under a limit of 3: the reduce sells 2 and the
    # simulated broker resizes the stop to 3, as the gateway's order modify does
    stop = OrderUpdate(
        ACC, 500, MNQ, OrderStatus.OPEN, OrderType.STOP, Side.SELL, 5, m(0.8), None, D("19900")
    )
    entries = [*MORNING[:3], at(0.8, stop), fill(1, Side.BUY, 5, "20000", None, "2.50", 1)]
    settings = config.parse("[rule.max_contracts]\nlimit = 3\n")
    engine = build_engine(settings)
    r = Replay(engine, ACC, start=engine.calendar.last_daily_reset(T0))
    for e in entries:
        r.feed(e)
    report = r.finish(m(2))
    assert [(f.rule_id, f.action) for f in report.firings] == [("RULE-001", "reduce")]
    acct = engine.accounts[ACC]
    assert acct.positions[MNQ].size == 3
    assert acct.orders[500].size == 3
