"""A firm resets a flat account mid-day (orders cancelled, positions removed with no trade,
trade history wiped, balance set back to 50,000). Found by a hunt: up 396.52 before the
reset, the service kept that profit in the day's and week's books, and said only a WARNING
("the gateway's trade list lacks 2 trade(s) already applied"), so the daily limit of 500
fired 896 below the reset with no person told why. What looks like a reset (every applied
trade of the window gone from the list, none listed older, and the same read's balance moved
with no fill) is now a CRITICAL alert naming the books and what the list holds; nothing is
changed on it (a list capped, empty for a moment or stale looks the same: see `wiped`), every
lock is kept; a list merely incomplete (cut short, or read without a balance that moved) says
nothing of a reset."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import Effect
from fsm_risk.core.events import Fill, Listing, Side, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    alerts,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
)

D = Decimal
LIMIT = "500"


def round_trip(d: Driver, pnl: str, fees: str, balance: str, order_id: int) -> tuple[Fill, Fill]:
    """Buy 2 MNQ and sell them ten minutes later for ``pnl`` (``fees`` on the sell): the
    gateway's balance after it is ``balance``."""
    buy = fill(MNQ, Side.BUY, 2, "21000", order_id=order_id, at=d.now)
    d.send(buy, position(MNQ, 2, "21000", at=d.now))
    d.advance(minutes=10)
    sell = fill(MNQ, Side.SELL, 2, "21000", pnl=pnl, fees=fees, order_id=order_id + 1, at=d.now)
    d.send(sell, flat(MNQ, at=d.now), account(balance))
    d.advance(minutes=10)
    return buy, sell


def won(d: Driver) -> tuple[Fill, Fill]:
    """The morning: +400, 3.48 of fees: 396.52 on the day (balance 50,396.52)."""
    trades = round_trip(d, "400", "3.48", "50396.52", 1)
    assert d.acct.day.realized == D("396.52") and d.acct.week.realized == D("396.52")
    assert d.acct.balance == D("50396.52")
    return trades


def reset(d: Driver, balance: str, *trades: Fill) -> list[Effect]:
    """The firm resets the account: its balance comes live (no fill explains it: a read is
    asked for), then the service's read: that balance, no position, and the trade list of the
    week, wiped (``trades``: those made since the reset)."""
    d.send(account(balance))
    return gateway_read(d, account(balance), trades=trades, since=d.acct.week.start)


def said(out: list[Effect], reason: str) -> list[str]:
    """The alerts of ``reason`` (by its name), with their level."""
    return [f"{a.level.name} {a.message}" for a in alerts(out) if a.reason.name == reason]


def test_a_reset_of_a_flat_account_is_told_and_changes_nothing() -> None:
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    out = reset(d, "50000.00")
    acct = d.acct
    [text] = said(out, "ACCOUNT_RESET")
    assert text.startswith("CRITICAL the firm appears to have reset the account"), text
    assert "day realized 396.52 (its trades listed: 0.00)" in text, text
    assert "week realized 396.52" in text and "moved -396.52" in text, text
    assert "check the account at the gateway" in text, text
    assert acct.day.realized == D("396.52") and acct.week.realized == D("396.52")
    assert acct.balance == D("50000.00") and acct.state is State.Trading


def test_a_reset_while_locked_keeps_the_lock() -> None:
    """Only an admin ends a lock: the lock stays, and the alert says so; the day's loss before
    the reset is kept (a reset never makes the loss limits looser)."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    round_trip(d, "-520", "0", "49480.00", 1)
    assert d.acct.state is State.LockedDaily
    out = reset(d, "50000.00")
    assert d.acct.state is State.LockedDaily
    assert d.acct.day.realized == D("-520") and d.acct.week.realized == D("-520")
    [text] = said(out, "ACCOUNT_RESET")
    assert "day realized -520.00" in text and "the state (LockedDaily) and any lock" in text


def test_the_alert_gives_the_trades_made_since_the_reset() -> None:
    """The trader traded after the reset before the read came: the list holds those trades
    alone (all newer than the wiped ones): the alert gives what they make, the books keep
    every trade applied."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    d.send(account("50000.00"))  # the reset's balance, live: unexplained
    since = round_trip(d, "-100", "2", "49898.00", 3)
    out = gateway_read(d, account("49898.00"), trades=since, since=d.acct.week.start)
    assert d.acct.day.realized == D("294.52") and d.acct.week.realized == D("294.52")
    assert d.acct.balance == D("49898.00")
    assert "day realized 294.52 (its trades listed: -102.00)" in said(out, "ACCOUNT_RESET")[0]


def test_after_the_reset_the_next_reads_and_a_restart_keep_the_books() -> None:
    """The next reads, which still lack the wiped trades, say nothing more (their balance did
    not move); a record of a wiped trade replayed is never applied again; a restart keeps the
    books and the trades seen."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    buy, sell = won(d)
    reset(d, "50000.00")
    for _ in range(2):
        out = gateway_read(d, account("50000.00"), trades=(), since=d.acct.week.start)
        assert d.acct.day.realized == D("396.52") and d.acct.week.realized == D("396.52")
        assert not said(out, "ACCOUNT_RESET"), out
        assert not [t for t in said(out, "REALIZED_REBUILT") if "rebuilt" in t], out
    d.send(dataclasses.replace(sell, at=d.now))  # a stale record of a wiped trade, replayed
    assert d.acct.day.realized == D("396.52")
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit=LIMIT))
    assert again.acct.day.realized == D("396.52")
    assert buy.trade_id in again.acct.seen_trades


def test_an_empty_list_with_the_balance_unmoved_never_wipes_the_books() -> None:
    """A trade list empty for a moment (a gateway glitch) with the balance where the trades
    put it: no reset, the books are kept (and that is said)."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    out = gateway_read(d, account("50396.52"), trades=(), since=d.acct.week.start)
    assert d.acct.day.realized == D("396.52") and d.acct.week.realized == D("396.52")
    assert not said(out, "ACCOUNT_RESET")
    assert [t for t in said(out, "REALIZED_REBUILT") if "kept" in t], out


def test_a_list_cut_short_never_wipes_the_books_even_with_the_balance_moved() -> None:
    """A list lacking a trade newer than one it holds was cut short, not wiped (a reset wipes
    every trade before it): the books are kept even when the same read's balance moved with no
    fill (a fee, say), the wiped-looking part of the list being the newest."""
    d = rule_driver(DailyLossLimit, limit="5000")
    first = won(d)
    round_trip(d, "-300", "0", "50096.52", 3)
    d.send(account("50091.52"))  # a $5 fee no fill explains
    out = gateway_read(d, account("50091.52"), trades=first, since=d.acct.week.start)
    assert d.acct.day.realized == D("96.52") and d.acct.week.realized == D("96.52")
    assert not said(out, "ACCOUNT_RESET")


def test_a_wiped_looking_list_whose_read_confirmed_no_balance_never_wipes_the_books() -> None:
    """The list lacks every trade, yet its read brought no balance of its own (left out, or
    one older than a fill): nothing says the account was reset, the books are kept."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    d.send(account("50000.00"))  # live, unexplained: not confirmed by a read
    acct = d.acct
    began = frozenset(), frozenset(), frozenset(acct.seen_trades)
    d.send(Listing(ACC, *began, frozenset(), began[2], balance=False))
    out = d.send(TradesSnapshot(ACC, acct.week.start, (), began[2]))
    assert acct.day.realized == D("396.52") and acct.week.realized == D("396.52")
    assert not said(out, "ACCOUNT_RESET")


def test_a_reset_from_a_high_peak_keeps_the_trailing_peak() -> None:
    """RULE-004 (intraday, 2000): the morning lifted the peak to 50,396.52; the firm resets the
    account to 50,000. The peak is kept (a reset as the service tells it may be a list cut
    short beside a fee: a peak re-seeded lower would let the trader past the firm's floor);
    the fresh account then locks 1,900 down, for a person to look (the alert said why)."""
    d = rule_driver(TrailingDrawdown, drawdown="2000", mode="intraday")
    d.send(quote(MNQ, "21000", at=d.now))
    won(d)
    memo = d.acct.rule_state["RULE-004"]
    assert D(memo["peak"]) == D("50396.52")
    out = reset(d, "50000.00")
    assert said(out, "ACCOUNT_RESET")
    assert D(memo["peak"]) == D("50396.52")
    d.advance(seconds=1)
    round_trip(d, "-1900", "0", "48100.00", 3)
    assert d.acct.state is not State.Trading


def test_a_reset_while_the_service_was_down_is_told_at_the_start_up_read() -> None:
    """Flat at the restart: the start-up read lists the balance first, then the wiped list."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    d.advance(minutes=30)
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit=LIMIT))
    assert again.acct.day.realized == D("396.52")
    out = gateway_read(again, account("50000.00"), trades=(), since=again.acct.week.start)
    assert again.acct.day.realized == D("396.52") and again.acct.week.realized == D("396.52")
    assert said(out, "ACCOUNT_RESET")


def exposed_start_up(d: Driver, balance: str) -> tuple[Driver, list[Effect]]:
    """Stopped after the morning's win; the firm resets the account and the trader buys 2 MNQ
    before the service starts again. The start-up read of an exposed account: its position
    first (behind), then its trade list (the buy alone: the rest wiped), then its balance
    (``balance``), as `Service._history_step` applies them."""
    won(d)
    d.advance(minutes=30)
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit=LIMIT))
    acct = again.acct
    buy = fill(MNQ, Side.BUY, 2, "21000", order_id=5, at=again.now - timedelta(minutes=5))
    applied = frozenset(acct.seen_trades)
    held = dataclasses.replace(position(MNQ, 2, "21000"), snapshot=True, applied=applied)
    listing = Listing(ACC, frozenset({MNQ}), frozenset(), frozenset(), frozenset(), applied)
    again.send(dataclasses.replace(listing, behind=True), held)
    assert acct.behind is not None
    out = again.send(TradesSnapshot(ACC, acct.week.start, (buy,), applied))
    listed = applied | {buy.trade_id}
    out += again.send(dataclasses.replace(account(balance), applied=listed), quote(MNQ, "21000"))
    return again, out


def test_a_reset_found_by_an_exposed_accounts_start_up_read_waits_for_its_balance() -> None:
    again, out = exposed_start_up(rule_driver(DailyLossLimit, limit=LIMIT), "50000.00")
    assert again.acct.day.realized == D("396.52")
    assert again.acct.net[MNQ] == 2 and again.acct.behind is None
    assert said(out, "ACCOUNT_RESET") and again.acct.wiping is None


def test_a_wiped_looking_start_up_list_whose_balance_did_not_move_never_wipes_the_books() -> None:
    again, out = exposed_start_up(rule_driver(DailyLossLimit, limit=LIMIT), "50396.52")
    assert again.acct.day.realized == D("396.52") and again.acct.week.realized == D("396.52")
    assert not said(out, "ACCOUNT_RESET") and again.acct.wiping is None


def test_a_periodic_read_that_finds_the_resets_balance_is_applied_whole() -> None:
    """A periodic read that agreed on trades, positions and orders took its balance quietly,
    with no trade list to judge it: one made before the service's own read of the reset's
    balance (asked for a second after the live update) took it, that read was never made, and
    the books kept the wiped profit. A balance no fill explains is a difference: the read is
    applied whole, its trade list judges the reset."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    assert d.engine.diverged(ACC, [account("50396.52")]) == []  # agrees: taken quietly
    d.send(account("50000.00"))  # the reset's balance, live
    found = d.engine.diverged(ACC, [account("50000.00")])
    assert [a.message for a in alerts(found)] == [
        "the periodic read found what the live feed did not say: balance 50000.00, -396.52 "
        "beyond the fills since"
    ]
