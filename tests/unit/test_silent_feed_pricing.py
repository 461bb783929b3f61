"""A held contract whose quotes have stopped (the market hub connected but silent) is priced
by reads of its last bar: when they are sent, how the bars bucket bounds them, the backoff of
the failed reads and of the re-subscriptions, the alert (only once a read proves the feed
broken: the price moved and no quote said so), and the quote a bar's close makes. A read's
price older than the newest quote changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.models import Mark
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.silence import (
    BARS_SHARE,
    BARS_WINDOW,
    CRITICAL_AFTER,
    READ_EVERY,
    RESUBSCRIBE_LONGEST,
    RestPricing,
    rest_quote,
)
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import MNQ, NQ, T0, Driver, closes, fill, make_engine, position, quote
from tests.factories import account as account_update

D = Decimal
S = timedelta(seconds=1)
QUOTED = Mark(D("20850"), D("20849.75"), D("20850"), T0)  # the last quote before the silence


def test_a_silent_contract_is_read_at_once_then_every_read_every() -> None:
    p = RestPricing()
    started, ended = p.update({MNQ: QUOTED}, T0)
    assert (started, ended) == ([MNQ], [])
    assert p.due(T0) == [MNQ]
    assert p.due(T0) == []  # in flight: never two reads of one contract at once
    p.answered(MNQ, T0, D("20850"))
    assert p.due(T0 + READ_EVERY - S) == []
    assert p.due(T0 + READ_EVERY) == [MNQ]
    assert p.contracts[MNQ].reads == 1 and p.contracts[MNQ].price == D("20850")


def test_quotes_back_end_the_reads_and_a_late_answer_is_dropped() -> None:
    p = RestPricing()
    p.update({MNQ: QUOTED, NQ: None}, T0)
    assert sorted(p.due(T0)) == [MNQ, NQ]
    started, ended = p.update({NQ: None}, T0 + S)
    assert (started, ended) == ([], [MNQ])
    p.answered(MNQ, T0, D("1"))  # answered after its quotes came back: nothing kept
    assert MNQ not in p.contracts
    p.update({}, T0 + 2 * S)
    assert p.contracts == {} and p.resubscribe_at is None


def test_the_reads_never_use_more_than_their_share_of_the_bars_bucket() -> None:
    """Many silent contracts: at most `BARS_SHARE` reads within any `BARS_WINDOW`."""
    many = [f"CON.F.US.X{i:02d}.Z26" for i in range(BARS_SHARE + 5)]
    p = RestPricing()
    p.update(dict.fromkeys(many), T0)
    first = p.due(T0)
    assert len(first) == BARS_SHARE
    for c in first:
        p.answered(c, T0, D("10"))
    assert p.due(T0 + READ_EVERY) == []  # the bucket's window is not over
    later = p.due(T0 + BARS_WINDOW)
    assert len(later) == BARS_SHARE
    assert set(many) - set(first) <= set(later)  # the longest waiting go first


def test_a_failed_read_is_tried_again_after_a_wait_that_doubles() -> None:
    p = RestPricing()
    p.update({MNQ: QUOTED}, T0)
    waits = []
    sent = T0
    for _ in range(6):
        assert p.due(sent) == [MNQ]
        p.failed(MNQ, sent)
        waits.append((p.contracts[MNQ].next_read - sent).total_seconds())
        sent = p.contracts[MNQ].next_read
    assert waits == [2, 4, 8, 16, 30, 30]
    p.due(sent)
    p.answered(MNQ, sent, None)  # no bar: a failure too
    assert p.contracts[MNQ].failures == 7


def test_a_quiet_contract_is_priced_by_reads_with_no_resubscription_and_no_alert() -> None:
    """No quote while the price stands still (a quiet or closed market): read, not alarmed."""
    p = RestPricing()
    p.update({MNQ: QUOTED}, T0)
    now = T0
    for _ in range(100):
        for c in p.due(now):
            assert p.answered(c, now, D("20850")) is False  # the price last quoted
        assert p.resubscribe(now) is None
        assert p.overdue(now) == []
        now += S
    assert p.contracts[MNQ].reads == 50 and not p.contracts[MNQ].frozen


def test_a_contract_never_quoted_is_held_to_its_first_read() -> None:
    p = RestPricing()
    p.update({MNQ: None}, T0)
    p.due(T0)
    assert p.answered(MNQ, T0, D("20850")) is False
    p.due(T0 + READ_EVERY)
    assert p.answered(MNQ, T0 + READ_EVERY, D("20849.75")) is True  # it moved: frozen


def test_the_market_hub_is_subscribed_again_once_frozen_then_reconnected_with_backoff() -> None:
    p = RestPricing()
    assert p.resubscribe(T0) is None  # no silence
    p.update({MNQ: QUOTED}, T0)
    assert p.resubscribe(T0) is None  # silent, not proven broken
    p.due(T0)
    assert p.answered(MNQ, T0, D("20700")) is True  # the price moved, no quote said so
    attempts, now = [], T0
    for _ in range(200):
        found = p.resubscribe(now)
        if found is not None:
            attempts.append((found, (now - T0).total_seconds()))
        now += S
    assert attempts[:6] == [(0, 0), (1, 5), (2, 15), (3, 35), (4, 75), (5, 155)]
    assert p.resubscribe_wait == RESUBSCRIBE_LONGEST
    p.update({}, now)  # quotes back: the next silence starts over
    assert p.resubscribe(now) is None
    p.update({MNQ: QUOTED}, now)
    p.due(now)
    p.answered(MNQ, now, D("20600"))
    assert p.resubscribe(now) == 0


def test_the_critical_alert_comes_once_after_critical_after_for_a_frozen_contract() -> None:
    p = RestPricing()
    p.update({MNQ: QUOTED}, T0)
    p.due(T0)
    p.answered(MNQ, T0, D("20700"))
    assert p.overdue(T0 + CRITICAL_AFTER - S) == []
    assert p.overdue(T0 + CRITICAL_AFTER) == [MNQ]
    assert p.overdue(T0 + 2 * CRITICAL_AFTER) == []


def test_a_bars_close_is_the_last_price_and_the_bid_and_ask_one_spread_away() -> None:
    """A print says nothing of the bid and ask: a long valued at the bid, a short at the ask,
    are never valued better than the print allows (one spread on the losing side)."""
    p = RestPricing()
    p.update({MNQ: Mark(D("100"), D("99.75"), D("100.25"), T0)}, T0)
    spread = p.contracts[MNQ].spread
    assert spread == D("0.5")  # the last spread quoted, kept while the silence lasts
    q = rest_quote(MNQ, D("90"), T0 + S, spread, D("0.25"))
    assert (q.contract_id, q.at, q.last, q.bid, q.ask) == (
        MNQ,
        T0 + S,
        D("90"),
        D("89.5"),
        D("90.5"),
    )
    q = rest_quote(MNQ, D("90"), T0, None, D("0.25"))  # never quoted: one tick
    assert (q.bid, q.ask) == (D("89.75"), D("90.25"))
    q = rest_quote(MNQ, D("90"), T0, None, None)
    assert (q.bid, q.ask, q.last) == (D("90"), D("90"), D("90"))


def long_two(d: Driver) -> None:
    """Long 2 MNQ at 21000 (a $500 daily loss limit), quoted at 21000."""
    d.send(account_update("50000"))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=7, at=d.now))
    d.send(position(MNQ, 2, "21000", at=d.now))
    d.send(quote(MNQ, "21000", at=d.now, bid="20999.75", ask="21000"))


def test_a_read_price_older_than_the_newest_quote_changes_nothing() -> None:
    """A read sent at T+10 s answers 20800 (-$800 for 2 MNQ: past the $500 limit); a quote
    stamped T+11 s (20950) arrived before it: the older read neither moves the mark nor
    fires the rule."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    long_two(d)
    d.now = T0 + 11 * S
    d.send(quote(MNQ, "20950", at=d.now, bid="20949.75", ask="20950"))
    before = d.acct.day_pnl(with_unrealized=True)
    mark = d.engine.marks[MNQ]
    out = d.send(rest_quote(MNQ, D("20800"), T0 + 10 * S, D("0.25"), D("0.25")))
    assert out == []
    assert (mark.last, mark.bid, mark.ask, mark.at) == (
        D("20950"),
        D("20949.75"),
        D("20950"),
        T0 + 11 * S,
    )
    assert d.acct.day_pnl(with_unrealized=True) == before == D("-200")
    assert d.acct.state is State.Trading


def test_a_read_price_newer_than_the_last_quote_fires_the_rule_as_a_quote_would() -> None:
    """The last quote is 40 s old (stale): the read's 20800 is newer, the day at -$800."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    long_two(d)
    d.now = T0 + 40 * S
    out = d.send(rest_quote(MNQ, D("20800"), d.now, None, None))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert d.acct.state is not State.Trading


def test_in_liquidation_mode_a_read_values_a_long_one_spread_below_the_print() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}, mark_mode=MarkMode.LIQUIDATION))
    long_two(d)
    d.now = T0 + 40 * S
    d.send(rest_quote(MNQ, D("20900"), d.now, D("0.25"), D("0.25")))
    # bid 20900 - 0.25 (the last spread quoted): (20899.75 - 21000) x 2 x $2 = -$401
    assert d.acct.day_pnl(with_unrealized=True) == D("-401")
