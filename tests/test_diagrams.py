"""The diagrams a team reviews: an overview that reads at a glance, one account's day from the
database, every Mermaid text accepted by the real Mermaid parser, images from the same DOT."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fsm_risk import bootstrap, config, diagrams
from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.states import ACCOUNT_EDGES, CONTRACT_EDGES, State, Trigger
from fsm_risk.rules import ALL_RULES
from tests.e2e.test_cli import cli, home, seed_locked_account

__all__ = ["home"]  # the fixture, shared with the CLI tests

ROOT = Path(__file__).resolve().parent.parent
MERMAID = ROOT / "tests" / "mermaid"


def mermaid_parse(*files: Path) -> list[dict[str, object]]:
    """Run the real Mermaid parser (`mermaid.parse` under jsdom, in Node) over the files."""
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        command = "npm ci --prefix tests/mermaid"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the Mermaid parser is not installed: run `{command}` (.ci/run does)")
        pytest.skip(f"the Mermaid parser is not installed: run `{command}`")
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run the Mermaid parser"
    r = subprocess.run(
        [node, str(MERMAID / "check.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert results, r.stderr
    return results


def test_committed_mermaid_is_accepted_by_the_real_parser() -> None:
    files = [ROOT / "diagrams" / f"{n}.mmd" for n in diagrams.MACHINES]
    results = mermaid_parse(*files, ROOT / "diagrams" / "README.md")
    assert all(r["ok"] for r in results), results
    assert len(results) == 2 * len(diagrams.MACHINES)  # the files and the README's blocks


def test_in_ci_a_missing_parser_fails_rather_than_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "MERMAID", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="npm ci --prefix"):
        mermaid_parse(ROOT / "diagrams" / "account.mmd")


def test_the_real_parser_refuses_a_broken_diagram(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmd"
    bad.write_text(diagrams.mermaid("account").replace("==>|", "==>|(", 1))
    (result,) = mermaid_parse(bad)
    assert result["ok"] is False and "Parse error" in str(result["error"])


def test_overview_draws_the_main_path_in_words_and_admin_force_once() -> None:
    text = diagrams.mermaid("account")
    assert '  Trading ==>|"a rule fires (flatten)"| Flattening' in text
    for lock in ("Cooldown", "LockedDaily", "LockedWeekly"):
        assert f'Flattening ==>|"broker confirms flat, the strongest hold applies"| {lock}' in text
    assert '  Cooldown ==>|"lock ends (timer)"| Trading' in text
    assert '  LockedWeekly ==>|"lock ends (weekly reset)"| Trading' in text
    assert text.count("admin") == text.count("admin force: any state to any state") + 2
    assert text.count("-.->") == 1  # admin force, once
    for code_name in ("escalates_or_exposed", "admin_to_", "to_daily", "flat_confirmed"):
        assert code_name not in text
    # no stacked self-loops: the overview draws only real moves
    for a in diagrams.arrows("account"):
        assert a.src != a.dst or a.admin


@pytest.mark.parametrize("name", sorted(diagrams.MACHINES))
def test_every_transition_of_the_table_is_listed_in_words(name: str) -> None:
    table = "\n".join(diagrams.transitions_table(name))
    edges = ACCOUNT_EDGES if name == "account" else CONTRACT_EDGES
    assert len(diagrams.transitions_table(name)) == len(edges) + 2
    assert "(stays: internal)" in table
    assert "the new lock is stronger, or a position or order is still open" in table
    assert f"| any state | admin force (authenticated, audited) (`{Trigger.force}`)" in table
    readme = diagrams.readme()
    assert table in readme


def test_legend_follows_each_rules_configured_outcome() -> None:
    default = {r.rule_id: r for r in diagrams.default_legend()}
    assert set(default) == {r.id for r in ALL_RULES}
    assert default["RULE-003"].lock is State.LockedDaily
    assert default["RULE-004"].lock is State.LockedWeekly
    assert default["RULE-018"].lock is State.LockedDaily and default["RULE-018"].action == "flatten"
    assert default["RULE-001"].action == "reduce" and default["RULE-001"].scope == "contract"
    settings = config.parse(
        "[rule.trading_permission]\nlock = lockedweekly\nflatten = false\n"
        "[rule.max_contracts]\naction = flatten\n"
    )
    configured = {r.rule_id: r for r in diagrams.settings_legend(settings)}
    assert configured["RULE-018"].lock is State.LockedWeekly
    assert configured["RULE-018"].action == "lock"
    assert configured["RULE-001"].action == "flatten" and configured["RULE-001"].scope == "account"
    assert configured["RULE-003"].enabled is False
    # the lock nodes list the rules that lead to them, under those settings
    text = diagrams.mermaid("account", list(configured.values()))
    assert 'LockedWeekly(["LockedWeekly<br/>set by RULE-018"])' in text


def test_diagram_account_draws_the_days_path_from_the_audit_log(home: Path) -> None:
    seed_locked_account(home)
    out = home / "review"
    code, text = cli(home, "diagram", "--account", "1001", "--out", str(out))
    assert code == 0, text
    assert "account 1001 is LockedDaily; 2 account transitions and 1 contract" in text
    (mmd,) = out.glob("account-1001-*.mmd")
    body = mmd.read_text()
    assert "class LockedDaily current" in body
    assert '  Trading ==>|"a rule fires (flatten) | 1. ' in body and "RULE-003" in body
    assert body.count("linkStyle") == 2  # breach, then broker confirms flat
    md = mmd.with_suffix(".md").read_text()
    assert "| 1 |" in md and "| 2 |" in md and "contract CON.F.US.MNQ.Z26" in md
    results = mermaid_parse(mmd, mmd.with_suffix(".md"))
    assert all(r["ok"] for r in results), results


def test_a_settings_change_in_the_days_audit_is_drawn_as_a_step_that_keeps_the_state(
    home: Path,
) -> None:
    """A reload (or a held change applied) writes an audit row with trigger 'settings' and the
    same state on both sides: `diagram --account` drew nothing and crashed on it."""
    seed_locked_account(home)
    settings = bootstrap.load_settings(str(home / "settings.ini"))
    store = bootstrap.open_store(settings)
    now = datetime.now(UTC)
    engine, effects, _ = bootstrap.offline_engine(settings, store, now)
    effects += engine.note_settings(now, actor="admin:ops", detail="SETTINGS_TIGHTENED: limit")
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    assert [e.trigger for e in audit] == ["settings"]
    store.commit(engine.take_changes(), audit, engine.marks)
    store.close()
    out = home / "review"
    code, text = cli(home, "diagram", "--account", "1001", "--out", str(out))
    assert code == 0, text
    assert "2 account transitions, 1 settings changes and 1 contract transitions" in text
    (mmd,) = out.glob("account-1001-*.mmd")
    body = mmd.read_text()
    assert '  LockedDaily -->|"settings changed (audit only: state kept) | 3. ' in body
    assert "admin:ops" in body and body.count("linkStyle") == 3
    md = mmd.with_suffix(".md").read_text()
    assert "| LockedDaily | LockedDaily | settings | - | admin:ops | SETTINGS_TIGHTENED" in md
    results = mermaid_parse(mmd, mmd.with_suffix(".md"))
    assert all(r["ok"] for r in results), results


def test_diagram_account_refuses_unknown_accounts_and_bad_days(home: Path) -> None:
    seed_locked_account(home)
    code, text = cli(home, "diagram", "--account", "7")
    assert code != 0 and "unknown account '7' in the database (one of: 1001 " in text
    code, text = cli(home, "diagram", "--account", "1001", "--day", "04/12/2026")
    assert code != 0 and "--day '04/12/2026' is not a date (YYYY-MM-DD)" in text
    code, text = cli(home, "diagram", "--day", "2026-12-04")
    assert code != 0 and "--day needs --account" in text


def test_a_day_without_transitions_draws_the_plain_machine(home: Path) -> None:
    seed_locked_account(home)
    out = home / "review"
    code, text = cli(home, "diagram", "--account", "1001", "--day", "2020-01-02", "--out", str(out))
    assert code == 0, text
    body = (out / "account-1001-2020-01-02.mmd").read_text()
    assert "linkStyle" not in body and "class LockedDaily current" in body


def test_without_graphviz_committed_images_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in diagrams.MACHINES:
        for ext in ("svg", "png"):
            (tmp_path / f"{name}.{ext}").write_bytes(b"committed")
    monkeypatch.setattr(diagrams.shutil, "which", lambda _: None)
    report = diagrams.write(tmp_path)
    for name in diagrams.MACHINES:
        for ext in ("svg", "png"):
            assert (tmp_path / f"{name}.{ext}").read_bytes() == b"committed"
    assert any("kept" in line and "not installed" in line for line in report)


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz (.ci/run installs it)")
def test_svg_and_png_are_drawn_from_the_same_dot(tmp_path: Path) -> None:
    diagrams.write(tmp_path)
    for name in diagrams.MACHINES:
        digest = diagrams.dot_digest((tmp_path / f"{name}.dot").read_text())
        assert digest in (tmp_path / f"{name}.svg").read_text()
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and digest.encode() in png
