"""A stored record of the rules in force read by a version whose parser is stricter.

A record written by an earlier version may hold a value this one refuses (a time zone named
``posix/America/Chicago``, ``localtime`` or ``EST``, all accepted once). Dropping the record
would make the file in force at once, so a looser value edited in with the fix (a daily loss
limit raised from $500 to $5,000) would apply mid-day instead of at the daily reset. Instead
each refused value is read as what it meant (a zone's own name, see `schema.timezone_meant`)
or, where no one meaning is sure, as the file's value of the same key; every other key of the
record stays in force and is compared with the file as usual. Each value so read is said.
"""

from __future__ import annotations

from collections.abc import Mapping

from fsm_risk import config, schema
from fsm_risk.config import RULE_PREFIX, Settings
from fsm_risk.errors import Problem, SettingsError

Raw = dict[str, dict[str, str]]


def readable(file: Settings, raw: Mapping[str, Mapping[str, str]]) -> tuple[Settings, list[str]]:
    """The rules in force that the stored ``raw`` holds, beside ``file``, and one line per
    refused value read otherwise (none when the record parses as stored). Never raises on a
    record: each round replaces only the values refused, by their meaning or the file's, and
    the file's own sections parse, so it ends at the latest with the file's sections."""
    fixed: Raw = {n: dict(r) for n, r in raw.items()}
    notes: list[str] = []
    for _ in range(1 + sum(len(r) for r in fixed.values()) + len(fixed)):
        try:
            return config.with_rules(file, fixed), notes
        except SettingsError as exc:
            problems = exc.problems
        for p in problems:
            notes.append(_repair(file, fixed, p))
    return config.with_rules(file, _files(file, fixed)), notes


def _repair(file: Settings, fixed: Raw, p: Problem) -> str:
    """Reads one refused value of ``fixed`` otherwise (in place); the line that says so."""
    name = (p.section or "").removeprefix(RULE_PREFIX)
    section = fixed.get(name)
    theirs = file.raw_rules.get(name)
    where = f"[{RULE_PREFIX}{name}]"
    if section is None or p.key is None:
        if theirs is None:
            fixed.pop(name, None)
        else:
            fixed[name] = dict(theirs)
        return f"{where} as stored is refused now ({p.reason}): read as the file's"
    old = section.get(p.key)
    meant = None if old is None else schema.timezone_meant(old)
    new = meant if meant is not None else (theirs or {}).get(p.key)
    if new is None:
        section.pop(p.key, None)
    else:
        section[p.key] = new
    was = "missing" if old is None else f"'{old}'"
    read = f"'{new}'" if new is not None else "its default"
    how = "what it meant" if meant is not None else "the file's"
    return f"{where} {p.key} = {was} as stored is refused now: read as {how}, {read}"


def _files(file: Settings, fixed: Raw) -> Raw:
    """The file's sections for every rule of ``fixed`` that still does not parse."""
    out: Raw = {}
    for name, section in fixed.items():
        try:
            config.with_rules(file, {name: section})
            out[name] = section
        except SettingsError:
            if name in file.raw_rules:
                out[name] = dict(file.raw_rules[name])
    return out
