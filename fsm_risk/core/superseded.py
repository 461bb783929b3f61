"""Closes given up on, and the fill of one delivered late.

A close (or reduce) whose answer never came is judged by a read of the gateway; when the read
shows the position still over its target and no close of ours working, the close is sent
again (`Pursuit.pursue`). The first may still have been on its way: a link gone silent keeps
a request's bytes and hands them over once it is back. The wire resets such a connection so
that its bytes never arrive (`adapters.wire`), but a proxy or load balancer that had taken
them already may still deliver them. Then the position is reduced twice: 6 -> 3 (ours, sent
again) -> 0 (the first, late), and the trader loses contracts the rules allow.

That cannot be undone, but it is never silent: a fill on the closing side, of an order not
known working, that takes the position below the target the given-up close had (or past
zero) within `LATE_WINDOW` of giving it up, no larger than that close, raises a WARNING
naming it (`CLOSE_DELIVERED_LATE`), once per close given up. From the feed alone it cannot be
told from the trader's own exit of that size (the gateway tells an order filled before its
fill, and our close's order looks like his): the alert says both, and the window is short
(with the connection reset, only a proxy or load balancer that had taken the request could
hand it over late, within its own timeouts). Runtime only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import Fill, Side
from fsm_risk.core.reasons import Reason

if TYPE_CHECKING:
    from fsm_risk.core.models import AccountModel, ContractModel

#: how long a close given up on may still arrive: its connection is reset (the kernel's
#: retransmission of it ends), so only a proxy or load balancer that had taken it could
#: deliver it later, within its own timeouts (a minute or two)
LATE_WINDOW = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class GivenUp:
    """A close sent again because its answer never came and the gateway was read without it."""

    side: Side
    size: int  # a reduce's size; 0: a close of the whole position
    target: int
    sent_at: datetime
    at: datetime  # when it was given up (sent again)


class Superseded:
    """The closes given up on, by (account, contract): the last one for each."""

    def __init__(self) -> None:
        self.given_up: dict[tuple[int, str], GivenUp] = {}

    def give_up(self, acct: AccountModel, cm: ContractModel, now: datetime) -> None:
        """The close in flight is superseded by one sent now: remember what it asked."""
        if cm.close_sent_at is None or cm.close_side is None:
            return
        self.given_up[(acct.account_id, cm.contract_id)] = GivenUp(
            cm.close_side, cm.close_size, cm.target_size, cm.close_sent_at, now
        )

    def fill(
        self,
        acct: AccountModel,
        ev: Fill,
        before: int,
        after: int,
        now: datetime,
        out: list[Effect],
    ) -> None:
        """A fill (``before`` -> ``after``, signed) that may be a close given up on, delivered
        late: alerted (see the module doc)."""
        key = (acct.account_id, ev.contract_id)
        g = self.given_up.get(key)
        if g is None:
            return
        if now - g.at > LATE_WINDOW:
            del self.given_up[key]
            return
        closing = before != 0 and (before > 0) == (g.side is Side.SELL) and ev.side is g.side
        if not closing or ev.order_id in acct.orders:  # (a working order known: the trader's)
            return
        if g.size and acct.day.filled(ev.order_id) + ev.size > g.size:
            return  # larger than the close given up: not it
        below = after == 0 or (after > 0) != (before > 0) or abs(after) < g.target
        if not below or (g.target == 0 and after == 0):
            return
        del self.given_up[key]
        asked = f"reduce of {g.size}" if g.size else "close"
        out.append(
            Alert(
                Level.WARNING,
                Reason.CLOSE_DELIVERED_LATE,
                f"{ev.contract_id}: order {ev.order_id} filled {ev.size} and took the position "
                f"from {abs(before)} to {abs(after)}, below its target {g.target}: it matches "
                f"our {asked} sent {g.sent_at:%H:%M:%S} UTC, given up at {g.at:%H:%M:%S} UTC "
                f"(no answer, the gateway read without it) and sent again: unless it was the "
                f"trader's own exit, a late delivery of it took contracts the rules allow",
                acct.account_id,
                ev.contract_id,
            )
        )
