"""An account that starts with no stored state while the gateway shows it traded this week.

The database is where the locks, the admin's waivers, the trailing peak and the audit log live.
An account the service has never seen has none of them, and that is right for a new account.
One whose trades this week the gateway lists has had a week the database should hold: the
database was lost, deleted or replaced (`[general] database` pointed at a new file), and with it
every lock that is not rebuilt from the trades (a cooldown, a lock the trader placed, an admin's
lock), the peak the trailing drawdown was measured from and the audit of the week. The trades
rebuild the P&L, nothing more. This is not something a service may shrug at: it is a CRITICAL
alert, kept in the database and shown until the week it concerns has ended, and a database in
this state takes no first admin secret without an explicit take-over (see the CLI).

The check is stored too: the commit that first stores such an account writes a pending row
(`PENDING_PREFIX`), removed once the check is decided at the first complete read of its trades,
in that run or a later one (a first start whose reads failed, stopped and started again, must
not leave the account stored and unchecked). While it is pending, a first admin secret is
refused as with a note. A secret the database already holds when a note is written may be
the trader's (set on the new file before the service ever opened it): it is not trusted
(`UNTRUSTED_KEY`) for any transition or unlock until it is replaced with a take-over.

A take-over is an admin action like any other: it is kept (`TakeOver`, under `TAKEN_OVER_KEY`)
and written to the audit log, one entry per account the database holds (`take_over_audit`),
and `status` says the secret was taken over, by whom and when, instead of "not trusted".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.core.effects import AuditEntry
from fsm_risk.core.models import AccountModel
from fsm_risk.core.states import State

#: the key prefix the notes are kept under in the store's meta table (one per account)
META_PREFIX = "lost_state:"
#: the key prefix of the pending checks (one per account stored with no state, until decided)
PENDING_PREFIX = "lost_pending:"
#: the meta key set while the admin secret held when a note was written is not trusted
UNTRUSTED_KEY = "admin_secret_untrusted"
#: the meta key of the last take-over of the admin secret (`TakeOver`)
TAKEN_OVER_KEY = "admin_secret_taken_over"
#: the audit trigger of a take-over (no state changes)
TAKE_OVER = "take_over"


@dataclass(frozen=True)
class LostState:
    """What the start found: ``trades`` this week by the gateway's list, the week's and the
    day's realized P&L rebuilt from them; shown until ``until`` (the week's end)."""

    account_id: int
    at: datetime
    week_start: datetime
    until: datetime
    trades: int
    week_net: Decimal
    day_net: Decimal
    #: the database held an admin secret when the note was written: it is not trusted
    secret_held: bool = False

    @property
    def secret_text(self) -> str:
        if self.secret_held:
            return (
                "the admin secret this database already held may not be the admin's: it is "
                "not trusted for any transition or unlock until 'fsm-risk admin set-secret "
                "--take-over'"
            )
        return "an admin secret set since may not be the admin's"

    @property
    def text(self) -> str:
        return (
            f"account {self.account_id} started with no stored state, but the gateway lists "
            f"{self.trades} trade(s) this week (week {self.week_net:+.2f}, day "
            f"{self.day_net:+.2f}): its database was lost or replaced. Lost with it: any lock "
            "not rebuilt from the trades, the admin's waivers, the trailing drawdown's peak "
            f"and the audit log before now; {self.secret_text}. The admin must check"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "at": self.at.isoformat(),
            "week_start": self.week_start.isoformat(),
            "until": self.until.isoformat(),
            "trades": self.trades,
            "week_net": str(self.week_net),
            "day_net": str(self.day_net),
            "secret_held": self.secret_held,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LostState:
        return cls(
            account_id=int(d["account_id"]),
            at=datetime.fromisoformat(d["at"]),
            week_start=datetime.fromisoformat(d["week_start"]),
            until=datetime.fromisoformat(d["until"]),
            trades=int(d["trades"]),
            week_net=Decimal(d["week_net"]),
            day_net=Decimal(d["day_net"]),
            secret_held=bool(d.get("secret_held", False)),
        )


def lost_state(
    acct: AccountModel, now: datetime, secret_held: bool = False, first: datetime | None = None
) -> LostState | None:
    """For an account started with no stored state, once its trades since the week began are
    read: the note when the gateway listed any this week (None: a new account, or one that has
    not traded this week, loses nothing a lock could hold). ``secret_held``: the database holds
    an admin secret now (not trusted once the note is written). ``first``: when the service
    first started on it with no state; a trade since was made under its watch (a start that
    died before its first read was decided leaves it to the next), and tells of no loss."""
    if acct.behind is not None:
        raise ValueError(f"account {acct.account_id}: its trades are not read yet")
    week = acct.seen_trades.since(acct.week.start)
    if first is not None:  # (one stamped at that very instant is counted: the safe side)
        week -= acct.seen_trades.since(first + timedelta(microseconds=1))
    trades = len(week)
    if not trades and (first is not None or (not acct.week.realized and not acct.week.fees)):
        return None
    return LostState(
        account_id=acct.account_id,
        at=now,
        week_start=acct.week.start,
        until=acct.week.end,
        trades=trades,
        week_net=acct.week.realized,
        day_net=acct.day.realized,
        secret_held=secret_held,
    )


def shown(note: LostState, now: datetime) -> bool:
    """Shown (and a first admin secret refused) until the week it concerns has ended."""
    return now < note.until


@dataclass(frozen=True)
class TakeOver:
    """`fsm-risk admin set-secret --take-over` on a database whose state was lost, ``at``, by
    ``by``: the secret it held ``replaced`` (not trusted), or the first one set; ``why``: the
    lost states it was taken over on."""

    at: datetime
    by: str
    replaced: bool
    why: str

    @property
    def text(self) -> str:
        done = "replaced" if self.replaced else "first set"
        return f"admin secret {done} with --take-over (the database's state was lost: {self.why})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "by": self.by,
            "replaced": self.replaced,
            "why": self.why,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TakeOver:
        return cls(
            datetime.fromisoformat(d["at"]), str(d["by"]), bool(d["replaced"]), str(d["why"])
        )


def read_take_over(raw: str | None) -> TakeOver | None:
    """The take-over stored under `TAKEN_OVER_KEY` (None: none, or an unreadable row)."""
    if not raw:
        return None
    try:
        return TakeOver.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None


def take_over_audit(take: TakeOver, states: Iterable[tuple[int, State]]) -> list[AuditEntry]:
    """The audit entries of ``take``: one for each account the database holds (id, state), its
    state unchanged (the secret is every account's)."""
    return [
        AuditEntry(take.at, account_id, None, state, state, TAKE_OVER, None, take.text, take.by)
        for account_id, state in states
    ]


def lost_view(note: LostState, take: TakeOver | None, anchored: bool = False) -> dict[str, Any]:
    """A note as `status` shows it: with the take-over made since it was written, if any (the
    secret it did not trust is then the one the admin set); ``anchored``: the admin secret is
    the settings' anchor (`fsm_risk.anchor`), trusted whatever the database holds."""
    since = take if take is not None and take.at >= note.at else None
    taken = since.to_dict() if since else None
    return {**note.to_dict(), "secret_taken_over": taken, "secret_anchored": anchored}
