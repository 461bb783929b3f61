"""A database password holding an '@' written as is (not as %40), as people write them:
``postgresql://bob:PgPass@w0rd@host/db``. SQLAlchemy (and so the store) ends the password at
the FIRST '@' and takes the rest for the host, while the masking hid only up to that '@': what
followed it was shown by `check`, in the store's error (`status`, `lock`, `serve`) and the
log, and never registered for masking (found by a hunt at secrets:
``failed to resolve host 'w0rdXYZ@localhost'``)."""

from __future__ import annotations

import pytest

from fsm_risk import config, logs, schema
from fsm_risk.adapters.store import Store
from fsm_risk.errors import FsmRiskError, SettingsError

URL = "postgresql://bob:PgPass@w0rdXYZ@127.0.0.1:1/risk"
TAIL = "w0rdXYZ"  # the password's part after its '@'


def test_without_password_hides_all_of_it() -> None:
    assert TAIL not in schema.without_password(URL), schema.without_password(URL)


def test_check_and_the_store_do_not_show_it(tmp_path) -> None:
    p = tmp_path / "settings.ini"
    p.write_text(f"[general]\ndatabase = {URL}\n", encoding="utf-8")
    try:
        text = config.describe(config.load(p))
    except SettingsError as exc:  # refused (a fix may refuse it): never repeated
        text = str(exc)
    assert TAIL not in text, text
    with pytest.raises(FsmRiskError) as caught:
        Store(URL)
    assert TAIL not in logs.mask(str(caught.value)), logs.mask(str(caught.value))
