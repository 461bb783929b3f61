"""Secrets never reach logs or output."""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from fsm_risk import logs
from fsm_risk.adapters.broker import Credentials


def test_registered_secrets_and_secret_looking_values_are_masked() -> None:
    logs.register_secret("s3cr3t-api-key-value")
    assert "s3cr3t" not in logs.mask("login failed for key s3cr3t-api-key-value")
    assert logs.mask('{"apiKey": "abcdef123456"}') == '{"apiKey": "***"}'
    assert logs.mask("Authorization: Bearer eyJhbGciOi.x.y") == "Authorization: Bearer ***"
    assert logs.mask("GET /hubs/user?access_token=eyJ.a.b&id=1") == (
        "GET /hubs/user?access_token=***&id=1"
    )


def test_the_log_file_is_json_lines_and_masked(tmp_path: Path) -> None:
    path = tmp_path / "fsm.log"
    logs.setup(path, console=False)
    logs.register_secret("another-very-secret-key")
    logger.info("{} connected with another-very-secret-key", logs.GATEWAY_CONNECTED)
    logger.complete()
    text = path.read_text()
    assert '"FSM:GATEWAY_CONNECTED connected with ***' in text.replace("\\n", "")
    assert "another-very-secret-key" not in text
    logger.remove()


def test_credentials_never_print_their_key() -> None:
    c = Credentials("trader", "the-api-key-1234")
    assert "the-api-key-1234" not in repr(c) and "the-api-key-1234" not in str(c)
