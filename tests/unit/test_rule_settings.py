"""Every rule's settings, said once: a bad value is refused with one line naming the file's
section and key and why; an unknown key is refused; the defaults build a rule whose outcome
the diagrams' legend can draw. The per-rule cases below replace the copies that each rule's
test file used to carry."""

from __future__ import annotations

import pytest

from fsm_risk.config import build_rule, default_context
from fsm_risk.errors import SettingsError
from fsm_risk.rules import ALL_RULES, BY_NAME
from fsm_risk.rules.base import Action, Outcome, Rule
from tests.factories import make_engine

#: rule name -> (raw settings, the key named, why); raw values that a rule refuses.
BAD: dict[str, list[tuple[dict[str, str], str, str]]] = {
    "max_contracts": [
        ({"limit": "0"}, "limit", "at least 1"),
        ({"count": "x"}, "count", "gross, net"),
    ],
    "max_contracts_per_instrument": [
        ({"default_limit": "0"}, "default_limit", "at least 1"),
        ({"unknown": "x"}, "unknown", "one of default, allow, block"),
        ({"limits": "MNQ 4"}, "limits", "'name: value' pairs"),
        ({"limits": "MNQ: 0"}, "limits", "at least 1"),
    ],
    "daily_loss_limit": [({"limit": v}, "limit", "") for v in ("-5", "0", "abc", "10.001")]
    + [({"basis": "net"}, "basis", "must be one of")],
    "trailing_drawdown": [
        ({"drawdown": "-5"}, "drawdown", "must be a positive amount"),
        ({"drawdown": "0"}, "drawdown", "must be a positive amount"),
        ({"drawdown": "2k"}, "drawdown", "must be an amount"),
        ({"mode": "weekly"}, "mode", "must be one of intraday, end_of_day"),
        ({"starting_balance": "-50000"}, "starting_balance", "must be a positive amount"),
        ({"starting_balance": "50000.001"}, "starting_balance", "must be a whole number"),
        (
            {"drawdown": "2000", "starting_balance": "1500"},
            "starting_balance",
            "must be above the drawdown of 2000",
        ),
        ({"freeze_at_start": "sometimes"}, "freeze_at_start", "must be true or false"),
        ({"lock": "Cooldown"}, "lock", "must be one of lockedweekly, lockeddaily"),
    ],
    "daily_profit_target": [
        ({"target": v}, "target", "must be") for v in ("-5", "0", "abc", "10.001", "nan")
    ]
    + [({"basis": "gross"}, "basis", "must be one of")],
    "trading_hours": [
        ({"windows": "Mon 09:00-09:00"}, "windows", "is empty"),
        ({"windows": "Mon-Fri 08:00-16:00, Mon 15:00-17:00"}, "windows", "overlap"),
        ({"windows": "Sun-Thu 17:00-16:00, Tue 16:30-17:30"}, "windows", "overlap"),
        # Sunday's session runs into Monday: compared across the end of the week
        ({"windows": "Mon 09:00-10:00, Sun 17:00-16:00"}, "windows", "overlap"),
        ({"windows": "Mon 25:00-26:00"}, "windows", "between 00:00 and 23:59"),
        ({"windows": "Funday 09:00-10:00"}, "windows", "weekday"),
        ({"windows": "Mon 9-10"}, "windows", "days and times"),
        ({"windows": ""}, "windows", "at least one window"),
        ({"flat_by": "15:61"}, "flat_by", "between 00:00 and 23:59"),
        ({"windows": "Mon-Fri 08:30-15:00"}, "flat_by", "outside the window 'Mon 08:30-15:00'"),
        ({"windows": "Sun-Thu 17:00-16:00", "flat_by": "16:30"}, "flat_by", "outside"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"exchange_calendar": "NOPE"}, "exchange_calendar", "unknown exchange calendar"),
        ({"extra_holidays": "2026-13-01"}, "extra_holidays", "YYYY-MM-DD"),
        ({"early_closes": "2026-12-31"}, "early_closes", "a date and a time"),
        (
            {"extra_holidays": "2026-12-31", "early_closes": "2026-12-31 12:00"},
            "early_closes",
            "also listed in extra_holidays",
        ),
        ({"early_close_lead_minutes": "-1"}, "early_close_lead_minutes", "at least 0"),
    ],
    "max_trades_per_day": [
        ({"limit": "0"}, "limit", ""),
        ({"limit": "-3"}, "limit", ""),
        ({"limit": "ten"}, "limit", ""),
        ({"count": "orders"}, "count", ""),
        ({"flatten_existing": "maybe"}, "flatten_existing", ""),
    ],
    "trade_cooldown": [
        ({"tiers": ""}, "tiers", "at least one"),
        ({"tiers": "250: 30, 100: 15"}, "tiers", "smallest loss first"),
        ({"tiers": "100: 30, 250: 15"}, "tiers", "cool down for longer"),
        ({"tiers": "100: 15, 250: 15"}, "tiers", "cool down for longer"),
        ({"tiers": "100: 15, 100: 30"}, "tiers", "twice"),
        ({"tiers": "-100: 15"}, "tiers", "positive amount"),
        ({"tiers": "100: 0"}, "tiers", "at least 1"),
        ({"tiers": "100: 1441"}, "tiers", "at most 1440"),
        ({"tiers": "100.001: 15"}, "tiers", "whole number of cents"),
        ({"tiers": "100 15"}, "tiers", "name: value"),
        ({"basis": "weekly"}, "basis", "one of"),
    ],
    "position_hold_time": [
        ({"limit_minutes": v}, "limit_minutes", "") for v in ("0", "-5", "abc", "1.5", "20000")
    ],
    "rapid_fire": [
        ({"windows": ""}, "windows", "at least one"),
        ({"windows": "3600: 12, 60: 3"}, "windows", "shortest window first"),
        ({"windows": "session: 30, 60: 3"}, "windows", "shortest window first"),
        ({"windows": "60: 3, 3600: 3"}, "windows", "allow more entries"),
        ({"windows": "60: 3, minute: 5"}, "windows", "twice"),
        ({"windows": "0: 3"}, "windows", "1 to 86400 seconds"),
        ({"windows": "90000: 3"}, "windows", "1 to 86400 seconds"),
        ({"windows": "fortnight: 3"}, "windows", "minute, hour, session"),
        ({"windows": "60: 0"}, "windows", "at least 1"),
        ({"windows": "60 3"}, "windows", "name: value"),
    ],
    "max_consecutive_losses": [
        ({"losses": "0"}, "losses", ""),
        ({"losses": "three"}, "losses", ""),
        ({"lock": "weekly"}, "lock", ""),
        ({"cooldown_minutes": "0"}, "cooldown_minutes", ""),
        ({"cooldown_minutes": "1441"}, "cooldown_minutes", ""),
        ({"breakeven": "maybe"}, "breakeven", ""),
        ({"breakeven_within": "-1"}, "breakeven_within", ""),
        ({"breakeven_within": "0.001"}, "breakeven_within", ""),
    ],
    "revenge_trading": [
        ({"loss": "0"}, "loss", ""),
        ({"loss": "-100"}, "loss", ""),
        ({"seconds": "0"}, "seconds", ""),
        ({"seconds": "soon"}, "seconds", ""),
        ({"seconds": "86401"}, "seconds", ""),
        ({"mode": "any"}, "mode", ""),
        ({"multiplier": "0.5"}, "multiplier", ""),
        ({"multiplier": "101"}, "multiplier", ""),
        ({"multiplier": "double"}, "multiplier", ""),
        ({"cooldown_minutes": "0"}, "cooldown_minutes", ""),
    ],
    "weekly_loss_limit": [
        ({"limit": v}, "limit", "must be") for v in ("-5", "0", "abc", "10.001", "inf")
    ]
    + [({"basis": "net"}, "basis", "must be one of")],
    "position_stop_loss": [
        ({"limit": "-5"}, "limit", ""),
        ({"limit": "0"}, "limit", ""),
        ({"limit": "ten"}, "limit", ""),
        ({"limit": "1.005"}, "limit", ""),
        ({"limits": "NQ: -5"}, "limits", ""),
        ({"limits": "NQ 500"}, "limits", ""),
        ({"limits": "N@Q: 500"}, "limits", ""),
        ({"limits": "NQ: 500, nq: 400"}, "limits", ""),
    ],
    "position_take_profit": [
        ({"target": "-5"}, "target", ""),
        ({"target": "0"}, "target", ""),
        ({"target": "lots"}, "target", ""),
        ({"targets": "NQ: 0"}, "targets", ""),
        ({"targets": "NQ=500"}, "targets", ""),
    ],
    "stop_loss_required": [
        ({"grace_seconds": "0"}, "grace_seconds", ""),
        ({"grace_seconds": "-5"}, "grace_seconds", ""),
        ({"grace_seconds": "abc"}, "grace_seconds", ""),
        ({"grace_seconds": "5000"}, "grace_seconds", ""),
        ({"count_profit_stops": "maybe"}, "count_profit_stops", ""),
    ],
    "symbol_block": [
        ({"roots": v}, "roots", "") for v in ("C L", "CL;", "$$", "ABCDEFGHIJKLM", "CL,,GC")
    ],
    "trading_permission": [
        ({"lock": "Cooldown"}, "lock", "must be"),
        ({"lock": "Trading"}, "lock", "must be"),
        ({"flatten": "maybe"}, "flatten", "must be"),
    ],
}

CASES = [
    pytest.param(name, raw, key, why, id=f"{name}-{key}-{i}")
    for name, cases in BAD.items()
    for i, (raw, key, why) in enumerate(cases)
]


@pytest.mark.parametrize(("name", "raw", "key", "why"), CASES)
def test_a_bad_value_is_refused_naming_section_key_and_why(
    name: str, raw: dict[str, str], key: str, why: str
) -> None:
    with pytest.raises(SettingsError) as err:
        make_engine({BY_NAME[name]: raw})
    (line,) = str(err.value).splitlines()
    assert f"[rule.{name}] {key}: " in line
    assert why in line.split(f"{key}: ", 1)[1]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_every_key_of_every_rule_refuses_nonsense_by_name(rule: type[Rule]) -> None:
    for field in rule.fields:
        with pytest.raises(SettingsError) as err:
            build_rule(rule, default_context(), {field.key: "@@ nonsense"}, file="s.ini")
        assert f"s.ini: [rule.{rule.name}] {field.key}: " in str(err.value), field.key


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_an_unknown_key_is_refused(rule: type[Rule]) -> None:
    with pytest.raises(SettingsError, match=rf"\[rule\.{rule.name}\] no_such_key: unknown key"):
        build_rule(rule, default_context(), {"no_such_key": "1"})


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_the_defaults_build_and_say_what_the_rule_does(rule: type[Rule]) -> None:
    built = build_rule(rule, default_context())
    outcome = rule.outcome(built.config)
    assert isinstance(outcome, Outcome) and outcome.action is not Action.RELEASE


def test_every_rule_has_its_own_bad_cases() -> None:
    assert set(BAD) == {r.name for r in ALL_RULES}
