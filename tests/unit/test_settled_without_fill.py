"""A position the gateway removes without any fill (cash settlement at expiry, a forced
removal): its P&L moves the balance and no trade ever says so. Reported: long 2 MNQ at
21,010.50 (marked -$442), cash-settled at 20,890 (-$482, no trade): the day's net "improved"
by $442 when the trader lost $482, and the daily and weekly loss limits never saw it. Once a
read confirms the position gone and the balance moved beyond the fills, that move is booked
as the settlement's realized P&L, to the cent, and kept across a rebuild and a restart."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ReadTrades
from fsm_risk.core.events import Fill, Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MES,
    MNQ,
    Driver,
    account,
    alerts,
    fill,
    gateway_read,
    gateway_trades,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
)

D = Decimal
LIMIT = "450"


def long_two(d: Driver) -> None:
    """Long 2 MNQ at 21,010.50 (no fees), marked at 20,900: -$442 open."""
    d.send(fill(MNQ, Side.BUY, 2, "21010.50"), position(MNQ, 2, "21010.50"))
    d.send(account("50000"), quote(MNQ, "20900", at=d.now))
    assert d.acct.open_upnl == D("-442") and d.acct.state is State.Trading


def settled(d: Driver, balance: str) -> list:
    """The gateway removes the position with no trade and moves the balance; the service
    (which holds the live close back until a read confirms it) reads the account: the
    balance, and no position."""
    d.send(account(balance))  # the live balance: unexplained, a read asked for
    return gateway_read(d, account(balance))


def reasons(out: list) -> list[Reason]:
    return [a.reason for a in alerts(out)]


def test_a_cash_settled_loss_is_booked_to_the_cent_and_the_daily_limit_sees_it() -> None:
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    out = settled(d, "49518.00")  # settled at 20,890: -$482
    assert Reason.POSITION_SETTLED in reasons(out)
    assert MNQ not in d.acct.positions and d.acct.net[MNQ] == 0
    assert d.acct.day.realized == D("-482.00") and d.acct.week.realized == D("-482.00")
    assert d.acct.day.settled == D("-482.00") and d.acct.open_upnl == 0
    assert d.acct.balance == D("49518.00") and d.acct.equity == D("49518.00")
    assert d.acct.day_pnl(with_unrealized=True) == D("-482.00")
    assert d.acct.state is State.LockedDaily  # -482 <= -450: the loss limit fired


def test_a_cash_settled_gain_is_booked_as_a_gain() -> None:
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    settled(d, "50358.00")  # settled at 21,100: +$358
    assert d.acct.day.realized == D("358.00") and d.acct.week.realized == D("358.00")
    assert d.acct.state is State.Trading


def test_a_balance_move_with_no_position_gone_books_nothing() -> None:
    """A fee, a firm's reset of the account, a deposit: a read confirms the balance, the
    position it lists is still there (or none was held): nothing is booked as a settlement."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    out = settled(d, "49995.00")  # flat, a $5 fee
    assert d.acct.balance == D("49995.00") and d.acct.day.realized == 0
    long_two(d)
    d.send(account("48000.00"))
    out = gateway_read(d, account("48000.00"), position(MNQ, 2, "21010.50"))
    assert Reason.POSITION_SETTLED not in reasons(out)
    assert d.acct.balance == D("48000.00") and d.acct.day.realized == 0
    assert d.acct.positions[MNQ].size == 2 and not d.acct.settled
    # the next read finds the position gone, the balance where it was: nothing to book
    out = gateway_read(d, account("48000.00"))
    assert Reason.POSITION_WITHOUT_FILLS in reasons(out)
    assert Reason.POSITION_SETTLED not in reasons(out)
    assert d.acct.day.realized == 0 and d.acct.state is State.Trading


def test_a_move_the_reads_fills_explain_is_not_a_settlement() -> None:
    """The close's trade is in the read: it realizes the loss, nothing more is booked."""
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    d.send(account("49518.00"))
    close = fill(MNQ, Side.SELL, 2, "20890", pnl="-482.00", order_id=9)
    out = gateway_read(d, close, account("49518.00"))
    assert Reason.POSITION_SETTLED not in reasons(out)
    assert d.acct.day.realized == D("-482.00") and d.acct.day.settled == 0


def test_the_late_fill_replaces_the_settlement_it_is_not_counted_twice() -> None:
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    settled(d, "49518.00")
    late = fill(MNQ, Side.SELL, 2, "20890", pnl="-482.00", order_id=9, at=d.now)
    out = d.send(late)
    assert Reason.POSITION_SETTLED in reasons(out)
    assert d.acct.day.realized == D("-482.00") and d.acct.week.realized == D("-482.00")
    assert d.acct.day.settled == 0 and not d.acct.settled
    assert d.acct.net[MNQ] == 0 and not d.acct.positions  # nothing opened by it
    assert [t.net for t in d.acct.day.trips] == [D("-482.00")]
    d.send(account("49518.00"))  # the balance had it already: explained, taken
    assert d.acct.unexplained == 0 and d.acct.equity == D("49518.00")
    out = gateway_read(d, late, account("49518.00"))  # the read lists it now
    assert Reason.REALIZED_REBUILT not in reasons(out)
    d.send(TradesSnapshot(ACC, d.acct.week.start, (late,)))
    assert d.acct.day.realized == D("-482.00")


def test_a_late_fill_of_part_replaces_that_part() -> None:
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    settled(d, "49518.00")
    d.send(fill(MNQ, Side.SELL, 1, "20890", pnl="-241.00", order_id=9, at=d.now))
    assert d.acct.day.realized == D("-482.00") and d.acct.day.settled == D("-241.00")
    assert d.acct.settled[MNQ][:2] == (1, D("-241.00")) and d.acct.net[MNQ] == 0


def test_a_new_position_after_the_settlement_is_the_traders() -> None:
    """A buy after the settlement opens a new position: it is not a late fill, and the
    settlement stands."""
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    settled(d, "49518.00")
    d.send(fill(MNQ, Side.BUY, 1, "20900", order_id=10, at=d.now), position(MNQ, 1, "20900"))
    assert d.acct.net[MNQ] == 1 and not d.acct.settled
    assert d.acct.day.realized == D("-482.00")


def test_the_settlement_survives_a_restart_and_the_rebuild_from_trades() -> None:
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    settled(d, "49518.00")
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit="5000"))
    assert again.acct.day.realized == D("-482.00") and again.acct.week.realized == D("-482.00")
    assert again.acct.settled[MNQ][:2] == (2, D("-482.00"))
    # the start-up read's trades (the buy only): the books are not rebuilt without it
    buy = next(f for f in d.acct.day.fills if f.side is Side.BUY)
    listed = fill(MNQ, Side.BUY, 2, "21010.50", trade_id=buy.trade_id, at=buy.at)
    out = again.send(TradesSnapshot(ACC, again.acct.week.start, (listed,)))
    assert Reason.REALIZED_REBUILT not in reasons(out)
    assert again.acct.day.realized == D("-482.00") and again.acct.week.realized == D("-482.00")


def start_up_of_an_exposed_account(
    d: Driver, *trades: Fill, balance: str, limit: str = LIMIT
) -> Driver:
    """Stopped while long 2 MNQ; started again. An exposed account's start-up read goes as
    the service makes it: its positions first (none listed), behind a `Listing` that marks
    it behind; then its trades (the buy, and ``trades``) and its balance; then a `Tick`."""
    buy = next(f for f in d.acct.day.fills if f.side is Side.BUY)
    d.advance(minutes=30)
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit=limit))
    acct = again.acct
    applied = frozenset(acct.seen_trades)
    before = frozenset(set(acct.positions) | {c for c, n in acct.net.items() if n})
    again.send(Listing(ACC, frozenset(), frozenset(), before, frozenset(), applied, behind=True))
    listed = (fill(MNQ, Side.BUY, 2, "21010.50", trade_id=buy.trade_id, at=buy.at), *trades)
    again.send(TradesSnapshot(ACC, acct.week.start, listed, applied))
    ids = applied | {t.trade_id for t in listed}
    again.send(dataclasses.replace(account(balance), applied=ids), Tick(ACC))
    return again


def test_settled_while_the_service_was_down_is_booked_when_the_start_up_read_has_the_balance() -> (
    None
):
    """The position is gone when the positions are read, the balance comes after the trades:
    before, the position's disappearance was taken by then and nothing booked the move (the
    day read 0 against the gateway's -482, the account kept trading). Booked, and stored."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    again = start_up_of_an_exposed_account(d, balance="49518.00")
    acct = again.acct
    assert Reason.POSITION_SETTLED in reasons(again.effects)
    assert acct.balance == D("49518.00") and acct.net[MNQ] == 0 and not acct.vanished
    assert acct.day.realized == D("-482.00") and acct.week.realized == D("-482.00")
    assert acct.day.settled == D("-482.00") and acct.settled[MNQ][:2] == (2, D("-482.00"))
    assert acct.state is State.LockedDaily
    later = restart(again, lambda: rule_engine(DailyLossLimit, limit=LIMIT))
    assert later.acct.day.realized == D("-482.00") and later.acct.state is State.LockedDaily


def test_a_position_found_gone_waits_for_the_balance_across_a_restart() -> None:
    """Stopped between the positions read and the balance: what was found gone is stored,
    and the balance after the next start books it."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    d.send(
        Listing(
            ACC,
            frozenset(),
            frozenset(),
            frozenset({MNQ}),
            frozenset(),
            frozenset(d.acct.seen_trades),
            behind=True,
        )
    )
    assert d.acct.vanished == {MNQ: 2} and d.acct.day.realized == 0
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit=LIMIT))
    assert again.acct.vanished == {MNQ: 2}
    gateway_read(again, account("49518.00"))
    assert again.acct.day.realized == D("-482.00") and not again.acct.vanished


def test_the_trade_a_start_up_read_lists_for_a_position_found_gone_is_no_settlement() -> None:
    """Closed by a trade while the service was down (its record listed by the start-up
    read): the trade realizes the loss, the balance's move is explained, nothing is booked
    as a settlement and nothing waits."""
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    close = fill(MNQ, Side.SELL, 2, "20890", pnl="-482.00", order_id=9, at=d.now)
    again = start_up_of_an_exposed_account(d, close, balance="49518.00", limit="5000")
    acct = again.acct
    assert Reason.POSITION_SETTLED not in reasons(again.effects)
    assert acct.day.realized == D("-482.00") and acct.day.settled == 0
    assert not acct.settled and not acct.vanished and acct.net[MNQ] == 0


def test_a_read_whose_balance_is_older_than_a_fill_leaves_the_settlement_to_the_next() -> None:
    """The trader's MES buy fills live while the confirming read is under way: that read's
    balance is older than ours and skipped, so it cannot settle the position it finds gone.
    Before, the position's disappearance was taken all the same and no later read booked
    the move (the day at 0 against -482). It waits, the account is read again (asked at
    once), and that read's balance books it."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    d.send(account("49518.00"))  # the live balance after the settlement: unexplained
    acct = d.acct
    began = frozenset(acct.positions), frozenset(acct.orders), frozenset(acct.seen_trades)
    d.send(fill(MES, Side.BUY, 1, "6000", at=d.now), position(MES, 1, "6000"))  # live
    d.send(dataclasses.replace(account("49518.00"), applied=began[2]))  # the read's: older
    out = d.send(Listing(ACC, frozenset(), frozenset(), *began))
    assert ReadTrades(ACC) in out and Reason.POSITION_SETTLED not in reasons(out)
    assert acct.net[MNQ] == 0 and acct.vanished == {MNQ: 2} and acct.day.realized == 0
    out = gateway_read(d, account("49518.00"), position(MES, 1, "6000"))
    assert Reason.POSITION_SETTLED in reasons(out) and not acct.vanished
    assert acct.balance == D("49518.00") and acct.day.realized == D("-482.00")
    assert acct.settled[MNQ][:2] == (2, D("-482.00"))
    assert acct.state is State.Flattening  # the limit fired: the MES is being closed


def two_settled_in_one_read(d: Driver) -> None:
    """Long 2 MNQ (-482 at the settlement) and 1 MES (-60), both cash-settled: the balance
    moves -542 and one read finds both gone."""
    long_two(d)
    d.send(fill(MES, Side.BUY, 1, "6000.00"), position(MES, 1, "6000.00"))
    d.send(account("49458.00"))
    out = gateway_read(d, account("49458.00"))  # booked together, once its trade list came
    said = [a.message for a in alerts(out) if a.reason is Reason.POSITION_SETTLED]
    assert len(said) == 1 and f"{MES}: +1, {MNQ}: +2" in said[0] and "their" in said[0], said
    assert d.acct.day.realized == D("-542.00") and d.acct.day.settled == D("-542.00")


def test_two_settled_in_one_read_share_the_move_a_late_fill_of_one_takes_back_its_own() -> None:
    """What each made of the -542 cannot be told. Before, all of it was booked against the
    first (MES), and MES's late fill (-60) then replaced the whole -542: the day read -60.
    The late fill takes back its own P&L, what it moved the balance by; MNQ keeps the rest."""
    d = rule_driver(DailyLossLimit, limit="5000")
    two_settled_in_one_read(d)
    d.send(fill(MES, Side.SELL, 1, "5988", pnl="-60.00", order_id=77, at=d.now))
    assert d.acct.day.realized == D("-542.00") and d.acct.week.realized == D("-542.00")
    assert d.acct.day.settled == D("-482.00") and d.acct.net[MES] == 0
    assert {c: v[:2] for c, v in d.acct.settled.items()} == {MNQ: (2, D("-482.00"))}
    d.send(fill(MNQ, Side.SELL, 2, "20890", pnl="-482.00", order_id=78, at=d.now))
    assert d.acct.day.realized == D("-542.00") and d.acct.day.settled == 0
    assert not d.acct.settled and d.acct.net[MNQ] == 0


def test_one_of_two_settled_together_traded_again_leaves_the_share_to_the_other() -> None:
    """MES is bought again: no late fill of it will come, its part stands. MNQ's late fill
    still takes back only its own P&L, whichever of the two held the amount."""
    d = rule_driver(DailyLossLimit, limit="5000")
    two_settled_in_one_read(d)
    d.send(fill(MES, Side.BUY, 1, "5990", order_id=79, at=d.now), position(MES, 1, "5990"))
    assert set(d.acct.settled) == {MNQ} and d.acct.settled[MNQ][1] == D("-542.00")
    d.send(fill(MNQ, Side.SELL, 2, "20890", pnl="-482.00", order_id=78, at=d.now))
    assert d.acct.day.realized == D("-542.00") and d.acct.day.settled == D("-60.00")
    assert not d.acct.settled


def test_a_late_fill_without_its_pnl_takes_back_a_share_by_contracts() -> None:
    """The gateway's trade record lacks its P&L: its part of a shared settlement is not
    known, so a share by contracts is taken back (MES 1 of 3: -180.67), not the whole."""
    d = rule_driver(DailyLossLimit, limit="5000")
    two_settled_in_one_read(d)
    d.send(fill(MES, Side.SELL, 1, "5988", order_id=77, at=d.now))
    assert d.acct.day.settled == D("-542.00") - D("-542.00") / 3
    assert {c: v[0] for c, v in d.acct.settled.items()} == {MNQ: 2}


def test_a_firm_reset_while_down_is_not_booked_as_a_settlement() -> None:
    """The firm resets the account while the service is down (or `serve --demo` starts a
    fresh paper gateway): positions removed, the balance set back to the start, and the trade
    list wiped. Booked as a settlement, the reset's -600 locked a fresh account (and a reset
    of a losing account would have hidden a loss as a gain). The trade list lacking trades
    already applied says the history was wiped: nothing is booked, and it is said."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    d.send(account("50600"))  # (up $600 on the day by the gateway's balance)
    d.advance(minutes=30)
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit=LIMIT))
    acct = again.acct
    applied = frozenset(acct.seen_trades)
    before = frozenset(set(acct.positions) | {c for c, n in acct.net.items() if n})
    again.send(Listing(ACC, frozenset(), frozenset(), before, frozenset(), applied, behind=True))
    assert acct.vanished == {MNQ: 2}  # (found gone: waits for the trades and the balance)
    again.send(TradesSnapshot(ACC, acct.week.start, (), applied))  # the history wiped
    again.send(dataclasses.replace(account("50000.00"), applied=applied), Tick(ACC))
    said = [a.message for a in alerts(again.effects) if a.reason is Reason.POSITION_SETTLED]
    assert said and "not booked as a settlement" in said[-1], said
    assert acct.day.settled == 0 and not acct.settled and not acct.vanished
    assert acct.net[MNQ] == 0 and acct.state is State.Trading


def _wiped_earlier(d: Driver) -> None:
    """A round trip, then a read whose trade list lacks it (the firm reset the account)."""
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=1), position(MNQ, 1, "21000"))
    d.send(fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=2), position(MNQ, 0, "0"))
    gateway_read(d, account("50000"), trades=(), since=d.acct.week.start)


def test_a_settlement_after_a_wiped_history_is_still_booked_the_same_day_or_the_next() -> None:
    """A wiped trade list makes only the positions found gone beside it no settlement: one
    settled later (that day, the next) is booked. A first version kept a flag from the read
    that saw the wipe, and dropped every settlement after it, the next day's too."""
    for later in ({"hours": 1}, {"days": 1}):
        d = rule_driver(DailyLossLimit, limit=LIMIT)
        _wiped_earlier(d)
        d.advance(**later)
        buy = fill(MNQ, Side.BUY, 2, "21010.50", order_id=3, at=d.now)
        d.send(buy, position(MNQ, 2, "21010.50", at=d.now))
        d.send(account("50000"), quote(MNQ, "20900", at=d.now))
        d.send(account("49518.00"))  # settled at 20,890: the live balance, unexplained
        # as the service reads: the position gone, then its trade list (the wipe still in it)
        out = gateway_read(d, account("49518.00"), trades=(buy,), since=d.acct.week.start)
        assert d.acct.day.realized == D("-482.00"), (later, reasons(out))
        assert d.acct.state is State.LockedDaily


def _reset_at_the_gateway(d: Driver) -> list:
    """The firm resets the account while the service runs: the position's closed record and
    the balance back to 50,000 come live (no fill explains either), then the service's read:
    its balance, no position, and its trade list, wiped (it lacks every trade applied)."""
    d.send(position(MNQ, 0, "0", at=d.now), account("50000.00"))
    return gateway_read(d, account("50000.00"), trades=(), since=d.acct.week.start)


def test_a_firm_reset_while_running_books_nothing_up_or_down() -> None:
    """The live read lists the balance before its trade list, and the reset's move was booked
    as the position's settlement at once: an account up $600 (50,600) reset to 50,000 booked
    -600 and was locked (a 450 limit), and one down $400 on the day booked +400, its loss
    hidden. The read's trade list lacks the trade that opened the position, with every one
    before it: a reset, nothing is booked, and a critical alert says what was not. The read's
    balance moved with no fill too: a second critical alert says what the books were (see
    `wiped`); the day's -400 is kept (a reset never makes the loss limits looser)."""
    for was, day in (("50600.00", D(0)), ("49600.00", D("-400.00"))):
        d = rule_driver(DailyLossLimit, limit=LIMIT, balance=was if not day else "50000")
        if day:  # a losing round trip first: down $400 on the day
            d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=1), position(MNQ, 1, "21000"))
            d.send(fill(MNQ, Side.SELL, 1, "20800", pnl="-400", order_id=2))
            d.send(position(MNQ, 0, "0"), account(was))
        d.send(fill(MNQ, Side.BUY, 2, "21010.50", order_id=3), position(MNQ, 2, "21010.50"))
        d.send(account(was), quote(MNQ, "21010.50", at=d.now))
        out = _reset_at_the_gateway(d)
        said = [a for a in alerts(out) if a.reason is Reason.POSITION_SETTLED]
        assert [a.level.name for a in said] == ["CRITICAL"], said
        move = D("50000.00") - D(was)
        assert f"({move:+.2f}) is not booked as a settlement" in said[0].message
        assert said[0].account_id == ACC and said[0].contract_id == MNQ
        assert d.acct.day.realized == day and d.acct.day.settled == 0 and not d.acct.settled
        [reset] = [a for a in alerts(out) if a.reason is Reason.ACCOUNT_RESET]
        assert reset.level.name == "CRITICAL" and f"day realized {day:.2f}" in reset.message
        assert not d.acct.vanished and d.acct.net[MNQ] == 0 and not d.acct.positions
        assert d.acct.balance == D("50000.00") and d.acct.state is State.Trading


def test_a_settlement_the_next_read_books_is_judged_by_its_own_reads_trade_list() -> None:
    """A read whose balance is older than a fill cannot book what it finds gone; its trade
    list still judges it (listed: a settlement), and the next read's balance books it."""
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    acct = d.acct
    began = frozenset(acct.positions), frozenset(acct.orders), frozenset(acct.seen_trades)
    d.send(fill(MES, Side.BUY, 1, "6000", at=d.now), position(MES, 1, "6000"))  # live
    d.send(dataclasses.replace(account("49518.00"), applied=began[2]))  # older than the MES
    d.send(Listing(ACC, frozenset(), frozenset(), *began))
    assert acct.vanished == {MNQ: 2} and not acct.judged
    d.send(TradesSnapshot(ACC, acct.day.start, gateway_trades(d), began[2]))
    assert acct.vanished == {MNQ: 2} and acct.judged and acct.day.settled == 0
    gateway_read(d, account("49518.00"), position(MES, 1, "6000"))
    assert acct.day.settled == D("-482.00") and not acct.vanished


def _settled_while_down(mnq_first: bool, listed: str) -> Driver:
    """Long 2 MNQ and a MES round trip (-44) ten minutes apart, ``mnq_first`` or not; the
    position settled (-518) while the service was stopped, and the restart: the start-up read
    of an exposed account, positions first (none), then its trade list (``listed``: the
    ``mes`` or ``mnq`` trades alone) and the balance (`Service._history_step`)."""
    d = rule_driver(DailyLossLimit, limit="5000")
    trades: dict[str, tuple[Fill, ...]] = {}
    for kind in ("mnq", "mes") if mnq_first else ("mes", "mnq"):
        if kind == "mnq":
            buy = fill(MNQ, Side.BUY, 2, "21010.50", order_id=3, at=d.now)
            d.send(buy, position(MNQ, 2, "21010.50", at=d.now), quote(MNQ, "20900", at=d.now))
            trades["mnq"] = (buy,)
        else:
            mes = (
                fill(MES, Side.BUY, 1, "6000", order_id=1, at=d.now),
                fill(MES, Side.SELL, 1, "5992", pnl="-40", fees="4", order_id=2, at=d.now),
            )
            d.send(mes[0], position(MES, 1, "6000"), mes[1], position(MES, 0, "0"))
            trades["mes"] = mes
        d.advance(minutes=10)
    d.send(account("49956.00"))
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit="5000"))
    acct = again.acct
    applied = frozenset(acct.seen_trades)
    before = frozenset(set(acct.positions) | {c for c, n in acct.net.items() if n})
    again.send(Listing(ACC, frozenset(), frozenset(), before, frozenset(), applied, behind=True))
    again.send(TradesSnapshot(ACC, acct.week.start, trades[listed], applied))
    again.send(dataclasses.replace(account("49438.00"), applied=applied), Tick(ACC))
    return again


def settled_alerts(d: Driver) -> list[str]:
    return [a.level.name for a in alerts(d.effects) if a.reason is Reason.POSITION_SETTLED]


def test_a_capped_trade_list_at_a_restart_still_books_a_real_settlement() -> None:
    """A list cut short (its newest trades left out, a capped search) lacked trades already
    applied and was taken for a wiped one: the settlement found beside it was not booked.
    A reset wipes every trade before it, so a list that holds a trade older than one it lacks
    was not wiped: the settlement is booked, as it is when the position's own trade is listed.
    A list that lacks only the oldest trades, the position's among them, cannot be told from
    a wiped one: nothing is booked, and a critical alert says so."""
    for mnq_first, listed in ((False, "mes"), (True, "mnq")):
        again = _settled_while_down(mnq_first, listed)
        assert again.acct.day.settled == D("-518.00") and not again.acct.vanished
        assert settled_alerts(again) == ["WARNING"]
    oldest_gone = _settled_while_down(True, "mes")  # the MNQ buy, the oldest, left out
    assert oldest_gone.acct.day.settled == 0 and not oldest_gone.acct.vanished
    assert settled_alerts(oldest_gone) == ["CRITICAL"]


def test_a_settlement_found_before_the_daily_reset_is_not_the_new_days() -> None:
    """Found gone at 16:59 (Chicago) by a read whose balance is older than a fill, it waits
    for the next read's balance, which comes after the 17:00 reset: its move was booked into
    the new day, which started $482 down and was locked at once. It belongs to the day it
    was found gone in: the week books it, the new day does not."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    acct = d.acct
    d.at(acct.day.end - timedelta(minutes=1))
    began = frozenset(acct.positions), frozenset(acct.orders), frozenset(acct.seen_trades)
    d.send(fill(MES, Side.BUY, 1, "6000", at=d.now), position(MES, 1, "6000", at=d.now))
    d.send(dataclasses.replace(account("49518.00"), applied=began[2]))  # older than the MES
    d.send(Listing(ACC, frozenset(), frozenset(), *began))
    d.send(TradesSnapshot(ACC, acct.day.start, gateway_trades(d), began[2]))
    assert acct.vanished == {MNQ: 2}  # (judged settled: its buy is listed)
    old_day = acct.day.start
    d.at(acct.day.end + timedelta(minutes=1))  # the daily reset
    assert acct.day.start > old_day
    out = gateway_read(d, account("49518.00"), position(MES, 1, "6000", at=d.now))
    assert acct.week.settled == D("-482.00") and acct.week.realized == D("-482.00")
    assert acct.day.settled == 0 and acct.day.realized == 0
    said = [a.message for a in alerts(out) if a.reason is Reason.POSITION_SETTLED]
    assert said and "not the new day's" in said[-1], said
    assert acct.state is State.Trading and not acct.vanished
