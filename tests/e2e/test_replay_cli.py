"""`fsm-risk replay` over a journal in a real database: table, JSON lines, --compare,
--explain, --chart (a real PNG) and the mistakes a person makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsm_risk import bootstrap, config
from fsm_risk.adapters.journal import Journal
from fsm_risk.cli import main
from fsm_risk.core.engine import Changes
from tests.postgres import fresh_database
from tests.unit.test_replay import MORNING

SETTINGS = """
[general]
database = state.db
log_file = fsm.log
[rule.daily_loss_limit]
limit = 300
"""
LOOSE = "[general]\ndatabase = state.db\n[rule.daily_loss_limit]\nlimit = 1000\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "settings.ini").write_text(SETTINGS)
    (tmp_path / "loose.ini").write_text(LOOSE)
    return journal_the_morning(tmp_path)


def journal_the_morning(tmp_path: Path) -> Path:
    """The journal of tests.unit.test_replay's MORNING in the database of settings.ini."""
    settings = bootstrap.load_settings(str(tmp_path / "settings.ini"))
    store = bootstrap.open_store(settings)
    j = Journal()
    for e in MORNING:
        if e.event is None:
            assert e.account_id is not None
            j.start(e.account_id, e.name, e.at)
        else:
            j.record(e.event, e.at)
    store.commit(Changes([], []), journal=j.take(None, force=True))
    store.close()
    return tmp_path


def cli(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["replay", *args, "--settings", str(home / "settings.ini")], catch_exceptions=False
    )
    return result.exit_code, result.output


def test_the_table_shows_firings_blocked_trades_and_pnl_per_day(home: Path) -> None:
    code, out = cli(home, "1001", "--from", "2026-11-23")
    assert code == 0, out
    assert "2026-11-23 09:03:00 CST  RULE-003  flatten  LockedDaily until 2026-11-23 17:00" in out
    assert "buy 1 CON.F.US.MNQ.Z26 @ 19900 (trade 3, LockedDaily)" in out
    assert "2026-11-23      -503.00      -302.00      +201.00        1      1  RULE-003" in out


def test_json_lines_give_each_firing_then_one_summary_per_day(home: Path) -> None:
    code, out = cli(home, "PRAC-1001", "--from", "2026-11-23", "--json")
    assert code == 0, out
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["type"] for x in lines] == ["firing", "blocked", "day"]
    firing, _, day = lines
    assert {k: firing[k] for k in ("rule", "at", "action", "lock", "until")} == {
        "rule": "RULE-003",
        "at": "2026-11-23T15:03:00+00:00",
        "action": "flatten",
        "lock": "LockedDaily",
        "until": "2026-11-23T23:00:00+00:00",
    }
    assert (day["actual_pnl"], day["replay_pnl"], day["blocked_trades"]) == (
        "-503.00",
        "-302.00",
        1,
    )


def test_compare_puts_two_settings_files_side_by_side(home: Path) -> None:
    code, out = cli(home, "1001", "--from", "2026-11-23", "--compare", str(home / "loose.ini"))
    assert code == 0, out
    assert "== settings.ini: 1 firing(s), 1 blocked trade(s)" in out
    assert "== loose.ini: 0 firing(s), 0 blocked trade(s)" in out
    assert "side by side" in out
    assert "-302.00 (1 rules)" in out and "-503.00 (0 rules)" in out


def test_explain_shows_the_events_and_rule_values_behind_a_transition(home: Path) -> None:
    code, out = cli(home, "1001", "--from", "2026-11-23", "--explain", "09:05")
    assert code == 0, out
    assert "at 2026-11-23 09:03:00 CST" in out
    assert "Trading -> Flattening (breach, RULE-003)" in out
    assert "fill #1: buy 2 CON.F.US.MNQ.Z26 @ 20000" in out
    assert "quote CON.F.US.MNQ.Z26: last 19925" in out
    assert "RULE-003" in out.split("rule values then:")[1]


def test_the_chart_is_a_png_with_content(home: Path) -> None:
    png = home / "out.png"
    code, out = cli(
        home,
        "1001",
        "--from",
        "2026-11-23",
        "--chart",
        str(png),
        "--compare",
        str(home / "loose.ini"),
    )
    assert code == 0, out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # curves, shading and labels, not an empty canvas
    from PIL import Image

    with Image.open(png) as img:
        assert img.size == (1100, 500)
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 50


def test_without_a_database_replay_says_where_a_journal_comes_from(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text(SETTINGS)
    code, out = cli(tmp_path, "--from", "2026-11-23")
    assert code != 0
    assert "no database at" in out and "--source gateway" in out
    assert not (tmp_path / "state.db").exists()  # nothing created by looking


def test_replay_reads_the_journal_on_a_postgresql_server(tmp_path: Path) -> None:
    """`[general] database = postgresql://...` is a URL, not a file: replay asked it whether it
    existed and stopped with "unexpected AttributeError: 'str' object has no attribute
    'exists'"."""
    with fresh_database() as url:
        (tmp_path / "settings.ini").write_text(SETTINGS.replace("state.db", url))
        journal_the_morning(tmp_path)
        code, out = cli(tmp_path, "1001", "--from", "2026-11-23")
    assert code == 0, out
    assert "2026-11-23 09:03:00 CST  RULE-003  flatten  LockedDaily until 2026-11-23 17:00" in out
    assert "2026-11-23      -503.00      -302.00      +201.00        1      1  RULE-003" in out


def test_replay_on_a_postgresql_server_goes_to_the_server_not_to_a_file_check(
    tmp_path: Path,
) -> None:
    """No server needed: a server nobody listens for is reached (and said so in one line,
    its password masked) rather than taken for a missing SQLite file or a crash."""
    url = "postgresql://risk:PgPass-SECRET@127.0.0.1:1/fsm"
    (tmp_path / "settings.ini").write_text(SETTINGS.replace("state.db", url))
    result = CliRunner().invoke(
        main, ["replay", "--from", "2026-11-23", "--settings", str(tmp_path / "settings.ini")]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        "error: database postgresql://risk:***@127.0.0.1:1/fsm: cannot be opened"
    )
    assert "AttributeError" not in result.output and "no database at" not in result.output
    assert "SECRET" not in result.output and len(result.output.strip().splitlines()) == 1


def test_only_a_sqlite_file_not_there_yet_is_a_missing_database(tmp_path: Path) -> None:
    def settings(database: str) -> config.Settings:
        return config.parse(f"[general]\ndatabase = {database}\n", str(tmp_path / "s.ini"))

    assert settings("state.db").database_missing
    (tmp_path / "state.db").touch()
    assert not settings("state.db").database_missing
    assert not settings("postgresql://risk@db.example:5432/fsm").database_missing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("9999", "--from", "2026-11-23"), "unknown account '9999' in the journal"),
        (("1001", "--from", "2026-11-30"), "the journal holds nothing of account(s) 1001"),
        (("1001", "--from", "2026-11-23", "--to", "2026-11-20"), "is before --from"),
        (("1001", "--from", "2026-11-23", "--explain", "25:00"), "is not a time HH:MM"),
        (("1001", "--from", "23/11/2026"), "Invalid value for '--from'"),
        (("1001", "--from", "2026-11-23", "--source", "journl"), "'journal', 'gateway'"),
        (("1001", "--from", "2026-11-23", "--compare", "nope.ini"), "settings file not found"),
        (("1001", "--from", "0001-01-01"), "--from/--to: a date out of range"),
        (("1001", "--from", "2026-11-23", "--chart", "/no/such/dir/c.png"), "cannot write it"),
        (("1001", "--from", "9999-12-31"), "--from 9999-12-31: that trading day has not begun yet"),
    ],
)
def test_mistakes_are_refused_with_one_clear_line(
    home: Path, args: tuple[str, ...], message: str
) -> None:
    result = CliRunner().invoke(main, ["replay", *args, "--settings", str(home / "settings.ini")])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_day_not_over_yet_is_replayed_up_to_now_never_into_the_future(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The position is still open now: a rule that would fire later today has not fired."""
    from datetime import timedelta

    from fsm_risk import cli as cli_module
    from tests.unit.test_replay import quote

    (tmp_path / "settings.ini").write_text(
        "[general]\ndatabase = state.db\n[rule.position_hold_time]\nlimit_minutes = 60\n"
    )
    settings = bootstrap.load_settings(str(tmp_path / "settings.ini"))
    store = bootstrap.open_store(settings)
    j = Journal()
    first, *rest = MORNING[:4]  # up to the long 2 MNQ, still open
    assert first.account_id is not None
    j.start(first.account_id, first.name, first.at)
    for e in [*rest, quote("19990", 20)]:
        assert e.event is not None
        j.record(e.event, e.at)
    store.commit(Changes([], []), journal=j.take(None, force=True))
    store.close()
    monkeypatch.setattr(cli_module, "_now", lambda: first.at + timedelta(minutes=30))
    code, out = cli(tmp_path, "1001", "--from", "2026-11-23")
    assert code == 0, out
    assert "0 firing(s)" in out and "RULE-009" not in out, out
    # once the hour has passed, the same replay shows the rule firing
    monkeypatch.setattr(cli_module, "_now", lambda: first.at + timedelta(minutes=90))
    code, out = cli(tmp_path, "1001", "--from", "2026-11-23")
    assert code == 0 and "RULE-009" in out, out
