"""Found by a review of 156f80b: the keyword-form refusal looked for a keyword only at the start
or after a space, so the ``;`` forms a Windows admin is handed (Azure's "ADO.NET" string,
Npgsql's ``Database=...;Host=...;Password=...``) were taken for a SQLite file name (`check`
printed the password; `serve` would run on a new local file), and a keyword form whose password
holds ``://`` was refused by quoting all before it, password included. What must hold: each is
refused as no file, and its password is never printed by `fsm-risk check` nor quoted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fsm_risk import config
from fsm_risk.errors import SettingsError

SECRET = "Pg-Pass-9f3kQ2"
#: Npgsql / ADO.NET (Azure's portal, "ADO.NET" connection string)
ADONET = (
    f"Server=fsm.postgres.database.azure.com;Database=fsm_risk;Port=5432;"
    f"User Id=fsm@fsm;Password={SECRET};Ssl Mode=Require;"
)
NPGSQL = f"Database=fsm_risk;Host=db.internal;Username=fsm_risk;Password={SECRET}"
#: libpq's keyword form, the password holding '://' (generated passwords hold ':' and '/')
SLASHED = "host=db.internal dbname=fsm_risk user=fsm_risk password=Pg-Pass://9f3kQ2"


@pytest.mark.parametrize("value", [ADONET, NPGSQL])
def test_check_never_prints_a_database_password_in_the_semicolon_form(
    tmp_path: Path, value: str
) -> None:
    (tmp_path / "settings.ini").write_text(
        f"[general]\ndatabase = {value}\n[paper]\nport = 0\n[web]\nport = 0\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "fsm_risk", "check", "--settings", str(tmp_path / "settings.ini")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert SECRET not in out.stdout + out.stderr


@pytest.mark.parametrize("value", [ADONET, NPGSQL])
def test_a_semicolon_form_database_is_refused_as_no_file(tmp_path: Path, value: str) -> None:
    (tmp_path / "settings.ini").write_text(f"[general]\ndatabase = {value}\n")
    with pytest.raises(SettingsError) as refused:
        config.load(tmp_path / "settings.ini")
    assert SECRET not in str(refused.value)


def test_a_keyword_form_whose_password_holds_a_scheme_separator_is_never_quoted(
    tmp_path: Path,
) -> None:
    (tmp_path / "settings.ini").write_text(f"[general]\ndatabase = {SLASHED}\n")
    with pytest.raises(SettingsError) as refused:
        config.load(tmp_path / "settings.ini")
    assert "Pg-Pass" not in str(refused.value)


@pytest.mark.parametrize(
    "value",
    [
        r"C:\ProgramData\fsm-risk\risk.db",
        "var/host=a.db",
        r"D:\Trading data\user=john\risk.db",
        "risk;old.db",
    ],
)
def test_a_file_name_with_a_keyword_after_a_folder_is_still_a_file(
    tmp_path: Path, value: str
) -> None:
    (tmp_path / "settings.ini").write_text(f"[general]\ndatabase = {value}\n")
    assert isinstance(config.load(tmp_path / "settings.ini").database, Path)


def test_an_unknown_scheme_is_still_named() -> None:
    (message,) = [str(e) for e in _refusals("mysql://fsm:Pg-Pass@db/fsm_risk")]
    assert "got a 'mysql://' URL" in message and "Pg-Pass" not in message


def _refusals(value: str) -> list[SettingsError]:
    try:
        config.parse(f"[general]\ndatabase = {value}\n")
    except SettingsError as exc:
        return [exc]
    return []
