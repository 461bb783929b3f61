"""A replayed position record, through the real SDK against the paper gateway's production
profile. Reported: max_contracts 3 on MNQ; the trader bought 5 and the service reduced to 3;
the size-5 record then came again (the real gateway's trimmed shape) and the service reduced
5 -> 3 once more: the gateway held 1, two contracts the trader was allowed, lost. The record
is not acted on: the account is read at once, and the gateway's 3 stands."""

from __future__ import annotations

from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts]
limit = 3
"""
#: the size-5 record as the real gateway trims an incremental one
REPLAYED = {"contractId": MNQ, "type": 1, "size": 5, "averagePrice": 21000.25}


def read_after_doubt(h: Harness) -> bool:
    """The record was held (logged) and a read of the account was applied after it."""
    held = [i for i, m in enumerate(h.logs) if "POSITION_UNCONFIRMED" in m]
    return bool(held) and any("reconciled" in m for m in h.logs[held[0] :])


async def bought_five_reduced_to_three(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 5)
    await h.until(
        lambda: (
            h.position("MNQ") == 3
            and h.acct.net.get(MNQ) == 3
            and h.acct.positions.get(MNQ) is not None
            and h.acct.positions[MNQ].size == 3
            and h.contract_state(MNQ).value == "Trading"
        ),
        "reduced to 3",
    )
    assert len(h.closes("MNQ")) == 1


async def test_a_replayed_larger_position_record_is_read_not_reduced(h: Harness) -> None:
    await bought_five_reduced_to_three(h)
    assert h.gateway.push_record(ACCOUNT, "GatewayUserPosition", REPLAYED) == 1
    await h.until(lambda: read_after_doubt(h) or len(h.closes("MNQ")) > 1, "the record heard")
    assert len(h.closes("MNQ")) == 1 and h.position("MNQ") == 3
    assert h.acct.positions[MNQ].size == 3 and not h.acct.doubted


async def test_a_record_replayed_across_a_hub_reconnect_is_read_not_reduced(h: Harness) -> None:
    await bought_five_reduced_to_three(h)
    assert await h.gateway.drop_websockets("user") == 1
    # pushed as soon as the service's new user-hub connection has subscribed the account
    await h.until(
        lambda: h.gateway.push_record(ACCOUNT, "GatewayUserPosition", REPLAYED) == 1,
        "the user hub back",
    )
    await h.until(lambda: read_after_doubt(h) or len(h.closes("MNQ")) > 1, "the record heard")
    assert len(h.closes("MNQ")) == 1 and h.position("MNQ") == 3
    assert h.acct.positions[MNQ].size == 3 and not h.acct.doubted
