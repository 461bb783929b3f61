"""Secrets never reach output: a database password written as a libpq query parameter
(``?password=``), and a secret on a settings line missing its ``=``.

Found by a hunt: ``without_password`` hid only ``user:pass@``, so a ``?password=`` reached
`Store.where` and with it the "state NOT saved" alert (sent as a notification), the replies of
``lock``, ``transition`` and ``reload``, ``check`` and the lock files; and the settings
parser's error repeated a line such as ``token WEBTOKEN...`` whole (``check``, ``serve``, and
a reload's log lines)."""

from __future__ import annotations

import pytest

from fsm_risk import config, schema
from fsm_risk.errors import SettingsError

# libpq's documented URI form with the password as a query parameter
QUERY_DSN = "postgresql://127.0.0.1:5432/fsm?user=bob&password=DBPASSw0rd"
WEB_TOKEN = "WEBTOKENsecret1234567"


def test_where_hides_a_query_password() -> None:
    # `Store.where` (messages, alerts, notifications, control replies, lock files) is this
    shown = schema.without_password(QUERY_DSN)
    assert "DBPASSw0rd" not in shown, shown


def test_check_hides_a_query_password(tmp_path) -> None:
    p = tmp_path / "settings.ini"
    p.write_text(f"[general]\ndatabase = {QUERY_DSN}\n", encoding="utf-8")
    text = config.describe(config.load(p))
    line = next(ln for ln in text.splitlines() if "database" in ln and "://" in ln)
    assert "DBPASSw0rd" not in text, line


def test_query_password_is_registered_for_masking() -> None:
    # the log and the CLI's errors mask only what is registered or matches their patterns;
    # the store registers `url.password`, which is None for this form
    from fsm_risk import logs
    from fsm_risk.adapters.store import Store
    from fsm_risk.errors import FsmRiskError

    refused = "postgresql://127.0.0.1:1/fsm?user=bob&password=Q1pw-refused"
    with pytest.raises(FsmRiskError):
        Store(refused)  # port 1: nothing listens; the password is registered before
    assert "Q1pw-refused" not in logs.mask("the password is Q1pw-refused")


def test_settings_line_without_equals_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        config.parse(f"[web]\ntoken {WEB_TOKEN}\n", "settings.ini")
    assert WEB_TOKEN not in str(caught.value), str(caught.value)


def test_paper_api_key_line_without_equals_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        config.parse("[paper]\napi_key SEKRETapiKEY7f3a9c\n", "settings.ini")
    assert "SEKRETapiKEY7f3a9c" not in str(caught.value), str(caught.value)
