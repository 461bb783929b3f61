"""The [paper] section: defaults, the documented section in settings.ini, and clear errors."""

from __future__ import annotations

import configparser
from decimal import Decimal as D
from pathlib import Path

import pytest

from fsm_risk.errors import SettingsError
from fsm_risk.paper import PAPER_FIELDS, PaperAccount, PaperSettings, load_paper_settings
from fsm_risk.schema import parse_section

REPO_SETTINGS = Path(__file__).resolve().parents[2] / "settings.ini"


def parse(raw: dict[str, str]) -> tuple[PaperSettings | None, list[str]]:
    values, problems = parse_section("s.ini", "paper", PAPER_FIELDS, raw)
    if problems:
        return None, [str(p) for p in problems]
    return PaperSettings.from_values(values), []


def test_an_empty_section_gives_the_dataclass_defaults() -> None:
    assert parse({}) == (PaperSettings(), [])


def test_the_repository_settings_file_documents_every_key_with_its_default() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO_SETTINGS, encoding="utf-8")
    assert set(parser["paper"]) == {f.key for f in PAPER_FIELDS}
    assert load_paper_settings(REPO_SETTINGS) == PaperSettings()
    text = REPO_SETTINGS.read_text(encoding="utf-8").split("[paper]", 1)[1]
    lines = text.splitlines()
    for field in PAPER_FIELDS:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{field.key} ="))
        above = lines[index - 1]
        assert above.startswith("#") or lines[index - 1].startswith("rate_limit ="), field.key


def test_values_are_parsed_into_typed_settings() -> None:
    settings, problems = parse(
        {
            "accounts": "1: ONE: 1000.50, 2: TWO: 2000: false: bob",
            "product_codes": "ES: EP, NQ: ENQ",
            "fees": "MNQ: 0.25",
            "start_prices": "CL: 70.12",
            "price_mode": "Scripted",
            "wrap_payloads": "yes",
        }
    )
    assert problems == [] and settings is not None
    assert settings.accounts == (
        PaperAccount(1, "ONE", D("1000.50")),
        PaperAccount(2, "TWO", D("2000"), can_trade=False, owner="bob"),
    )
    assert settings.product_codes == {"ES": "EP", "NQ": "ENQ"}
    assert settings.fees["MNQ"] == D("0.25") and settings.fees["ES"] == D("1.40")
    assert settings.start_prices["CL"] == D("70.12")
    assert settings.price_mode == "scripted" and settings.wrap_payloads is True


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("host", "0.0.0.0", "must be a loopback address"),
        ("host", "192.168.1.4", "must be a loopback address"),
        ("port", "70000", "must be at most 65535"),
        ("api_key", "short", "at least 10 characters"),
        ("jwt_secret", "too-short", "at least 32 characters"),
        ("accounts", "1: A: 100, 1: B: 100", "names account id 1 twice"),
        ("accounts", "1: A", "each account is"),
        ("accounts", "x: A: 100", "account id must be a whole number"),
        ("accounts", "1: A: -5", "must be zero or a positive amount"),
        ("contract_month", "Z2026", "month code and a two-digit year"),
        ("product_codes", "ES: MES", "would share the product code MES"),
        ("product_codes", "XX: YY", "unknown root 'XX'"),
        ("fees", "MNQ: 0.001", "whole number of cents"),
        ("start_prices", "ES: 6000.10", "multiple of its tick 0.25"),
        ("price_mode", "chaos", "must be one of random_walk, scripted"),
        ("quote_heartbeat", "30", "at most 10 seconds"),
        ("spread_ticks", "-1", "at least 0"),
        ("rate_limit", "many", "must be a whole number"),
        ("wrap_payloads", "maybe", "must be true or false"),
    ],
)
def test_bad_values_name_the_file_section_key_and_reason(key: str, value: str, reason: str) -> None:
    settings, problems = parse({key: value})
    assert settings is None and len(problems) == 1
    assert problems[0].startswith(f"s.ini: [paper] {key}: ")
    assert reason in problems[0]


def test_unknown_keys_are_reported_with_a_suggestion() -> None:
    _, problems = parse({"spread_tick": "1"})
    assert problems == ["s.ini: [paper] spread_tick: unknown key (did you mean 'spread_ticks'?)"]


def test_load_reads_only_the_paper_section(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_text("[other]\nwhatever = 1\n\n[paper]\nseed = 99  # inline comment\n")
    assert load_paper_settings(path).seed == 99
    path.write_text("[other]\nx = 1\n")
    assert load_paper_settings(path) == PaperSettings()
    path.write_text("[paper]\nseed = a\nport = b\n")
    with pytest.raises(SettingsError) as info:
        load_paper_settings(path)
    assert [p.key for p in info.value.problems] == ["port", "seed"]
    path.write_text("no section header\n")
    with pytest.raises(SettingsError, match="not a valid INI file"):
        load_paper_settings(path)
