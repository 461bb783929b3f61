"""Why something happened: one enum of codes, each with a one-line description.

Breaches are data, not exceptions: a rule's verdict, a transition and an alert all carry one of
these codes, and the audit log stores the code next to a human detail line.
"""

from __future__ import annotations

from enum import Enum


class Reason(Enum):
    # --- rules --------------------------------------------------------------------------
    MAX_CONTRACTS = "open contracts across the account exceed the limit"
    MAX_CONTRACTS_PER_INSTRUMENT = "one symbol root's size exceeds its limit"
    UNKNOWN_ROOT_BLOCKED = "a position in a root with no configured limit (policy: block)"
    DAILY_LOSS_LIMIT = "the trading day's net P&L touched the daily loss limit"
    TRAILING_DRAWDOWN = "equity touched the trailing drawdown floor"
    DAILY_PROFIT_TARGET = "the trading day's net P&L touched the daily profit target"
    OUTSIDE_TRADING_HOURS = "a position or working order outside the allowed trading windows"
    FLAT_BY = "past the flat-by time before the session end"
    HOLIDAY = "a position or working order on an exchange holiday"
    MAX_TRADES_PER_DAY = "the trader's entries this trading day exceed the limit"
    TRADE_COOLDOWN = "a closing trade lost at least a cooldown tier's threshold"
    POSITION_HOLD_TIME = "a position has been open longer than the hold-time limit"
    RAPID_FIRE = "too many entries within a rolling window"
    MAX_CONSECUTIVE_LOSSES = "too many losing round trips in a row this trading day"
    REVENGE_TRADING = "an oversized re-entry shortly after a loss"
    WEEKLY_LOSS_LIMIT = "the trading week's net P&L touched the weekly loss limit"
    POSITION_STOP_LOSS = "one position's unrealized P&L touched its stop-loss limit"
    POSITION_TAKE_PROFIT = "one position's unrealized P&L touched its take-profit target"
    STOP_LOSS_REQUIRED = "a position has no protective stop order after the grace period"
    SYMBOL_BLOCKED = "an order or position in a blocked symbol root"
    SYMBOL_UNBLOCKED = "the symbol root is no longer blocked"
    TRADING_PERMISSION = "the gateway reports the account cannot trade"
    TRADING_PERMISSION_RESTORED = "the gateway reports the account can trade again"
    # --- enforcement and the engine ------------------------------------------------------
    POSITION_WHILE_LOCKED = "a position appeared or grew while locked: closed on sight"
    ORDER_WHILE_LOCKED = "an order that would open or increase exposure while locked"
    FLAT_CONFIRMED = "the broker confirms no open position and no working order in scope"
    LOCK_EXPIRED = "the lock's deadline passed"
    ADMIN_OVERRIDE = "an authenticated admin forced the transition"
    UNKNOWN_INSTRUMENT = "a position in a contract whose tick size and value are unknown"
    FAILSAFE = "an unexpected error while handling the account: failing closed"
    CLOSE_NOT_CONFIRMED = "a close order was not confirmed in time: re-sent if the gateway says so"
    CLOSE_FAILING = "repeated close orders have not flattened the position"
    CLOSE_REJECTED = "the gateway rejected a close, cancel or resize request"
    OVERTAKEN = (
        "a close or cancel refused because the gateway had already finished what it was for, "
        "or a close not sent because it was no longer wanted when its turn came"
    )
    CANCEL_NOT_CONFIRMED = "a cancel was not confirmed in time: re-sent"
    CLOSE_WITHDRAWN = (
        "our close still working would take the position past its target (the trader's own "
        "exit got there first): cancelled before it fills"
    )
    CLOSE_OVERSHOT = (
        "our close filled beside the trader's own exit and opened contracts on the other side: "
        "what it opened is closed at once"
    )
    CLOSE_DELIVERED_LATE = (
        "a close of ours given up on (no answer, the gateway read without it, sent again) "
        "was delivered late and filled: the position went below its target"
    )
    EXIT_NOT_FILLED = (
        "a market order closing the position (the trader's exit, the platform's) still working "
        "at the gateway a close timeout after it began holding our close back: cancelled, and "
        "our close goes once the cancel is confirmed"
    )
    ORDER_RESIZED = (
        "a working order of the trader's on the closing side that our reduce left larger "
        "than the position (alone, or with the other parts of an exit): resized to what "
        "remains, or cancelled when nothing remains for it, so it cannot reverse the position"
    )
    ORDER_RESTORED = (
        "a working order of the trader's we resized for a reduce that did not reduce (refused, "
        "cancelled, short): given back its size, up to what the position holds"
    )
    POSITION_WITHOUT_FILLS = (
        "the gateway's position was not explained by fills in time: taken as is"
    )
    POSITION_UNCONFIRMED = (
        "a live position record holds more than the fills make, with none on its way (a "
        "record replayed or stale): not acted on until a read of the account confirms it"
    )
    POSITION_SETTLED = (
        "the gateway removed a position without a fill (cash settlement at expiry, a forced "
        "removal) and a read confirmed the balance's move: booked as its realized P&L"
    )
    REALIZED_REBUILT = "the day's or week's realized P&L disagreed with the gateway's trades"
    ACCOUNT_RESET = (
        "the firm appears to have reset the account at the gateway (its trades wiped, its "
        "balance set): told, for a person to check, and the trade list asked for again"
    )
    ACCOUNT_RESET_CONFIRMED = (
        "the trade list asked for again lists none of the trades wiped: the firm's reset is "
        "confirmed, a wiped profit taken off the books (never a loss); rules and locks kept"
    )
    ACCOUNT_RESET_REFUTED = (
        "the trade list asked for again lists the trades the first lacked: no reset (that list "
        "was cut short, empty for a moment or stale), the books kept"
    )
    PNL_COMPUTED = (
        "a closing trade record came without its P&L: computed from the average entry of the "
        "contracts it closed until the gateway's own figure replaces it"
    )
    BALANCE_UNCONFIRMED = (
        "a balance update moved the balance by what no fill explains: left out of equity "
        "until a read of the account confirms it"
    )
    RULE_DISABLED = "the rule that placed a hold without deadline is no longer configured"
    FEED_BLIND = "records of one kind are being refused repeatedly: the feed is blind to them"
    STATE_DIVERGED = "the periodic REST read found positions or orders the live feed missed"
    READ_INCOMPLETE = (
        "a REST read listed a position or order the service refused: the read is not used"
    )
    STATE_NOT_SAVED = (
        "the database refuses writes: enforcement goes on from memory, the state is not saved"
    )
    STATE_SAVED_AGAIN = "the database takes writes again: the state held in memory is saved"
    STATE_LOST = (
        "an account started with no stored state although it traded this week: the database "
        "was lost or replaced, with its locks, peak and audit"
    )
    SELF_LOCK = "the trader locked their own account"
    SETTINGS_TIGHTENED = "the settings file was reloaded: stricter values apply at once"
    SETTINGS_LOOSENED = "looser settings held since the reload apply from this daily reset"

    @property
    def code(self) -> str:
        return self.name

    @property
    def description(self) -> str:
        return self.value
