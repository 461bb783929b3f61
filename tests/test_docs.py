"""Everything derived from the code is checked against it: the README's tables, the
committed diagrams, and the shipped settings.ini (every key documented, the file valid)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from fsm_risk import config, diagrams, docs
from fsm_risk.core.states import ACCOUNT_STATES
from fsm_risk.rules import ALL_RULES

ROOT = Path(__file__).resolve().parent.parent


def test_readme_state_and_rule_tables_match_the_code() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert docs.refresh(text) == text, "README is stale: run `python -m fsm_risk.docs`"


@pytest.mark.parametrize("filename", sorted(diagrams.expected_files()))
def test_committed_diagrams_match_the_machine_definitions(filename: str) -> None:
    committed = (ROOT / "diagrams" / filename).read_text(encoding="utf-8")
    assert committed == diagrams.expected_files()[filename], "run `fsm-risk diagram`"


@pytest.mark.parametrize("image", ["svg", "png"])
@pytest.mark.parametrize("name", sorted(diagrams.MACHINES))
def test_committed_images_were_drawn_from_the_current_definition(name: str, image: str) -> None:
    path = ROOT / "diagrams" / f"{name}.{image}"
    assert path.exists(), "run `fsm-risk diagram` where Graphviz is installed"
    digest = diagrams.dot_digest(diagrams.dot_source(name))
    assert digest.encode() in path.read_bytes(), f"stale {image}: run `fsm-risk diagram`"


def test_mermaid_overview_names_every_state_in_words() -> None:
    text = diagrams.mermaid("account")
    for s in ACCOUNT_STATES:
        assert f"  {s.value}([" in text
    assert "stronger lock, or still exposed" in text and "lock ends (timer)" in text


def test_shipped_settings_load_and_document_every_key() -> None:
    path = ROOT / "settings.ini"
    settings = config.load(path)
    assert {r.rule.id for r in settings.enabled_rules()} >= {"RULE-001", "RULE-002", "RULE-003"}
    lines = path.read_text(encoding="utf-8").splitlines()
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    expected: dict[str, tuple[str, ...]] = {
        n: tuple(f.key for f in fs) for n, fs in config.SECTIONS.items()
    }
    for r in ALL_RULES:
        expected[config.RULE_PREFIX + r.name] = ("enabled", *(f.key for f in r.fields))
    for section, keys in expected.items():
        assert parser.has_section(section), f"settings.ini lacks [{section}]"
        for key in keys:
            assert parser.has_option(section, key), f"[{section}] {key} missing"
            at = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
            assert lines[at - 1].startswith("#"), f"[{section}] {key} has no comment above it"


def test_default_50k_account_values_are_shipped() -> None:
    s = config.load(ROOT / "settings.ini")
    assert s.rule("max_contracts").config.limit == 5  # type: ignore[union-attr]
    assert str(s.rule("daily_loss_limit").config.limit) == "1000"  # type: ignore[union-attr]
    assert s.session.timezone == "America/Chicago"


def test_the_readme_shows_the_dashboard_screenshot_and_diagram_leaves_it(tmp_path: Path) -> None:
    assert "](diagrams/dashboard.png)" in (ROOT / "README.md").read_text(encoding="utf-8")
    png = ROOT / "diagrams" / "dashboard.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "dashboard.png").write_bytes(png.read_bytes())
    diagrams.write(tmp_path)  # what `fsm-risk diagram` does
    assert (tmp_path / "dashboard.png").read_bytes() == png.read_bytes()
