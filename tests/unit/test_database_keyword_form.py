"""Found by a hunt of reloads and receivers: a PostgreSQL connection written in libpq's keyword
form (``host=... dbname=... password=...``, what ``psql`` and hosting panels hand out beside the
URL) in ``[general] database`` was taken for a SQLite file name: `fsm-risk check` printed it,
password and all, and `serve` ran on a new local SQLite file, not the shared server and its
locks. It must be refused, naming the URL form, and its password never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fsm_risk import config
from fsm_risk.errors import SettingsError

SECRET = "Pg-Pass-9f3kQ2"
KEYWORDS = f"host=db.internal dbname=fsm_risk user=fsm_risk password={SECRET}"


def test_check_refuses_the_keyword_form_and_never_prints_its_password(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text(
        f"[general]\ndatabase = {KEYWORDS}\n[paper]\nport = 0\n[web]\nport = 0\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "fsm_risk", "check", "--settings", str(tmp_path / "settings.ini")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert SECRET not in out.stdout + out.stderr
    assert out.returncode != 0
    assert "postgresql://" in out.stderr


@pytest.mark.parametrize(
    "value", [KEYWORDS, f"password={SECRET} host=db", "dbname=risk", "host = db user=u"]
)
def test_a_keyword_form_database_is_refused_as_no_file(tmp_path: Path, value: str) -> None:
    (tmp_path / "settings.ini").write_text(f"[general]\ndatabase = {value}\n")
    with pytest.raises(SettingsError) as refused:
        config.load(tmp_path / "settings.ini")
    assert "keyword form" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_file_name_holding_an_equals_sign_is_still_a_file(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text("[general]\ndatabase = var/risk=2.db\n")
    assert config.load(tmp_path / "settings.ini").database == tmp_path / "var/risk=2.db"
