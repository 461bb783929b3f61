"""Settings that tighten apply at once, settings that loosen wait: each rule's comparison of a
changed key, and the plan that splits a changed file into "now" and "at the reset"."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from fsm_risk import config, reload
from fsm_risk.rules import ALL_RULES, BY_NAME
from fsm_risk.rules.exchange_hours import parse_windows
from fsm_risk.rules.tighter import tightens


def stricter(rule: str, key: str, old: str, new: str) -> bool:
    """Parse both values as the rule's field does, then ask the rule's comparison."""
    cls = BY_NAME[rule]
    [field] = [f for f in cls.fields if f.key == key]
    return tightens(cls.tighter, key, field.parse(old), field.parse(new))


# (rule, key, old, new) where new is stricter; the reverse change must be a loosening
STRICTER = [
    ("max_contracts", "limit", "5", "3"),
    ("max_contracts", "count", "net", "gross"),
    ("max_contracts", "action", "reduce", "flatten"),
    ("max_contracts_per_instrument", "limits", "MNQ: 5, NQ: 2", "MNQ: 4, NQ: 2"),
    ("max_contracts_per_instrument", "default_limit", "3", "2"),
    ("max_contracts_per_instrument", "unknown", "default", "block"),
    ("daily_loss_limit", "limit", "1000", "500"),
    ("trailing_drawdown", "drawdown", "2000", "1500"),
    ("trailing_drawdown", "mode", "end_of_day", "intraday"),
    ("trailing_drawdown", "freeze_at_start", "true", "false"),
    ("trailing_drawdown", "lock", "LockedDaily", "LockedWeekly"),
    ("daily_profit_target", "target", "1500", "1000"),
    ("trading_hours", "windows", "Mon-Fri 08:00-16:00", "Mon-Fri 09:00-15:00"),
    ("trading_hours", "windows", "Sun-Thu 17:00-16:00", "Mon-Thu 17:00-15:00"),
    ("trading_hours", "flat_by", "none", "15:00"),
    ("trading_hours", "flat_by", "15:08", "14:30"),
    ("trading_hours", "extra_holidays", "2026-11-26", "2026-11-26, 2026-11-27"),
    ("trading_hours", "early_close_lead_minutes", "7", "15"),
    ("max_trades_per_day", "limit", "10", "6"),
    ("max_trades_per_day", "count", "round_trips", "entries"),
    ("max_trades_per_day", "flatten_existing", "false", "true"),
    ("trade_cooldown", "tiers", "100: 15, 250: 30", "100: 20, 250: 30"),
    ("trade_cooldown", "tiers", "100: 15, 250: 30", "50: 5, 100: 15, 250: 30"),
    ("position_hold_time", "limit_minutes", "240", "60"),
    ("rapid_fire", "windows", "60: 3", "60: 2"),
    ("rapid_fire", "windows", "60: 3", "60: 3, 3600: 8"),
    ("max_consecutive_losses", "losses", "3", "2"),
    ("max_consecutive_losses", "cooldown_minutes", "60", "90"),
    ("revenge_trading", "loss", "100", "50"),
    ("revenge_trading", "seconds", "300", "600"),
    ("revenge_trading", "multiplier", "2", "1.5"),
    ("revenge_trading", "cooldown_minutes", "30", "45"),
    ("weekly_loss_limit", "limit", "2500", "2000"),
    ("position_stop_loss", "limit", "250", "200"),
    ("position_stop_loss", "limits", "NQ: 500", "NQ: 400"),
    ("position_take_profit", "target", "500", "400"),
    ("stop_loss_required", "grace_seconds", "30", "10"),
    ("stop_loss_required", "count_profit_stops", "true", "false"),
    ("symbol_block", "roots", "CL", "CL, GC"),
    # a wildcard that blocks what was blocked, and more (reported: held for the reset)
    ("symbol_block", "roots", "MNQ", "M*"),
    ("symbol_block", "roots", "MC*, GC", "M*, G*"),
    ("symbol_block", "roots", "MNQ, MES", "*"),
    ("trading_hours", "early_closes", "2026-12-31 12:15", "2026-12-31 12:15, 2027-07-02 12:00"),
    # a corrected early close, earlier the same day (reported: held past the close it corrects)
    ("trading_hours", "early_closes", "2026-12-05 23:00", "2026-12-05 22:25"),
    ("trading_permission", "lock", "LockedDaily", "LockedWeekly"),
    ("trading_permission", "flatten", "false", "true"),
]


@pytest.mark.parametrize(("rule", "key", "old", "new"), STRICTER, ids=lambda v: str(v))
def test_a_stricter_value_tightens_and_going_back_loosens(
    rule: str, key: str, old: str, new: str
) -> None:
    assert stricter(rule, key, old, new)
    assert not stricter(rule, key, new, old)


# changes whose direction is unknown: both ways count as loosening (they wait for the reset)
UNKNOWN = [
    ("daily_loss_limit", "basis", "equity", "realized"),
    ("trading_hours", "timezone", "America/Chicago", "America/New_York"),
    ("trading_hours", "windows", "Mon-Fri 08:00-12:00", "Mon-Fri 10:00-14:00"),
    ("trade_cooldown", "tiers", "100: 15, 250: 30", "150: 20, 250: 25"),
    ("revenge_trading", "mode", "size", "same_root"),
    ("trailing_drawdown", "starting_balance", "50000", "49000"),
    # what one pattern blocks that the other does not cannot be told for sure: both wait
    ("symbol_block", "roots", "MC*", "M?"),
    ("symbol_block", "roots", "MNQ", "MN[!Q]"),
    ("trading_hours", "early_closes", "2026-12-31 12:15", "2026-12-24 12:15"),
    # a daily lock ends at the reset, which may come before the cooldown would end
    ("max_consecutive_losses", "lock", "cooldown", "daily"),
]


@pytest.mark.parametrize(("rule", "key", "old", "new"), UNKNOWN, ids=lambda v: str(v))
def test_a_change_of_unknown_direction_counts_as_loosening_both_ways(
    rule: str, key: str, old: str, new: str
) -> None:
    assert not stricter(rule, key, old, new)
    assert not stricter(rule, key, new, old)


def test_every_rule_key_it_compares_is_one_of_its_fields() -> None:
    for cls in ALL_RULES:
        assert set(cls.tighter) <= {f.key for f in cls.fields}, cls.name


def test_an_unchanged_value_is_never_a_loosening() -> None:
    assert tightens({}, "anything", Decimal(5), Decimal(5))
    assert tightens({}, "flat_by", time(15), time(15))


def test_windows_that_cross_the_end_of_the_week_compare_inside_each_other() -> None:
    old, new = parse_windows("Sun 17:00-16:00"), parse_windows("Sun 18:00-15:00")
    assert tightens(BY_NAME["trading_hours"].tighter, "windows", old, new)


# --- the plan: stricter now, looser at the reset -------------------------------------------------


def settings(rules: str) -> config.Settings:
    return config.parse(rules, "/tmp/settings.ini")


def test_a_lower_limit_applies_now_and_a_higher_one_waits() -> None:
    in_force = settings("[rule.daily_loss_limit]\nlimit = 1000\n")
    p = reload.plan(in_force, settings("[rule.daily_loss_limit]\nlimit = 400\n"))
    assert [str(c) for c in p.tightened] == ["[rule.daily_loss_limit] limit: 1000 -> 400"]
    assert p.now["daily_loss_limit"]["limit"] == "400" and not p.held
    p = reload.plan(in_force, settings("[rule.daily_loss_limit]\nlimit = 2000\n"))
    assert not p.tightened and p.now["daily_loss_limit"]["limit"] == "1000"
    assert [str(c) for c in p.held] == ["[rule.daily_loss_limit] limit: 1000 -> 2000"]
    assert p.target["daily_loss_limit"]["limit"] == "2000"


def test_a_rule_turned_on_applies_now_and_one_turned_off_waits() -> None:
    in_force = settings("[rule.daily_loss_limit]\nlimit = 1000\n")
    wanted = settings("[rule.max_contracts]\nlimit = 4\n")  # loss limit gone, contracts on
    p = reload.plan(in_force, wanted)
    assert [str(c) for c in p.tightened] == ["[rule.max_contracts] turned on"]
    assert [str(c) for c in p.held] == ["[rule.daily_loss_limit] turned off"]
    effective = config.with_rules(wanted, p.now)
    assert {r.rule.name for r in effective.enabled_rules()} == {
        "daily_loss_limit",
        "max_contracts",
    }
    p = reload.plan(in_force, settings("[rule.daily_loss_limit]\nenabled = false\n"))
    assert [str(c) for c in p.held] == ["[rule.daily_loss_limit] turned off"]


def test_a_change_that_tightens_and_loosens_is_split_key_by_key() -> None:
    in_force = settings("[rule.max_contracts]\nlimit = 5\naction = flatten\n")
    p = reload.plan(in_force, settings("[rule.max_contracts]\nlimit = 3\naction = reduce\n"))
    assert [str(c) for c in p.tightened] == ["[rule.max_contracts] limit: 5 -> 3"]
    assert [str(c) for c in p.held] == ["[rule.max_contracts] action: flatten -> reduce"]
    assert p.now["max_contracts"] == {"enabled": "true", "limit": "3", "action": "flatten"}
    rule = config.with_rules(in_force, p.now).rule("max_contracts")
    assert rule is not None and rule.config.limit == 3 and rule.values["action"] == "flatten"


def test_an_unchanged_file_plans_nothing() -> None:
    s = settings("[rule.daily_loss_limit]\nlimit = 1000\n[rule.symbol_block]\nroots = CL\n")
    p = reload.plan(s, s)
    assert not p.tightened and not p.held and not p.target


# --- per-root maps: each root against what applied to it before -----------------------------

RULE_002 = "max_contracts_per_instrument"


def split(rule: str, old: str, new: str) -> tuple[list[str], list[str]]:
    """What a reload from ``old`` to ``new`` (the rule's keys) applies now, and what it holds."""
    p = reload.plan(settings(f"[rule.{rule}]\n{old}"), settings(f"[rule.{rule}]\n{new}"))
    return [str(c) for c in p.tightened], [str(c) for c in p.held]


@pytest.mark.parametrize("value", ["1", "3"])
def test_a_root_added_at_or_below_the_default_it_replaces_applies_now(value: str) -> None:
    now, held = split(
        RULE_002, "default_limit = 3\n", f"default_limit = 3\nlimits = MNQ: {value}\n"
    )
    assert now == [f"[rule.{RULE_002}] limits:  -> MNQ: {value}"] and held == []


def test_a_root_added_above_the_default_it_replaces_waits() -> None:
    now, held = split(RULE_002, "default_limit = 3\n", "default_limit = 3\nlimits = MNQ: 4\n")
    assert now == [] and held == [f"[rule.{RULE_002}] limits:  -> MNQ: 4"]


def test_a_change_looser_for_one_root_waits_whole() -> None:
    now, held = split(RULE_002, "limits = NQ: 2\n", "limits = NQ: 1, MNQ: 1, ES: 4\n")
    assert now == [] and held == [f"[rule.{RULE_002}] limits: NQ: 2 -> NQ: 1, MNQ: 1, ES: 4"]


def test_a_removed_root_falls_back_to_the_new_default_and_compares_with_it() -> None:
    # MNQ goes from its own 1 to the default 3: looser
    now, held = split(RULE_002, "limits = MNQ: 1\n", "")
    assert now == [] and held == [f"[rule.{RULE_002}] limits: MNQ: 1 -> "]
    # with the default lowered to 1 at the same time, MNQ keeps 1: both apply now
    now, held = split(RULE_002, "limits = MNQ: 1\n", "default_limit = 1\n")
    assert held == [] and sorted(now) == [
        f"[rule.{RULE_002}] default_limit: 3 -> 1",
        f"[rule.{RULE_002}] limits: MNQ: 1 -> ",
    ]


def test_a_default_changed_under_an_explicit_root_is_judged_for_the_other_roots() -> None:
    now, held = split(RULE_002, "limits = MNQ: 2\n", "limits = MNQ: 2\ndefault_limit = 5\n")
    assert now == [] and held == [f"[rule.{RULE_002}] default_limit: 3 -> 5"]
    # a root pinned at the old default while the default rises: the pin applies now, the
    # default waits, and until the reset every root keeps 3
    in_force = settings(f"[rule.{RULE_002}]\ndefault_limit = 3\n")
    wanted = settings(f"[rule.{RULE_002}]\ndefault_limit = 5\nlimits = MNQ: 3\n")
    p = reload.plan(in_force, wanted)
    assert [c.key for c in p.tightened] == ["limits"] and [c.key for c in p.held] == [
        "default_limit"
    ]
    rule = config.with_rules(wanted, p.now).rule(RULE_002)
    assert rule is not None
    assert (rule.config.limit_for("MNQ"), rule.config.limit_for("ES")) == (3, 3)


def test_the_unknown_root_policy_is_what_applied_to_an_unlisted_root() -> None:
    # allow: MNQ was unlimited, any limit is stricter; a root removed becomes unlimited again
    now, held = split(RULE_002, "unknown = allow\n", "unknown = allow\nlimits = MNQ: 9\n")
    assert len(now) == 1 and held == []
    now, held = split(RULE_002, "unknown = allow\nlimits = MNQ: 9\n", "unknown = allow\n")
    assert now == [] and len(held) == 1
    # block: MNQ was closed, a limit of 1 lets it trade
    now, held = split(RULE_002, "unknown = block\n", "unknown = block\nlimits = MNQ: 1\n")
    assert now == [] and held == [f"[rule.{RULE_002}] limits:  -> MNQ: 1"]
    # default: the default limit
    now, held = split(RULE_002, "default_limit = 2\n", "default_limit = 2\nlimits = MNQ: 2\n")
    assert len(now) == 1 and held == []


@pytest.mark.parametrize(
    ("rule", "amount", "overrides"),
    [("position_stop_loss", "limit", "limits"), ("position_take_profit", "target", "targets")],
)
def test_a_per_position_override_compares_with_the_amount_it_replaces(
    rule: str, amount: str, overrides: str
) -> None:
    base = f"{amount} = 250\n"
    now, held = split(rule, base, base + f"{overrides} = NQ: 200\n")
    assert now == [f"[rule.{rule}] {overrides}:  -> NQ: 200"] and held == []
    now, held = split(rule, base, base + f"{overrides} = NQ: 250\n")
    assert len(now) == 1 and held == []
    now, held = split(rule, base, base + f"{overrides} = NQ: 300\n")
    assert now == [] and held == [f"[rule.{rule}] {overrides}:  -> NQ: 300"]
    now, held = split(rule, base + f"{overrides} = NQ: 200\n", base)  # back to 250
    assert now == [] and len(held) == 1


def test_a_per_root_map_without_the_rules_other_values_compares_each_entry() -> None:
    """Without the default at hand an added root has no known direction (a loosening)."""
    compare = BY_NAME[RULE_002].tighter["limits"]
    assert not tightens({"limits": compare}, "limits", {}, {"MNQ": 1})
    assert tightens({"limits": compare}, "limits", {"MNQ": 2}, {"MNQ": 1})


def test_an_early_close_that_became_a_holiday_applies_now() -> None:
    """A day listed as an early close, now a whole holiday: stricter, both keys at once (it
    waited for the reset whole: the early close's going was read as a loosening, and the
    holiday beside the old early close is not a valid rule)."""
    section = "[rule.trading_hours]\nexchange_calendar = none\n"
    in_force = settings(section + "early_closes = 2026-12-24 12:00\n")
    wanted = settings(section + "extra_holidays = 2026-12-24\n")
    p = reload.plan(in_force, wanted)
    assert not p.held
    assert {c.key for c in p.tightened} == {"extra_holidays", "early_closes"}
    assert p.now["trading_hours"] == {"enabled": "true", **wanted.raw_rules["trading_hours"]}
