"""A live position record larger than the fills make, with no fill on its way: held, not acted on.

The gateway's user hub may send a position record again after the position moved on (a
replay, a record stale or out of order, one sent again across a reconnect). Long 5 MNQ
against a limit of 3, the service reduces to 3; the record "size 5" arrives again: taken as
the gateway's word, the rules would reduce 5 -> 3 once more and close 2 contracts the trader
may hold. So a live record the fills do not explain, one that holds more than they make (or
the other side), is **doubted** (``acct.doubted``): the position held stays as it is, no rule
and no reduce sees the record, and the account is read at once (`ReadAccount`). Then:

- a fill that brings the running size to it explains it: it is applied as it came;
- a newer live record replaces it; a read of the account is the truth (its positions are
  applied as read; a contract it does not list is not held);
- no read or fill within the settle timeout (the read failed, or is slow): fail closed, the
  record is applied as it came (the larger size).

What stays fast: a record ahead of its trade for an order already told filled (the gateway
sends the order's final record first: `fills_coming`), and the first record of a contract the
account's fills have never moved (nothing to be stale against: another account's first
position may arrive before its trade). A record smaller than the fills make is the other race
(closed at the gateway before its fills came: `settlement`'s ``expected`` and ``unsettled``).
"""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.effects import Alert, Effect, Level, ReadAccount
from fsm_risk.core.events import Fill, PositionType, PositionUpdate, Side
from fsm_risk.core.exposure import fills_coming
from fsm_risk.core.models import AccountModel
from fsm_risk.core.reasons import Reason


def unexplained(acct: AccountModel, ev: PositionUpdate, reported: int, now: datetime) -> bool:
    """Whether a live record of ``reported`` (signed) contracts holds more than the fills
    make, with none of its fills on their way, in a contract the fills have moved before;
    and is not the record held so until now, which no read confirmed in time (taken)."""
    cid = ev.contract_id
    net = acct.net.get(cid)
    if net is None or reported == 0 or fills_coming(acct, cid):
        return False
    held = acct.doubted.get(cid)
    if held is not None and held[0] == ev and now >= held[1]:
        return False  # fail closed: acted on as it came
    expected = acct.expected.get(cid)
    if expected is not None and expected[0] == reported:
        return False  # the gateway's word already, said again
    if reported * net >= 0 and abs(reported) - abs(net) <= abs(acct.undone.get(cid, 0)):
        return False  # a voided trade's contracts, back at the gateway
    return reported * net < 0 or abs(reported) > abs(net)


def undone(acct: AccountModel, ev: Fill) -> None:
    """A trade applied is voided: the gateway gives its position back as if it had never been
    made, a record the fills (which keep it) do not make. Its contracts explain it."""
    delta = ev.size if ev.side is Side.BUY else -ev.size
    acct.undone[ev.contract_id] = acct.undone.get(ev.contract_id, 0) - delta


def doubt(
    acct: AccountModel,
    ev: PositionUpdate,
    reported: int,
    until: datetime,
    out: list[Effect],
    since: datetime,
) -> None:
    """Hold ``ev`` until a read or a fill confirms it, or ``until``; ask for the read (once
    per record: the same record sent again keeps its first deadline)."""
    cid = ev.contract_id
    held = acct.doubted.get(cid)
    if held is not None and held[0].size == ev.size and held[0].type is ev.type:
        return
    acct.doubted[cid] = (ev, until, since)
    out.append(ReadAccount(acct.account_id, cid))
    out.append(
        Alert(
            Level.WARNING,
            Reason.POSITION_UNCONFIRMED,
            f"{cid}: the gateway reports {reported:+d}, the fills seen make "
            f"{acct.net.get(cid, 0):+d} and none is on its way (a record replayed or stale?): "
            "not acted on until a read of the account confirms it",
            acct.account_id,
            cid,
        )
    )


def not_listed(acct: AccountModel, listed: frozenset[str], began: datetime | None) -> None:
    """A read begun at ``began`` did not list these doubted contracts: the gateway does not
    hold them, the records held since before it began were stale. One that arrived while it
    ran is newer than the read, and stays held for its own read (asked when it came). (A
    read that does not say when it began drops them all.)"""
    for cid in set(acct.doubted) - listed:
        if began is None or acct.doubted[cid][2] <= began:
            del acct.doubted[cid]


def released(acct: AccountModel, now: datetime, out: list[Effect]) -> list[PositionUpdate]:
    """The records held that a fill has explained since (the fills' running size reached
    them), and those no read confirmed or denied by their deadline: failing closed, they are
    acted on as they came (the larger size), each with a warning."""
    out_of_doubt: list[PositionUpdate] = []
    for cid, (ev, until, _) in list(acct.doubted.items()):
        reported = ev.size if ev.type is PositionType.LONG else -ev.size
        if acct.net.get(cid, 0) == reported:
            del acct.doubted[cid]
            out_of_doubt.append(ev)
        elif now >= until:  # (it stays held until handled: `unexplained` then takes it)
            out_of_doubt.append(ev)
            out.append(
                Alert(
                    Level.WARNING,
                    Reason.POSITION_UNCONFIRMED,
                    f"{cid}: no read confirmed or denied the gateway's size {reported:+d} "
                    "in time: acting on it (fail closed)",
                    acct.account_id,
                    cid,
                )
            )
    return out_of_doubt
