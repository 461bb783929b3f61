"""A position in a contract whose tick size and value are unknown: held a moment, then closed.

Without its contract's tick size and value a position cannot be valued, and no loss limit sees
what it loses. The engine knows them from the defaults by root and from what the gateway told
(`InstrumentInfo`): its whole contract list is read at start and at each daily reset, so a
listed contract is known before its first position comes. Closing every other position on
sight (as the service once did, the gateway asked only after the position had come) closed a
trader's first 6A or SI, roots with no defaults, the moment he opened it: a position the firm
allows, lost for a spread and fees, with a CRITICAL alert for the supervisor.

So a position in a contract still unknown is **held unpriced** (``acct.unpriced``: contract
-> deadline, the settle timeout after it was first seen): the gateway is asked
(`LearnInstrument`, its ``/Contract/searchById``). Meanwhile the position counts in every rule
that does not value it (contracts held, hours, blocks), and an account-wide breach closes it
as any other position. Then:

- the gateway tells its tick size and value: the position is valued, the hold ends and the
  account is judged again at once (its open P&L has just moved);
- the gateway has no such contract (`InstrumentMissing`), or says nothing by the deadline:
  the position is closed (fail closed, a CRITICAL ``UNKNOWN_INSTRUMENT`` alert);
- the position is gone first, or is being closed by a flatten: the hold ends.

The hold lives only in the running engine: a restart reads the contract list and the
positions again, and a position still unknown then is held anew.
"""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.effects import Alert, Effect, LearnInstrument, Level
from fsm_risk.core.events import InstrumentInfo, InstrumentWord
from fsm_risk.core.flatten import Flatten
from fsm_risk.core.models import AccountModel
from fsm_risk.core.reasons import Reason
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.states import State
from fsm_risk.core.valuation import Valuation


def closing(acct: AccountModel, cid: str) -> bool:
    """Whether a flatten is closing the whole position already (the account's, or the
    contract's to nothing). A reduce is not: what it leaves is still unpriced, and is held
    (a reduce of 5 to 3 let the hold go, and the 3 stayed open unvalued for good)."""
    if acct.state is State.Flattening:
        return True
    cm = acct.contracts.get(cid)
    return cm is not None and cm.state is State.Flattening and cm.target_size <= 0


class Unpriced:
    """The positions held unpriced, the gateway's answers, and the closes at the deadline."""

    def __init__(self, settings: EngineSettings, valuation: Valuation, flatten: Flatten) -> None:
        self.settings = settings
        self.valuation = valuation
        self.flatten = flatten
        #: the contracts the gateway said it has no such contract of, since last asked
        self.denied: set[str] = set()

    def hold(self, acct: AccountModel, cid: str, now: datetime, out: list[Effect]) -> None:
        """A position is open in ``cid``, whose tick size and value are unknown: hold it until
        the settle timeout and ask the gateway (once per hold: a record again keeps it)."""
        if cid in acct.unpriced or closing(acct, cid):
            return
        wait = self.settings.settle_timeout
        acct.unpriced[cid] = now + wait
        self.denied.discard(cid)
        out.append(LearnInstrument(cid))
        out.append(
            Alert(
                Level.WARNING,
                Reason.UNKNOWN_INSTRUMENT,
                f"position in {cid}: tick size and value unknown, asking the gateway; closed "
                f"unless it tells them within {wait.total_seconds():g} s (fail closed)",
                acct.account_id,
                cid,
            )
        )

    def told(self, word: InstrumentWord, now: datetime) -> tuple[AccountModel, ...]:
        """The gateway's word on a contract: its tick size and value (learned, its positions
        valued again) or no such contract (the positions held for it close now). Returns the
        accounts to judge again."""
        cid = word.contract_id
        holders = self.valuation.holding(cid)
        if isinstance(word, InstrumentInfo):
            self.valuation.instruments.learn(cid, word.tick_size, word.tick_value)
            self.valuation.relearn(cid)
            self.denied.discard(cid)
            return holders
        self.denied.add(cid)
        waiting = tuple(a for a in holders if cid in a.unpriced)
        for acct in waiting:
            acct.unpriced[cid] = now
        return waiting

    def due(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """End the account's holds that are over: valued or gone (nothing to do), or past
        their deadline (closed, fail closed)."""
        for cid, until in list(acct.unpriced.items()):
            pos = acct.positions.get(cid)
            if pos is None or self.valuation.instruments.get(cid) is not None or closing(acct, cid):
                del acct.unpriced[cid]
            elif now >= until:
                del acct.unpriced[cid]
                why = (
                    "the gateway has no such contract"
                    if cid in self.denied
                    else "the gateway did not tell them within "
                    f"{self.settings.settle_timeout.total_seconds():g} s"
                )
                self.flatten.unknown_instrument(acct, cid, now, out, why)
