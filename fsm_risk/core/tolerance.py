"""What a lock without flatten lets a position keep (``acct.tolerated``), shrunk by the fills
in the order they were made.

The position held when the lock came may stay and only shrink, by the fills as by the gateway's
records: once the fills take it flat or past flat, the tolerance is over, and what is held
after is a new position, opened while locked (the record saying so may be late, lost, or never
sent to us: a round trip made while the service was down, read back at a restart). The
gateway's trades reach the service in any order (each is its own event), so every fill since
the tolerance was set is kept (`Ended`, runtime only: a restart reads the positions again) and
walked, from the running size before the first of them, in the order they were made (their
time, then their trade id): so walked, the fills taking the position flat end it (a round trip
heard in any order), and a tolerance a fill heard out of order ended comes back when they never
did (an add past the limit and the sell that takes it back, heard sell first), never larger
than it was. Kept until the tolerance is set or cleared afresh (`forget`) or the gateway's
record ends it (`over`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fsm_risk.core.events import Fill, Side
from fsm_risk.core.models import AccountModel
from fsm_risk.core.states import LOCK_KINDS


@dataclass
class Ended:
    """The fills booked in a contract since its tolerance was set (kept while it stands, and
    after a fill ended it): the tolerance then, the running size before the first of them,
    the tolerance when a fill last ended it (None: it stands), and the fills, as (time,
    trade id, signed size). Walked from that base in the order they were made, whatever
    order they were heard in: a fill heard before the one that ended it but made after it
    is not taken for part of the position held."""

    tolerated: int
    base: int
    last: int | None = None
    fills: list[tuple[datetime, int, int]] = field(default_factory=list)


def shrink(acct: AccountModel, ev: Fill, after: int, reflected: bool = False) -> None:
    """The fill ``ev`` took the contract's running size to ``after``. A trade read back at a
    restart (``reflected``) leaves what the positions read hold less the trades still to book
    (`Behind.rest`): the fills' running size then knows nothing of a position from before the
    day's trades."""
    cid = ev.contract_id
    if reflected and acct.behind is not None:
        after = acct.net.get(cid, 0) - acct.behind.rest.get(cid, 0)
    move = (ev.at, ev.trade_id, ev.size if ev.side is Side.BUY else -ev.size)
    tol = acct.tolerated.get(cid)
    log = acct.untolerated.get(cid)
    if tol is None:
        if log is None or log.last is None:
            return
        log.fills.append(move)
        back = walk(log)
        if back is not None and cut(back, after) is not None and acct.state in LOCK_KINDS:
            # heard out of order, it never went flat: never more than when it ended
            acct.tolerated[cid] = (1 if back > 0 else -1) * min(abs(back), abs(log.last))
            log.last = None
        return
    if log is None:
        log = acct.untolerated[cid] = Ended(tol, after - move[2])
    log.fills.append(move)
    made = walk(log)
    if made is None or cut(tol, after) is None:
        del acct.tolerated[cid]
        log.last = tol
    else:
        acct.tolerated[cid] = (1 if tol > 0 else -1) * min(abs(tol), abs(made), abs(after))


def cut(tol: int, size: int) -> int | None:
    """A tolerance of ``tol`` once the running size is ``size``: None when it is flat or
    past flat."""
    if size == 0 or (size > 0) != (tol > 0):
        return None
    return (1 if tol > 0 else -1) * min(abs(tol), abs(size))


def walk(ended: Ended) -> int | None:
    """The tolerance the fills since ``ended`` leave, taken in the order they were made."""
    tol: int | None = ended.tolerated
    size = ended.base
    for _, _, move in sorted(ended.fills):
        size += move
        tol = cut(tol, size) if tol is not None else None
    return tol


def over(acct: AccountModel, cid: str) -> None:
    """The gateway's record ends the contract's tolerance (flat, or held the other way)."""
    acct.tolerated.pop(cid, None)
    acct.untolerated.pop(cid, None)


def forget(acct: AccountModel) -> None:
    """The account's tolerance is set or cleared afresh: what ended an earlier one is over."""
    acct.untolerated.clear()
