"""What a person types for an account: an id or a name, or a refusal naming the choices."""

from __future__ import annotations

import pytest

from fsm_risk.errors import FsmRiskError
from fsm_risk.naming import SHOWN, account_id, choices

TWO = [(1001, "PAPER-1"), (1002, "50KTC-V2-77")]


def refused(text: str, accounts: list[tuple[int, str]], **kw: str) -> str:
    with pytest.raises(FsmRiskError) as exc:
        account_id(text, accounts, **kw)
    return str(exc.value)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("1001", 1001),
        ("PAPER-1", 1001),
        (" 1002 ", 1002),  # pasted with spaces
        ("50ktc-v2-77", 1002),  # the name, in another case
    ],
)
def test_an_id_or_a_name_is_the_account_meant(typed: str, meant: int) -> None:
    assert account_id(typed, TWO) == meant


def test_an_id_wins_over_a_name_that_reads_like_it() -> None:
    assert account_id("1002", [(1001, "1002"), (1002, "B")]) == 1002
    assert account_id("1002", [(1001, "1002")]) == 1001  # no such id: the name


def test_a_typo_is_refused_naming_every_account() -> None:
    text = refused("1010", TWO, where=" on this service")
    assert text == "unknown account '1010' on this service (one of: 1001 PAPER-1, 1002 50KTC-V2-77)"


def test_a_name_two_accounts_share_but_for_case_is_refused_with_their_ids() -> None:
    text = refused("paper-1", [(1, "PAPER-1"), (2, "Paper-1"), (3, "X")])
    assert text == "account 'paper-1' is ambiguous: give its id (one of: 1 PAPER-1, 2 Paper-1)"
    assert account_id("Paper-1", [(1, "PAPER-1"), (2, "Paper-1")]) == 2  # exact case decides


def test_among_many_accounts_the_closest_are_named() -> None:
    many = [(5000 + i, f"TC-{i:04d}") for i in range(1000)]
    text = refused("TC-0421x", many)
    assert text.startswith("unknown account 'TC-0421x' (the closest of 1000: ")
    assert "5421 TC-0421" in text
    assert text.count(",") < SHOWN
    assert "5421 TC-0421" in choices(many, "5421")


def test_with_no_account_known_it_says_so() -> None:
    assert refused("1001", []) == "unknown account '1001' (no account is known yet)"
