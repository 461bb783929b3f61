"""Found by a review of 581b98f: a password the driver reads as written (a '?' in it, before
the '@') is hidden and registered for masking as it was before that fix."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from fsm_risk.schema import database, url_secrets, without_password

URL = "postgresql://bob:Pa?ss@host/risk"


def test_a_password_holding_a_question_mark_is_hidden_and_registered() -> None:
    assert make_url(URL).password == "Pa?ss"  # what the connection is made with
    assert database(URL) == URL  # accepted by check
    shown = without_password(URL)
    assert "Pa?ss" not in shown, f"the password shown in clear: {shown}"
    assert "Pa?ss" in url_secrets(URL), f"not registered for masking: {url_secrets(URL)}"


def test_the_at_fix_still_holds() -> None:
    at = "postgresql://bob:PgPass@w0rdXYZ@host/risk"
    assert "w0rdXYZ" not in without_password(at)
    assert "PgPass@w0rdXYZ" in url_secrets(at)
    query = "postgresql://bob:pw@host/risk?application_name=a@b"
    assert without_password(query) == "postgresql://bob:***@host/risk?application_name=a@b"
