"""A closing trade record without its P&L: what it made, from what the service knows.

The gateway's trade record carries ``profitAndLoss`` on a fill that closes contracts and none
on one that opens them. A closing record may come without it all the same: booked as $0, a
losing exit hid its loss from every limit while the service ran. Its P&L is computed instead,
the way the gateway computes it (average cost): the exit price less the average entry of the
contracts it closes, times those contracts and the instrument's dollars per point (negated
for a short). `Ledger` books it marked as computed and asks for a read of the account's
trades: the gateway's own figure replaces it once it comes.

The average entry is the open round trip's, from its fills (entries add their cost; exits
take their share of it away); when the fills seen do not make the whole position (opened
before the day, before monitoring began, or sized by the gateway without fills), it is the
gateway's position's average price at that moment; else it is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from fsm_risk.core.effects import Alert, Effect, Level, ReadTrades
from fsm_risk.core.events import Fill, Side
from fsm_risk.core.models import ZERO, AccountModel, Instrument, InstrumentBook
from fsm_risk.core.pnl import CENT, booked, unrealized
from fsm_risk.core.reasons import Reason
from fsm_risk.core.valuation import COST_QUANTUM

__all__ = ["CENT", "Computed", "entry_average", "exit_pnl"]


def entry_average(acct: AccountModel, cid: str, before: int) -> Decimal | None:
    """The average entry price of the ``before`` contracts open in ``cid`` (signed), or None
    when neither the fills nor the gateway's position tell it."""
    if before == 0:
        return None
    fills = [f for f in acct.day.fills if f.contract_id == cid]
    size, start = before, None
    for i in range(len(fills) - 1, -1, -1):  # back to the fill that opened the round trip
        f = fills[i]
        prior = size - (f.size if f.side is Side.BUY else -f.size)
        if prior == 0 or (prior > 0) != (size > 0):
            start = i
            break
        size = prior
    if start is not None:
        opened, cost = abs(size), abs(size) * fills[start].price  # its entry part
        for f in fills[start + 1 :]:
            if (f.side is Side.BUY) == (before > 0):
                opened, cost = opened + f.size, cost + f.size * f.price
            else:
                k = min(f.size, opened)
                cost -= cost * k / opened
                opened -= k
            if opened == 0:
                break
        if opened == abs(before):
            return cost / opened
    pos = acct.positions.get(cid)
    if pos is not None and pos.long == (before > 0) and pos.size > 0:
        return pos.average_price
    return None


def exit_pnl(
    long: bool, closed: int, price: Decimal, average: Decimal, inst: Instrument
) -> Decimal:
    """What closing ``closed`` contracts of a position (``long`` or short) at ``price``
    made, its entry averaging ``average``: to the cent, as the gateway books it.

    An average that repeats (663.25 for 6 contracts: 110.541666...) is rounded at 28 digits,
    and what it makes lands a hair beside an exact half cent (109.3749999... for 109.375,
    78.1250000...1 for 78.125), which the gateway books to the even cent (109.38, 78.12): it
    is taken to a millionth of a dollar first (`COST_QUANTUM`, as a position's cost is), far
    above that error and far below a cent."""
    made = unrealized(long, closed, average, price, inst)
    return booked(made.quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)) if made else ZERO


class Computed:
    """The closing fills booked with a computed P&L, until the gateway's own replaces it:
    (account, trade) -> the P&L booked, and whether it is still in ``pending_realized`` (no
    balance taken since). Runtime: a restart rebuilds the books from the gateway's trades."""

    def __init__(self, instruments: InstrumentBook) -> None:
        self.instruments = instruments
        self.marks: dict[tuple[int, int], tuple[Decimal, bool]] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.marks

    def compute(
        self, acct: AccountModel, ev: Fill, before: int, closed: int, out: list[Effect]
    ) -> Decimal:
        """The P&L of a fill closing ``closed`` of the ``before`` contracts open, whose record
        has none: marked computed, and the gateway's own asked for (a read of the trades)."""
        cid = ev.contract_id
        average = entry_average(acct, cid, before)
        inst = self.instruments.get(cid)
        made = ZERO
        if average is not None and inst is not None:
            made = exit_pnl(before > 0, closed, ev.price, average, inst)
            how = f"computed {made:.2f} from the average entry {average:.10g}"
        else:
            how = "booked 0.00, its average entry unknown,"
        self.marks[(acct.account_id, ev.trade_id)] = (made, True)
        out.append(ReadTrades(acct.account_id))
        out.append(
            Alert(
                Level.WARNING,
                Reason.PNL_COMPUTED,
                f"{cid}: trade {ev.trade_id} closed {closed} at {ev.price} without its P&L; "
                f"{how} until the gateway's trades say",
                acct.account_id,
                cid,
            )
        )
        return made

    def correct(self, acct: AccountModel, ev: Fill, out: list[Effect]) -> None:
        """A trade booked with a computed P&L, read again with the gateway's own: the books
        take the difference, once (the mark goes with it)."""
        if ev.pnl is not None and not ev.voided:
            self._replace(acct, ev, ev.pnl, out)

    def listed(self, acct: AccountModel, trades: Sequence[Fill], out: list[Effect]) -> None:
        """The gateway's trade list (a read): its P&L replaces each one computed, once, even
        none (the gateway's records are the truth for realized P&L; a fill taken for a close
        on an order the trades explain otherwise made nothing)."""
        for t in trades:
            if not t.voided:
                self._replace(acct, t, t.pnl or ZERO, out)

    def _replace(self, acct: AccountModel, ev: Fill, pnl: Decimal, out: list[Effect]) -> None:
        key = (acct.account_id, ev.trade_id)
        if key not in self.marks:
            return
        made, pending = self.marks.pop(key)
        delta = pnl - made
        if not delta:
            return
        at = acct.seen_trades[ev.trade_id]
        if pending:  # no balance taken since it was booked: still in the fills' P&L since
            acct.pending_realized += delta
        if at >= acct.day.start:
            acct.day.realized += delta
        if at >= acct.week.start:
            acct.week.realized += delta
        out.append(
            Alert(
                Level.WARNING,
                Reason.PNL_COMPUTED,
                f"{ev.contract_id}: trade {ev.trade_id}'s P&L is {pnl:.2f} per the gateway "
                f"(computed {made:.2f}): realized P&L corrected by {delta:+.2f}",
                acct.account_id,
                ev.contract_id,
            )
        )

    def taken(self, acct: AccountModel) -> None:
        """A balance was taken: the P&L booked so far is in it (whatever the figure)."""
        for key, (made, _) in list(self.marks.items()):
            if key[0] == acct.account_id:
                self.marks[key] = (made, False)

    def void(self, acct: AccountModel, trade_id: int) -> None:
        self.marks.pop((acct.account_id, trade_id), None)

    def awaited(self, acct: AccountModel, trade: Fill) -> bool:
        """Whether a listed trade brings the gateway's P&L for one booked as computed."""
        return trade.pnl is not None and (acct.account_id, trade.trade_id) in self.marks
