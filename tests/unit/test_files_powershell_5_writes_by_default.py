"""Found by a review of 3e32484: the README says settings, credentials and a `--secret-file` may
be saved "as Notepad and PowerShell save them", but Windows PowerShell 5's own default (``>`` and
`Out-File`) is UTF-16 LE with a BOM: such a credentials file stopped `serve` with "unexpected
UnicodeDecodeError" (the Windows service restarting it to the same end, no account watched), a
settings file was refused, a secret file stopped `admin set-secret` with an unexpected error.
What must hold: a file PowerShell 5 writes by default is read as the same credentials, settings
and secret (a BOM says the encoding), and a file in no encoding read here is refused with a
message naming the encoding to save it in, never an unexpected error."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from fsm_risk import cli, config, runtime
from fsm_risk.errors import FsmRiskError


def powershell_5_out_file(path: Path, text: str) -> None:
    """What `$text | Out-File path` (and `>`) writes in Windows PowerShell 5: UTF-16 LE, BOM,
    CRLF."""
    path.write_bytes(b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))


def test_a_credentials_file_powershell_5_writes_by_default_gives_its_username(
    tmp_path: Path,
) -> None:
    creds = tmp_path / "credentials"
    powershell_5_out_file(creds, "username = trader1\napi_key = k3y-0123456789\n")
    (tmp_path / "settings.ini").write_text(f"[broker]\ncredentials_file = {creds}\n")
    found = runtime.credentials(config.load(tmp_path / "settings.ini"))
    assert found is not None and found.username == "trader1"
    assert found.api_key == "k3y-0123456789"


def test_a_settings_file_powershell_5_writes_by_default_loads_as_the_same_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "settings.ini"
    powershell_5_out_file(path, "[rule.daily_loss_limit]\nlimit = 250\n")
    got = config.load(path).rule("daily_loss_limit")
    assert got is not None and got.values["limit"] == Decimal("250")


def test_a_secret_file_powershell_5_writes_by_default_is_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    powershell_5_out_file(path, "Sup3r-Secret-Value-1\n")
    assert cli._read_secret(str(path), "Admin secret") == "Sup3r-Secret-Value-1"


def test_a_credentials_file_in_another_encoding_is_refused_naming_the_one_to_save_in(
    tmp_path: Path,
) -> None:
    creds = tmp_path / "credentials"
    creds.write_bytes("username = tr\u00e4der\napi_key = k3y-0123456789\n".encode("cp1252"))
    (tmp_path / "settings.ini").write_text(f"[broker]\ncredentials_file = {creds}\n")
    with pytest.raises(FsmRiskError) as refused:
        runtime.credentials(config.load(tmp_path / "settings.ini"))
    assert "save it as UTF-8" in str(refused.value)
    assert str(creds) in str(refused.value) and "k3y" not in str(refused.value)


def test_a_secret_file_in_another_encoding_is_refused_naming_the_one_to_save_in(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secret.txt"
    path.write_bytes("Sup3r-S\u00e9cret-Value-1\n".encode("cp1252"))
    with pytest.raises(FsmRiskError, match="save it as UTF-8"):
        cli._read_secret(str(path), "Admin secret")
