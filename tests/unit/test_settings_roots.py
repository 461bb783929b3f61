"""The roots named in per-root settings: a contract's name is refused naming its root (it used
to be taken as a root of that name, leaving the root meant at its default), and a root the
service does not know is accepted but named (a typo, or a real root its table lacks)."""

from __future__ import annotations

import pytest

from fsm_risk import config, schema
from fsm_risk.core.instruments import KNOWN_ROOTS, PRODUCT_CODES
from fsm_risk.errors import SettingsError

RULE_002 = "[rule.max_contracts_per_instrument]\n"


def load(rules: str) -> config.Settings:
    return config.parse(rules, "/tmp/settings.ini")


def refusal(rules: str) -> str:
    with pytest.raises(SettingsError) as exc:
        load(rules)
    [problem] = exc.value.problems
    return str(problem)


@pytest.mark.parametrize(
    ("typed", "root"),
    [
        ("MNQZ6", "MNQ"),
        ("MNQZ26", "MNQ"),
        ("mnqz26", "MNQ"),
        ("MNQ Z26", "MNQ"),
        ("MNQ.Z26", "MNQ"),
        ("CON.F.US.MNQ.Z26", "MNQ"),
        ("ENQH7", "NQ"),  # the gateway's code: its root
        ("CON.F.US.ENQ.Z26", "NQ"),
        ("6EM6", "6E"),
        ("ESZ2026", "ES"),
    ],
)
def test_a_contract_named_as_a_per_root_limit_is_refused_naming_its_root(
    typed: str, root: str
) -> None:
    text = refusal(f"{RULE_002}limits = {typed}: 1, MES: 2\n")
    assert text == (
        "/tmp/settings.ini: [rule.max_contracts_per_instrument] limits: "
        f"'{typed}' looks like a contract; per-root limits take the root: {root}"
    )


def test_the_stop_and_target_overrides_and_the_block_list_refuse_a_contract_too() -> None:
    assert refusal("[rule.position_stop_loss]\nlimits = NQZ6: 300\n").endswith(
        "limits: 'NQZ6' looks like a contract; per-root limits take the root: NQ"
    )
    assert refusal("[rule.position_take_profit]\ntargets = CON.F.US.EP.Z26: 300\n").endswith(
        "targets: 'CON.F.US.EP.Z26' looks like a contract; per-root targets take the root: ES"
    )
    assert refusal("[rule.symbol_block]\nroots = CL, GCZ6\n").endswith(
        "roots: 'GCZ6' looks like a contract; blocked roots take the root: GC"
    )


def test_no_root_or_product_code_the_service_knows_looks_like_a_contract() -> None:
    # EU6, MX6, SF6... end in a month code and a digit, but are the gateway's codes
    for name in (*KNOWN_ROOTS, *PRODUCT_CODES):
        assert schema.contract_root(name) is None, name
    s = load(f"{RULE_002}limits = EU6: 1, MX6: 1, M2K: 2, 6J: 3\n")
    rule = s.rule("max_contracts_per_instrument")
    assert rule is not None and rule.values["limits"] == {"6E": 1, "6M": 1, "M2K": 2, "6J": 3}


def test_an_unknown_root_is_kept_and_named_once_per_key() -> None:
    s = load(
        f"{RULE_002}limits = MESS: 2, ZZZ: 1, MNQ: 1, ENQ: 1\n"
        "[rule.symbol_block]\nroots = G*, QQQ, CL\n"
    )
    rule = s.rule("max_contracts_per_instrument")
    assert rule is not None and rule.config.limit_for("MESS") == 2  # accepted as written
    assert config.unknown_roots(s) == [
        "[rule.max_contracts_per_instrument] limits: MESS is not a root the service knows "
        "(did you mean MES?); kept, it holds only on contracts whose root is MESS",
        "[rule.max_contracts_per_instrument] limits: ZZZ is not a root the service knows; "
        "kept, it holds only on contracts whose root is ZZZ",
        "[rule.symbol_block] roots: QQQ is not a root the service knows; "
        "kept, it holds only on contracts whose root is QQQ",
    ]


def test_settings_naming_only_known_roots_and_codes_have_nothing_to_say() -> None:
    s = load(
        f"{RULE_002}limits = MNQ: 1, ENQ: 1, 6E: 1, MBT: 1\n"
        "[rule.position_stop_loss]\nlimits = GC: 300\n[rule.symbol_block]\nroots = CL*, ?M\n"
    )
    assert config.unknown_roots(s) == []
