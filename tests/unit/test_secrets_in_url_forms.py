"""URL forms of a database password that the connection reads, hidden from view too.

Found by a review of the first fix (which matched a parameter's name as written and its value
up to a ``#``):

SQLAlchemy (`make_url`, what `Store` connects with) percent-decodes query KEYS and takes the
whole rest of the URL as the query (a ``#`` is part of the value), so
- ``?pass%77ord=S`` is the password S: shown whole, not registered for masking;
- ``?password=abc#TAILsecret`` is the password ``abc#TAILsecret``: shown as ``***#TAILsecret``
  and only ``abc`` (3 chars: too short to register) is masked."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from fsm_risk import config, logs, schema
from fsm_risk.adapters.store import Store
from fsm_risk.errors import FsmRiskError

ENCODED_KEY = "postgresql://127.0.0.1:1/fsm?user=bob&pass%77ord=ENCkeySecret9"
HASH_IN_VALUE = "postgresql://127.0.0.1:1/fsm?user=bob&password=abc#TAILsecret9"


@pytest.mark.parametrize(
    ("url", "secret"), [(ENCODED_KEY, "ENCkeySecret9"), (HASH_IN_VALUE, "TAILsecret9")]
)
def test_the_connection_password_is_not_shown(url: str, secret: str) -> None:
    real = dict(make_url(url).query)["password"]  # what the connection is given
    assert secret in real
    shown = schema.without_password(url)
    assert secret not in shown, shown


@pytest.mark.parametrize(
    ("url", "secret"), [(ENCODED_KEY, "ENCkeySecret9"), (HASH_IN_VALUE, "TAILsecret9")]
)
def test_check_and_store_where_do_not_show_it(tmp_path, url: str, secret: str) -> None:
    p = tmp_path / "settings.ini"
    p.write_text(f"[general]\ndatabase = {url}\n", encoding="utf-8")
    text = config.describe(config.load(p))
    line = next(ln for ln in text.splitlines() if ln.lstrip("# ").startswith("database"))
    with pytest.raises(FsmRiskError) as caught:
        Store(url)  # port 1: nothing listens
    assert secret not in line, line
    assert secret not in logs.mask(str(caught.value))  # the store's error, as printed
    assert secret not in logs.mask(f"the password is {make_url(url).query['password']}")
