"""The first ten minutes, from the command line: `diagram` never deletes what it cannot
regenerate and takes --settings like every command; `check` prints settings that load back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsm_risk import config
from fsm_risk.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_diagram_without_graphviz_keeps_the_committed_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "diagrams"
    out.mkdir()
    shutil.copy(ROOT / "diagrams" / "account.svg", out / "account.svg")
    (out / "contract.svg").write_text("<svg><!-- sha256:an-older-definition --></svg>")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    settings = str(ROOT / "settings.ini")
    result = CliRunner().invoke(main, ["diagram", "--out", str(out), "--settings", settings])
    assert result.exit_code == 0, result.output
    assert (out / "account.svg").read_bytes() == (ROOT / "diagrams" / "account.svg").read_bytes()
    assert (out / "contract.svg").read_text() == "<svg><!-- sha256:an-older-definition --></svg>"
    assert f"kept {out / 'account.svg'}" in result.output
    assert f"kept {out / 'contract.svg'}" in result.output
    assert "removed" not in result.output


def test_diagram_honours_settings(tmp_path: Path) -> None:
    bad = tmp_path / "settings.ini"
    bad.write_text("[general]\nnot_a_key = 1\n")
    result = CliRunner().invoke(main, ["diagram", "--out", str(tmp_path), "--settings", str(bad)])
    assert result.exit_code == 2 and "not_a_key" in result.output


def test_check_output_is_settings_text_that_loads_back(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--settings", str(ROOT / "settings.ini")])
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.ini"
    again.write_text(result.output)
    shipped, loaded = config.load(ROOT / "settings.ini"), config.load(again)
    assert loaded.parsed == shipped.parsed  # as written (paths resolve from each file's folder)
    assert [(r.rule.id, r.enabled, r.values) for r in loaded.rules] == [
        (r.rule.id, r.enabled, r.values) for r in shipped.rules
    ]


def test_paper_gateway_reads_the_settings_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fsm_risk.paper.cli import _settings

    named = tmp_path / "elsewhere.ini"
    named.write_text("[paper]\nport = 8799\n")
    monkeypatch.chdir(tmp_path)  # no ./settings.ini here
    monkeypatch.setenv("FSM_RISK_SETTINGS", str(named))
    assert _settings(None).port == 8799
