"""What a person types for an account: its id or its name, or a refusal naming the choices.

Every command that takes an account (``status``, ``history``, ``transition``, ``lock``,
``diagram``, ``replay``) resolves it here, so a typo gets the same answer everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from fsm_risk.errors import FsmRiskError

#: how many accounts a refusal lists (the closest to what was typed when there are more)
SHOWN = 10


def account_id(text: str, accounts: Iterable[tuple[int, str]], *, where: str = "") -> int:
    """The account ``text`` names among ``accounts`` (id, name): an id, else a name, exactly
    (surrounding spaces ignored); else the one name equal to it ignoring case. Anything else,
    an ambiguous name included, is refused, naming the accounts. ``where``: where they were
    looked up, for the refusal (" in the journal")."""
    known = sorted(set(accounts))
    given = text.strip()
    for i, _ in known:
        if given == str(i):
            return i
    for matches in (
        [i for i, name in known if name == given],
        [i for i, name in known if name.casefold() == given.casefold()],
    ):
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise FsmRiskError(
                f"account '{text}' is ambiguous{where}: give its id "
                f"({choices([(i, n) for i, n in known if i in matches], given)})"
            )
    raise FsmRiskError(f"unknown account '{text}'{where} ({choices(known, given)})")


def choices(known: list[tuple[int, str]], given: str = "") -> str:
    """'one of: 1001 PAPER-1, 1002 PAPER-2', or the closest to ``given`` of many."""
    if not known:
        return "no account is known yet"
    labels = [f"{i} {name}".strip() for i, name in known]
    if len(labels) <= SHOWN:
        return "one of: " + ", ".join(labels)
    by_label = dict(zip(labels, known, strict=True))
    ids = [str(i) for i, _ in known]
    names = [name for _, name in known if name]
    near = difflib.get_close_matches(given, ids, n=SHOWN, cutoff=0.5)
    near += difflib.get_close_matches(given, names, n=SHOWN, cutoff=0.5)
    shown = [label for label, (i, name) in by_label.items() if str(i) in near or name in near]
    shown = (shown or labels)[:SHOWN]
    return f"the closest of {len(labels)}: {', '.join(shown)}"
