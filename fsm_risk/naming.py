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
    known = sorted({(i, name or "") for i, name in accounts})
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
    labels = {f"{i} {name}".strip(): (str(i), name) for i, name in known}
    if len(labels) <= SHOWN:
        return "one of: " + ", ".join(labels)
    near = set(difflib.get_close_matches(given, [i for i, _ in labels.values()], SHOWN, 0.5))
    near |= set(difflib.get_close_matches(given, [n for _, n in labels.values() if n], SHOWN, 0.5))
    shown = [label for label, (i, name) in labels.items() if i in near or name in near]
    return f"the closest of {len(labels)}: {', '.join((shown or list(labels))[:SHOWN])}"


def group(accounts: Iterable[str], shared: bool) -> str:
    """The account group a service is, for what a shared database keeps per service (the
    settings in force, a held loosening, the control port, the warnings sent): its
    ``[general] accounts`` as configured, sorted ('1001,1002'). '' on SQLite (one service per
    file) and for a service of every active account: the database's own keys, as before."""
    if not shared:
        return ""
    return ",".join(sorted({a.strip() for a in accounts if a.strip()}))


def scoped(key: str, group: str) -> str:
    """``key`` as kept for the account group ``group`` ('' : the database's own key)."""
    return f"{key}@{group}" if group else key


def covers(group: str, stored: Iterable[tuple[int, str]]) -> bool:
    """Whether every account of ``group`` is among ``stored`` (id, name), by id or by name
    (ignoring case): the accounts a record written before groups existed may be for."""
    pairs = list(stored)
    known = {str(i) for i, _ in pairs} | {n.casefold() for _, n in pairs if n}
    return bool(group) and all(a in known or a.casefold() in known for a in group.split(","))
