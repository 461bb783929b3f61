"""Effects: what the engine asks the shell to do. The shell commits the state (and the audit
records) first, then executes the broker effects in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State


@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Close the whole position in one contract (the gateway's closeContract). ``seq``: the
    close's number (the account's count of closes), given back with the gateway's answer: an
    answer late from the close before is never taken for this one's."""

    account_id: int
    contract_id: str
    reason: Reason
    rule_id: str | None
    attempt: int = 1
    seq: int = 0


@dataclass(frozen=True, slots=True)
class ReducePosition:
    """Close ``size`` contracts of the position (the gateway's partialCloseContract);
    ``seq`` as `ClosePosition`'s."""

    account_id: int
    contract_id: str
    size: int
    reason: Reason
    rule_id: str | None
    attempt: int = 1
    seq: int = 0


@dataclass(frozen=True, slots=True)
class CancelOrder:
    account_id: int
    order_id: int
    contract_id: str
    reason: Reason
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class ResizeOrder:
    """Resize a working order of the trader's to ``size`` (the gateway's order modify, its
    prices unchanged): our reduce left it larger than the position (see `brackets`).
    ``size`` is the order's new total, as the gateway reads a modify's size: ``filled``
    (its contracts filled already) and the part left to fill. ``was``: its size before;
    ``label``: what it is ("sell stop"), for the log."""

    account_id: int
    order_id: int
    contract_id: str
    size: int
    was: int
    label: str
    rule_id: str | None
    reason: Reason
    filled: int = 0


class Level(Enum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True, slots=True)
class Alert:
    level: Level
    reason: Reason
    message: str
    account_id: int | None = None
    contract_id: str | None = None


@dataclass(frozen=True, slots=True)
class WatchContract:
    """Quotes of this contract are needed (``on``) or no longer needed by any account."""

    contract_id: str
    on: bool


@dataclass(frozen=True, slots=True)
class ReadAccount:
    """Read the account's positions, working orders and trades from the gateway and apply
    them (a reconciliation): the close of ``contract_id`` timed out unheard of, and the next
    one is sized from what the gateway says, never from the position last heard; or a live
    record of ``contract_id`` holds more than the fills make (see `doubted`)."""

    account_id: int
    contract_id: str


@dataclass(frozen=True, slots=True)
class LearnInstrument:
    """Ask the gateway for a contract's tick size and value (``/Contract/searchById``): a
    position in it waits for the answer (see `core.unpriced`); the shell hands it back as
    `InstrumentInfo`, or `InstrumentMissing` when the gateway has no such contract."""

    contract_id: str


@dataclass(frozen=True, slots=True)
class ReadResetPrices:
    """Read the gateway's price at a reset (``at``) of each contract (``contract_id``) ``wanted``:
    a position held across a live reset that the engine learned of only after it (see
    `core.uncarried`); the shell hands them back as `PricesAtReset`, always (a price it could
    not read left out)."""

    account_id: int
    wanted: tuple[tuple[datetime, str], ...]


@dataclass(frozen=True, slots=True)
class ReadBalance:
    """Read the account (a reconciliation, applied: its trades, then its balance from one
    ``/Account/search`` shared by the reads under way, then its positions): a balance update
    moved the balance by what no fill explains, and that move counts in no rule (it is left
    out of equity both ways) until this read's balance, the truth, confirms or corrects it."""

    account_id: int


@dataclass(frozen=True, slots=True)
class ReadTrades:
    """Read the account's trades (a reconciliation, applied): a closing trade record came
    without its P&L, booked as computed until the gateway's own figure replaces it; or a
    position was found gone without a fill by a read with no balance to settle it; or a
    voided win's give-back waits on its word (`Rule.on_void`)."""

    account_id: int


@dataclass(frozen=True, slots=True)
class ConfirmReset:
    """Read the account's trade list over [since, until] alone (one `/Trade/search` in the
    request budget): a read's list looked wiped by a firm's reset, ``until`` a second after
    the newest trade it lacks. Handed back as a `TradesSnapshot` with that ``until`` (see
    `core.firm_reset`); a read that fails confirms nothing."""

    account_id: int
    since: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    account_id: int
    contract_id: str | None
    from_state: State
    to_state: State
    trigger: str
    rule_id: str | None
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class RecordTransition:
    entry: AuditEntry


BrokerEffect = ClosePosition | ReducePosition | CancelOrder | ResizeOrder


@dataclass(frozen=True, slots=True)
class SettingsApplied:
    """Staged rules took effect at ``at`` (the shell records them as the settings in force)."""

    at: datetime
    detail: str


Effect = (
    ClosePosition
    | ReducePosition
    | CancelOrder
    | ResizeOrder
    | Alert
    | WatchContract
    | LearnInstrument
    | ReadResetPrices
    | ReadAccount
    | ReadBalance
    | ReadTrades
    | ConfirmReset
    | RecordTransition
    | SettingsApplied
)
