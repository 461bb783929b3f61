"""The sources of holds that are not rules: the engine's fail-safe, an admin, the trader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fsm_risk.core.states import State

ADMIN = "ADMIN"
ENGINE = "ENGINE"
SELF = "SELF"  # the source of a lock the trader placed on their own account (per kind)


def self_source(kind: State) -> str:
    """The hold source of a self-lock of this kind: one per kind, so a shorter lock of a
    stronger kind never replaces a longer weaker one (both are held; the strongest wins)."""
    return f"{SELF}:{kind.value}"


def waived(rule_state: Mapping[str, Mapping[str, Any]], key: str) -> bool:
    """Whether an admin's waiver (by ``rule`` or ``rule@contract``) is held on the account."""
    return key in rule_state.get(ADMIN, {}).get("waivers", {})
