"""Found by a hunt of reloads and receivers: settings.ini and the broker credentials file as
Windows tools save them (Notepad's "UTF-8 with BOM", Windows PowerShell 5's `Set-Content
-Encoding UTF8`), with CRLF line ends. The BOM is invisible in every editor: a start or a reload
must read such a file as the same settings (it was refused with "line 1: a key outside any
[section]", and the service refused to start), and the credentials as the same credentials."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fsm_risk import config, runtime

BOM = "\ufeff"
TEXT = (
    "# fsm-risk settings\r\n"
    "[general]\r\ndatabase = var/fsm-risk.db\r\n"
    "[rule.daily_loss_limit]\r\nlimit = 300\r\n"
)


def test_a_settings_file_saved_with_a_bom_loads_as_the_same_settings(tmp_path: Path) -> None:
    plain, bom = tmp_path / "plain.ini", tmp_path / "settings.ini"
    plain.write_text(TEXT, encoding="utf-8", newline="")
    bom.write_text(BOM + TEXT, encoding="utf-8", newline="")
    want = config.load(plain).rule("daily_loss_limit")
    got = config.load(bom).rule("daily_loss_limit")
    assert want is not None and got is not None
    assert got.enabled and got.values["limit"] == want.values["limit"] == Decimal("300")


def test_a_settings_file_starting_with_its_section_after_a_bom_loads(tmp_path: Path) -> None:
    bom = tmp_path / "settings.ini"
    bom.write_text(BOM + "[rule.daily_loss_limit]\r\nlimit = 250\r\n", encoding="utf-8")
    got = config.load(bom).rule("daily_loss_limit")
    assert got is not None and got.values["limit"] == Decimal("250")


def test_a_credentials_file_saved_with_a_bom_gives_its_username(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text(BOM + "username = trader1\r\napi_key = k3y-0123456789\r\n", encoding="utf-8")
    (tmp_path / "settings.ini").write_text(
        f"[broker]\ncredentials_file = {creds}\n", encoding="utf-8"
    )
    found = runtime.credentials(config.load(tmp_path / "settings.ini"))
    assert found is not None and found.username == "trader1"
    assert found.api_key == "k3y-0123456789"
