"""Settings validation: every error names the file, section, key and reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from fsm_risk import config, sections
from fsm_risk.errors import SettingsError


def problems(text: str) -> list[str]:
    with pytest.raises(SettingsError) as err:
        config.parse(text, "s.ini")
    return [str(p) for p in err.value.problems]


def test_an_empty_file_is_valid_with_every_rule_off() -> None:
    s = config.parse("", "s.ini")
    assert list(s.enabled_rules()) == []
    assert s.session.timezone == "America/Chicago"


def test_wrong_sign_names_section_key_and_reason() -> None:
    assert problems("[rule.daily_loss_limit]\nlimit = -1000\n") == [
        "s.ini: [rule.daily_loss_limit] limit: must be a positive amount, got '-1000'"
    ]


@pytest.mark.parametrize(
    ("section", "key", "text", "value"),
    [
        ("rule.daily_loss_limit", "limit", "1,000", Decimal(1000)),
        ("rule.trailing_drawdown", "drawdown", "12,500.50", Decimal("12500.50")),
        ("rule.weekly_loss_limit", "limit", "1,250,000", Decimal(1250000)),
        ("rule.max_contracts", "limit", "1,000", 1000),
        ("rule.position_hold_time", "limit_minutes", "1,440", 1440),
    ],
)
def test_thousands_separators_are_read_as_such(
    section: str, key: str, text: str, value: object
) -> None:
    s = config.parse(f"[{section}]\n{key} = {text}\n", "s.ini")
    [rule] = [r for r in s.rules if r.rule.name == section.removeprefix("rule.")]
    assert rule.values[key] == value


@pytest.mark.parametrize(
    ("section", "key", "text"),
    [
        ("rule.trailing_drawdown", "drawdown", "2000,00"),  # a decimal comma: was 200000
        ("rule.daily_loss_limit", "limit", "500,00"),  # was 50000
        ("rule.daily_loss_limit", "limit", "1,0,0,0"),  # was 1000
        ("rule.daily_loss_limit", "limit", "1.500,00"),  # was 1.50000
        ("rule.daily_loss_limit", "limit", "1,00"),
        ("rule.daily_loss_limit", "limit", ",500"),
    ],
)
def test_an_amount_with_a_comma_that_separates_no_thousands_is_refused(
    section: str, key: str, text: str
) -> None:
    assert problems(f"[{section}]\n{key} = {text}\n") == [
        f"s.ini: [{section}] {key}: must be an amount in dollars such as 2000, 2,000 or "
        "12,500.50 (a comma only between groups of three digits, a point before the cents), "
        f"got '{text}'"
    ]


@pytest.mark.parametrize("text", ["1,44", "5,0", "1,0,0,0"])
def test_a_whole_number_with_a_comma_that_separates_no_thousands_is_refused(text: str) -> None:
    assert problems(f"[rule.position_hold_time]\nlimit_minutes = {text}\n") == [
        "s.ini: [rule.position_hold_time] limit_minutes: must be a whole number such as 1000 "
        f"or 1,000 (a comma only between groups of three digits), got '{text}'"
    ]


def test_unknown_key_is_an_error_with_a_suggestion() -> None:
    assert problems("[rule.daily_loss_limit]\nlimt = 1000\n") == [
        "s.ini: [rule.daily_loss_limit] limt: unknown key (did you mean 'limit'?)"
    ]


def test_unknown_section_and_unknown_rule_are_errors() -> None:
    found = problems("[sesion]\n[rule.max_contract]\n")
    assert found[0] == "s.ini: [sesion]: unknown section (did you mean [session]?)"
    assert found[1].startswith("s.ini: [rule.max_contract]: unknown rule (rules: max_contracts")


def test_bad_time_zone_is_named() -> None:
    assert problems("[session]\ntimezone = America/Chicgo\n") == [
        "s.ini: [session] timezone: unknown time zone 'America/Chicgo' "
        "(use an IANA name such as America/Chicago)"
    ]


def test_bad_reset_times_are_named() -> None:
    found = problems("[session]\ndaily_reset = 25:00\nweekly_reset = Funday 17:00\n")
    assert found == [
        "s.ini: [session] daily_reset: must be a time between 00:00 and 23:59, got '25:00'",
        "s.ini: [session] weekly_reset: must be a weekday (Mon..Sun), got 'Funday'",
    ]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        config.load(tmp_path / "nope.ini")
    assert str(err.value) == f"{tmp_path / 'nope.ini'}: settings file not found"


def test_garbled_file_is_a_clear_error() -> None:
    assert problems("limit = 5\n") == ["s.ini: line 1: a key outside any [section]"]
    assert problems("[general]\n[general]\n") == ["s.ini: [general]: section appears twice"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        "[rule.max_contracts]\nlimit = 0\n[rule.daily_loss_limit]\nlimit = abc\nbasis = net\n"
    )
    assert len(found) == 3


def test_per_instrument_limit_above_the_account_limit_is_refused() -> None:
    found = problems(
        "[rule.max_contracts]\nlimit = 5\n"
        "[rule.max_contracts_per_instrument]\nlimits = MNQ: 6, NQ: 2\n"
    )
    assert found == [
        "s.ini: [rule.max_contracts_per_instrument] limits: MNQ: 6 is above the account "
        "limit of 5 in [rule.max_contracts]"
    ]


def test_a_disabled_rule_is_still_validated() -> None:
    assert problems("[rule.daily_loss_limit]\nenabled = false\nlimit = -1\n")


def test_relative_paths_resolve_from_the_settings_folder(tmp_path: Path) -> None:
    f = tmp_path / "s.ini"
    f.write_text("[general]\ndatabase = state/x.db\n")
    assert config.load(f).database == tmp_path / "state" / "x.db"


def test_describe_never_prints_secret_values() -> None:
    s = config.parse("[paper]\napi_key = supersecretkey123\n", "s.ini")
    text = config.describe(s)
    assert "supersecretkey123" not in text and "api_key = (set, hidden)" in text


def test_a_stop_grace_not_shorter_than_the_hold_time_is_refused() -> None:
    assert problems(
        "[rule.position_hold_time]\nlimit_minutes = 1\n"
        "[rule.stop_loss_required]\ngrace_seconds = 60\n"
    ) == [
        "s.ini: [rule.stop_loss_required] grace_seconds: 60 s is not shorter than the "
        "hold-time limit of 1 min in [rule.position_hold_time]"
    ]


def test_a_blocked_root_with_a_per_instrument_limit_is_a_contradiction() -> None:
    found = problems(
        "[rule.symbol_block]\nroots = M*\n"
        "[rule.max_contracts_per_instrument]\nlimits = MNQ: 2, ES: 1\n"
    )
    assert found == [
        "s.ini: [rule.symbol_block] roots: blocks MNQ, which "
        "[rule.max_contracts_per_instrument] limits allow: remove one or the other"
    ]


def test_the_enforcement_reserve_must_leave_room_for_reads() -> None:
    assert problems("[broker]\nrequests_per_minute = 100\nenforcement_reserve = 100\n") == [
        "s.ini: [broker] enforcement_reserve: 100 must be below requests_per_minute (100)"
    ]


def test_cross_checks_only_apply_to_enabled_rules() -> None:
    s = config.parse(
        "[rule.position_hold_time]\nenabled = false\nlimit_minutes = 1\n"
        "[rule.stop_loss_required]\ngrace_seconds = 60\n",
        "s.ini",
    )
    assert [r.rule.id for r in s.enabled_rules()] == ["RULE-016"]


@pytest.mark.parametrize(
    ("text", "share", "amount"),
    [("limit", "1", None), ("50%", "0.5", None), ("250", "1", "250"), ("$300", "1", "300")],
)
def test_admin_waiver_rearm_depth(text: str, share: str, amount: str | None) -> None:
    es = config.parse(f"[admin]\nwaiver_rearm = {text}\n").engine_settings()
    assert es.rearm_share == Decimal(share)
    assert es.rearm_amount == (Decimal(amount) if amount else None)


def test_admin_waiver_rearm_refuses_off() -> None:
    with pytest.raises(SettingsError, match="waiver_rearm"):
        config.parse("[admin]\nwaiver_rearm = off\n")


def _same(a: config.Settings, b: config.Settings) -> None:
    assert a.parsed == b.parsed
    assert [getattr(a, n) for n in sections.TYPES] == [getattr(b, n) for n in sections.TYPES]
    assert a.paper == b.paper and a.notify_accounts == b.notify_accounts
    assert [(r.rule.id, r.enabled, r.values) for r in a.rules] == [
        (r.rule.id, r.enabled, r.values) for r in b.rules
    ]


def test_check_prints_settings_text_that_loads_back_to_the_same_settings() -> None:
    shipped = config.load(Path(__file__).resolve().parents[2] / "settings.ini")
    _same(config.parse(config.describe(shipped), shipped.path), shipped)
    custom = config.parse(
        "[paper]\naccounts = 7: ALPHA: 100000: true, 8: BETA: 25000.50: false: bob\n"
        "[rule.trailing_drawdown]\nstarting_balance =\n"
        "[rule.trading_hours]\nflat_by =\nextra_holidays = 2026-11-26\n"
        "early_closes = 2026-12-24 12:15\n"
    )
    _same(config.parse(config.describe(custom), custom.path), custom)


def test_check_never_prints_a_secret_and_still_prints_valid_text() -> None:
    s = config.parse("[paper]\napi_key = a-very-secret-key-123\n")
    text = config.describe(s)
    assert "a-very-secret-key-123" not in text and "# api_key = (set, hidden)" in text
    config.parse(text)  # still valid settings text


def test_the_database_may_be_a_postgresql_server_and_its_password_is_never_shown(
    tmp_path: Path,
) -> None:
    f = tmp_path / "s.ini"
    url = "postgresql://risk:hunter2pass@db.example:5432/fsm"
    f.write_text(f"[general]\ndatabase = {url}\n")
    settings = config.load(f)
    assert settings.database == url  # a URL, not a path under the settings folder
    text = config.describe(settings)
    assert "hunter2pass" not in text
    assert "database = postgresql://risk:***@db.example:5432/fsm" in text


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("mysql://h/db", "must be a SQLite file path or a postgresql:// URL, got a 'mysql://' URL"),
        ("postgresql://host", "a postgresql:// URL must name the database"),
    ],
)
def test_a_database_that_is_neither_a_file_nor_a_postgresql_url_is_refused(
    value: str, reason: str
) -> None:
    found = problems(f"[general]\ndatabase = {value}\n")
    assert len(found) == 1 and reason in found[0] and "[general] database" in found[0]


# --- [notify] and [web] ----------------------------------------------------------------------


def _problems(text: str) -> list[str]:
    with pytest.raises(SettingsError) as err:
        config.parse(text)
    return [str(p) for p in err.value.problems]


def test_web_beyond_loopback_without_a_token_is_refused_naming_section_and_key() -> None:
    [problem] = _problems("[web]\nhost = 0.0.0.0\n")
    assert "[web] token" in problem and "required when host is 0.0.0.0" in problem
    assert config.parse("[web]\nhost = 0.0.0.0\ntoken = 0123456789abcdef\n").web.token
    [short] = _problems("[web]\nhost = 0.0.0.0\ntoken = short\n")
    assert "at least 16 characters" in short


def test_a_notify_url_apprise_cannot_use_is_refused_without_repeating_it() -> None:
    [problem] = _problems("[notify]\nurls = json://127.0.0.1/ok, nope://sekrit-token@x\n")
    assert "[notify] urls" in problem and "URL 2 (scheme 'nope')" in problem
    assert "sekrit" not in problem
    # a channel apprise has, written wrong: said so, not that apprise lacks the channel
    [bad] = _problems("[notify]\nurls = tgram://SEKRIT-BOT/\n")
    assert "URL 1 (scheme 'tgram') is incomplete or malformed" in bad
    assert "not one apprise supports" not in bad and "SEKRIT" not in bad


def test_notify_events_and_thresholds_are_checked() -> None:
    [events] = _problems("[notify]\nevents = lock, lockz\n")
    assert "unknown event 'lockz'" in events and "flattening" in events
    [warn] = _problems("[notify]\nwarn_at = 80, 50\n")
    assert "[notify] warn_at" in warn and "increasing" in warn
    s = config.parse("[notify]\nevents = all\n[notify.1001]\nurls = json://127.0.0.1/a\n")
    assert s.notify.events == config.NOTIFY_EVENTS
    assert s.notify_accounts["1001"].urls == ("json://127.0.0.1/a",)
    [key] = _problems("[notify.1001]\nurl = json://127.0.0.1/a\n")
    assert "[notify.1001] url" in key and "did you mean 'urls'" in key


def test_check_output_hides_notification_urls_and_the_web_token() -> None:
    s = config.parse(
        "[notify]\nurls = tgram://123:SEKRIT/456\n[notify.1001]\nurls = json://h/SEKRIT2\n"
        "[web]\ntoken = SEKRIT-TOKEN-0123456789\n"
    )
    text = config.describe(s)
    assert "SEKRIT" not in text
    assert "urls = tgram://(hidden)" in text and "[notify.1001]" in text
    assert "token = (set, hidden)" in text


def test_check_masks_a_password_in_the_gateway_urls_and_still_prints_valid_text() -> None:
    s = config.parse(
        "[broker]\napi_url = https://user:ApiUrlPass-SECRET@gw.example/api\n"
        "user_hub_url = https://user:HubPass-SECRET@gw.example/hubs/user\n"
        "market_hub_url = https://gw.example/hubs/market\n"
    )
    text = config.describe(s)
    assert "SECRET" not in text
    assert "# api_url = https://user:***@gw.example/api" in text
    assert "# user_hub_url = https://user:***@gw.example/hubs/user" in text
    assert "\nmarket_hub_url = https://gw.example/hubs/market" in text  # nothing to hide
    assert config.parse(text).broker.market_hub_url == "https://gw.example/hubs/market"
