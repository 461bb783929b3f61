"""Typed settings: one frozen object per section, every key validated and converted once, the
checks between settings in one place, and no module but the loader reading a key by name."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fsm_risk import config, crosschecks, sections
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.errors import SettingsError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "settings.ini"


def problems(text: str) -> list[str]:
    with pytest.raises(SettingsError) as err:
        config.parse(text, "s.ini")
    return [str(p) for p in err.value.problems]


# --- every section typed, and the shipped file round-trips ----------------------------------


def test_every_section_has_a_typed_object_and_every_key_one_attribute() -> None:
    assert list(sections.TYPES) == list(config.SECTIONS)
    for name, cls in sections.TYPES.items():
        keys = [sections.key_of(f) for f in dataclasses.fields(cls)]
        assert sorted(keys) == sorted(f.key for f in config.SECTIONS[name]), name


def test_the_shipped_settings_load_into_typed_values() -> None:
    s = config.load(SHIPPED)
    var = SHIPPED.parent / "var"
    assert s.general == sections.General(
        var / "fsm-risk.db", var / "fsm-risk.log", (), "America/Chicago", 0
    )
    assert s.session == sections.Session("America/Chicago", time(17), (6, time(17)))
    assert s.market == sections.Market(MarkMode.LAST, timedelta(seconds=30))
    assert s.enforcement == sections.Enforcement(
        timedelta(seconds=10),
        timedelta(seconds=60),
        3,
        timedelta(seconds=10),
        timedelta(minutes=30),
        State.LockedDaily,
    )
    assert s.broker == sections.Broker(
        None,
        "",
        "",
        "",
        200,
        50,
        timedelta(minutes=10),
        timedelta(seconds=30),
        timedelta(seconds=10),
        timedelta(minutes=5),
    )
    assert s.control == sections.Control(
        var / "fsm-risk.sock", "auto", 0, var / "fsm-risk.control-token"
    )
    assert s.notify == sections.Notify(
        (), config.NOTIFY_EVENTS, (50, 80, 90), timedelta(minutes=10), 20, 3
    )
    assert s.web == sections.Web(True, "127.0.0.1", 8742, "")
    assert s.journal == sections.Journal(True, 31)
    assert s.admin == sections.Admin(
        5, timedelta(seconds=900), timedelta(seconds=1), sections.Rearm(Decimal(1), None)
    )


def test_every_typed_section_round_trips_through_check_output() -> None:
    shipped = config.load(SHIPPED)
    again = config.parse(config.describe(shipped), shipped.path)
    for name in sections.TYPES:
        assert getattr(again, name) == getattr(shipped, name), name
    assert again.paper == shipped.paper
    assert [(r.rule, r.enabled, r.config) for r in again.rules] == [
        (r.rule, r.enabled, r.config) for r in shipped.rules
    ]


def test_values_are_converted_once_at_load(tmp_path: Path) -> None:
    f = tmp_path / "s.ini"
    f.write_text(
        "[general]\ndisplay_timezone = Europe/Berlin\n"
        "[broker]\ncredentials_file = creds.ini\nreconcile_interval_seconds = 2.5\n"
        "[enforcement]\nfailsafe_lock = lockedweekly\n"
        "[market]\nmark = liquidation\n"
        "[admin]\nwaiver_rearm = 50%\nfailure_delay_seconds = 0.5\n"
        "[notify.PAPER-1]\nevents = lock, feed\n"
    )
    s = config.load(f)
    assert s.general.display_timezone == "Europe/Berlin"
    assert s.broker.credentials_file == tmp_path / "creds.ini"
    assert s.broker.reconcile_interval == timedelta(seconds=2.5)
    assert s.enforcement.failsafe_lock is State.LockedWeekly
    assert s.market.mark is MarkMode.LIQUIDATION
    assert s.admin.waiver_rearm == sections.Rearm(Decimal("0.5"), None)
    assert s.admin.failure_delay == timedelta(milliseconds=500)
    assert s.notify_accounts["PAPER-1"] == sections.NotifyTarget((), ("lock", "feed"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.broker.requests_per_minute = 1  # type: ignore[misc]


# --- a wrong value in any section is refused naming its key ---------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("general", "fill_retention_days", "7"),
        ("general", "database", "mysql://h/db"),
        ("general", "display_timezone", "Mars/Olympus"),
        ("session", "daily_reset", "25:00"),
        ("session", "weekly_reset", "Someday 17:00"),
        ("market", "mark", "mid"),
        ("market", "stale_after_seconds", "0"),
        ("enforcement", "close_timeout_seconds", "601"),
        ("enforcement", "failsafe_lock", "Trading"),
        ("enforcement", "admin_cooldown_minutes", "ten"),
        ("broker", "requests_per_minute", "lots"),
        ("broker", "token_refresh_seconds", "-1"),
        ("broker", "reconcile_interval_seconds", "nan"),
        ("broker", "quote_linger_seconds", "-5"),
        ("control", "port", "70000"),
        ("control", "transport", "pipe"),
        ("notify", "retries", "11"),
        ("notify", "warn_at", "0"),
        ("notify", "events", "everything"),
        ("web", "port", "http"),
        ("web", "enabled", "maybe"),
        ("journal", "retention_days", "0"),
        ("admin", "max_failures", "0"),
        ("admin", "waiver_rearm", "off"),
        ("paper", "port", "abc"),
        ("notify.1001", "events", "bogus"),
        ("rule.daily_loss_limit", "limit", "-1"),
        ("rule.trading_hours", "timezone", "America/Chicgo"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_section_and_key(
    section: str, key: str, value: str
) -> None:
    [problem] = problems(f"[{section}]\n{key} = {value}\n")
    assert problem.startswith(f"s.ini: [{section}] {key}: "), problem


def _every_field() -> list[tuple[str, str]]:
    from fsm_risk.paper.settings import PAPER_FIELDS
    from fsm_risk.rules import ALL_RULES

    return [
        *((name, f.key) for name, fields in config.SECTIONS.items() for f in fields),
        *(("notify.1001", f.key) for f in config.NOTIFY_ACCOUNT_FIELDS),
        *(("paper", f.key) for f in PAPER_FIELDS),
        *((config.RULE_PREFIX + r.name, f.key) for r in ALL_RULES for f in r.fields),
    ]


EXTREMES = ("1e20", "99999999999999999999", "-99999999999999999999", "1e308", "inf", "nan")


@pytest.mark.parametrize(("section", "key"), _every_field())
def test_an_extreme_value_is_refused_by_key_or_works_never_a_crash(section: str, key: str) -> None:
    from fsm_risk import bootstrap
    from fsm_risk.adapters.store import fill_cutoff

    now = datetime(2026, 12, 4, 15, tzinfo=UTC)
    for value in EXTREMES:
        try:
            s = config.parse(f"[{section}]\n{key} = {value}\n", "s.ini")
        except SettingsError as err:
            text = str(err)  # the key, or (a cross-check) the key it clashes with, named
            assert f"[{section}] " in text and key in text and "\n" not in text, text
            continue
        bootstrap.build_engine(s)  # what serve and every command build first
        fill_cutoff(s.calendar(), now, s.general.fill_retention_days)


def test_an_unknown_section_or_key_names_the_choices() -> None:
    [section] = problems("[options]\n")
    assert "unknown section (sections: general, session, market" in section
    assert "rule.RULE; rules: max_contracts, " in section
    [key] = problems("[general]\nbogus = 1\n")
    assert key == (
        "s.ini: [general] bogus: unknown key (keys: database, log_file, accounts, "
        "display_timezone, fill_retention_days)"
    )
    [near] = problems("[web]\nprot = 1\n")
    assert near == "s.ini: [web] prot: unknown key (did you mean 'port'?)"
    with pytest.raises(SettingsError, match=r"unknown rule \(rules: max_contracts, "):
        config.with_rules(config.parse(""), {"no_such_rule": {}})


# --- every check between settings, in one place ---------------------------------------------

CROSS = [
    (
        crosschecks.reserve_below_budget,
        "[broker]\nrequests_per_minute = 100\nenforcement_reserve = 100\n",
        "[broker] enforcement_reserve: 100 must be below requests_per_minute (100)",
    ),
    (
        crosschecks.web_token_beyond_loopback,
        "[web]\nhost = 0.0.0.0\n",
        "[web] token: required when host is 0.0.0.0",
    ),
    (
        crosschecks.web_port_not_control_port,
        "[control]\ntransport = tcp\nport = 9100\n[web]\nport = 9100\n",
        "[web] port: 9100 is also the [control] port",
    ),
    (
        crosschecks.backoff_not_below_timeout,
        "[enforcement]\nclose_timeout_seconds = 30\nclose_backoff_max_seconds = 20\n",
        "[enforcement] close_backoff_max_seconds: 20 s is shorter than close_timeout_seconds",
    ),
    (
        crosschecks.paper_token_outlives_refresh,
        "[paper]\ntoken_lifetime = 600\n[broker]\ntoken_refresh_seconds = 600\n",
        "[paper] token_lifetime: 600 s is not longer than [broker] token_refresh_seconds",
    ),
    (
        crosschecks.per_instrument_within_account,
        "[rule.max_contracts]\nlimit = 5\n[rule.max_contracts_per_instrument]\nlimits = MNQ: 6\n",
        "[rule.max_contracts_per_instrument] limits: MNQ: 6 is above the account limit of 5",
    ),
    (
        crosschecks.hold_time_beyond_stop_grace,
        "[rule.position_hold_time]\nlimit_minutes = 1\n"
        "[rule.stop_loss_required]\ngrace_seconds = 60\n",
        "[rule.stop_loss_required] grace_seconds: 60 s is not shorter than the hold-time "
        "limit of 1 min",
    ),
    (
        crosschecks.blocked_roots_not_limited,
        "[rule.symbol_block]\nroots = M*\n[rule.max_contracts_per_instrument]\nlimits = MNQ: 2\n",
        "[rule.symbol_block] roots: blocks MNQ",
    ),
    (
        crosschecks.stop_within_daily_loss,
        "[rule.daily_loss_limit]\nlimit = 1000\n[rule.position_stop_loss]\nlimit = 1000\n",
        "[rule.position_stop_loss] limit: 1000 is not below the daily loss limit of 1000",
    ),
    (
        crosschecks.take_profit_within_daily_target,
        "[rule.daily_profit_target]\ntarget = 500\n[rule.position_take_profit]\ntarget = 600\n",
        "[rule.position_take_profit] target: 600 is not below the daily profit target of 500",
    ),
    (
        crosschecks.windows_below_max_trades,
        "[rule.max_trades_per_day]\nlimit = 10\n[rule.rapid_fire]\nwindows = 60: 10\n",
        "[rule.rapid_fire] windows: 60s: 10 is not below the daily limit of 10 entries",
    ),
    (
        crosschecks.weekly_not_below_daily,
        "[rule.daily_loss_limit]\nlimit = 1000\n[rule.weekly_loss_limit]\nlimit = 500\n",
        "[rule.weekly_loss_limit] limit: 500 is below the daily loss limit of 1000",
    ),
]


def test_the_cases_below_cover_every_check_there_is() -> None:
    every = [*crosschecks.SECTION_CHECKS, *crosschecks.RULE_CHECKS]
    assert sorted(c.__name__ for c, _, _ in CROSS) == sorted(c.__name__ for c in every)


@pytest.mark.parametrize(("check", "text", "message"), CROSS, ids=[c.__name__ for c, *_ in CROSS])
def test_each_check_between_settings_is_made_in_one_place(
    check: Callable[..., Any], text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    [problem] = problems(text)
    assert problem.startswith(f"s.ini: {message}"), problem
    assert "\n" not in problem
    # that one check, and nothing else, refuses it: without it the same text loads
    for name in ("SECTION_CHECKS", "RULE_CHECKS"):
        kept = [c for c in getattr(crosschecks, name) if c is not check]
        monkeypatch.setattr(crosschecks, name, kept)
    config.parse(text, "s.ini")


def test_the_checks_between_rules_look_only_at_the_rules_that_are_on() -> None:
    config.parse(
        "[rule.daily_loss_limit]\nenabled = false\nlimit = 1000\n"
        "[rule.position_stop_loss]\nlimit = 1000\n",
        "s.ini",
    )


# --- no module but the loader reads a section or key by name -------------------------------

SECTION_NAMES = {*config.SECTIONS, "paper"}
#: attributes that hold the sections' parsed values by key (the loader's own business)
BY_KEY = {"sections", "parsed", "other_values"}
#: the parsers of settings text: the loader, its field parsers, the typed sections
LOADERS = {"config.py", "schema.py", "sections.py"}
#: names that hint an expression holds settings (a subscript of them by section name is a read)
SETTINGS_HINTS = ("settings", "section", "parser", "config", "cfg")


def string_reads(source: str) -> list[str]:
    """Where ``source`` reads a settings section or key by its name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in BY_KEY:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            args = node.args
            if (
                node.func.attr in ("get", "getint", "getfloat", "getboolean", "has_option")
                and len(args) >= 2
                and isinstance(args[0], ast.Constant)
                and args[0].value in SECTION_NAMES
            ):
                found.append(f"line {node.lineno}: .{node.func.attr}({args[0].value!r}, ...)")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and (
                node.slice.value in SECTION_NAMES
                or node.slice.value.startswith((config.RULE_PREFIX, config.NOTIFY_PREFIX))
            )
            and any(h in ast.unparse(node.value).lower() for h in SETTINGS_HINTS)
        ):
            found.append(f"line {node.lineno}: [{node.slice.value!r}]")
    return found


def test_the_string_read_finder_sees_each_way_of_reading_by_name() -> None:
    assert string_reads("settings.get('general', 'accounts')")
    assert string_reads("b = settings.sections['broker']")
    assert string_reads("parser.get('control', 'socket', fallback='')")
    assert string_reads("x = self.settings.parsed")
    assert string_reads("raw = parser['web']")
    assert not string_reads("settings.broker.feed_silence; body.get('admin'); conns['market']")


def test_no_module_outside_the_loader_reads_settings_by_name() -> None:
    package = ROOT / "fsm_risk"
    reads = {
        str(p.relative_to(package)): found
        for p in sorted(package.rglob("*.py"))
        if p.relative_to(package).as_posix() not in LOADERS
        and (found := string_reads(p.read_text(encoding="utf-8")))
    }
    assert reads == {}
