"""Found by a review of 3e32484: before it, `admin set-secret --secret-file` with a file saved
with a BOM (Notepad, PowerShell's `-Encoding UTF8`) stored the secret with its invisible leading
U+FEFF, and every admin command read it back the same way. After it the same unchanged file reads
without the BOM: the stored secret no longer matched, and every admin command (ending a wrong
lock, `set-secret` itself) was refused "wrong admin secret": the admin locked out. What must
hold: the file the secret was set from still proves it, and the secret is then stored again
without the BOM (so the secret without it, typed or from the file, is the admin's from then on)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fsm_risk import bootstrap, cli, config

SECRET = "Sup3r-Secret-Value-1"


def test_a_secret_set_from_a_bom_file_before_the_upgrade_checks_from_the_same_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "settings.ini").write_text("[general]\ndatabase = risk.db\n")
    settings = config.load(tmp_path / "settings.ini")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_bytes(b"\xef\xbb\xbf" + SECRET.encode() + b"\r\n")
    store = bootstrap.open_store(settings)
    try:
        auth = bootstrap.admin_auth(settings, store, lambda: datetime.now(UTC))
        auth.pause = lambda _: None
        # what the version before stored from that file: the BOM kept
        auth.set_secret(secret_file.read_text(encoding="utf-8").strip())
        auth.check(cli._read_secret(str(secret_file), "Admin secret"), "admin")
        assert store.auth_failures_since(datetime(2000, 1, 1, tzinfo=UTC)) == []
        # stored again without it: the clean secret matches, the one with the BOM no more
        assert auth._matches(SECRET, store.admin())
        assert not auth._matches("\ufeff" + SECRET, store.admin())
        auth.check(SECRET, "admin")
    finally:
        store.close()
