"""A reduce of ours resizes the trader's bracket (real SDK in the service, paper gateway).

The gateway does not resize a trader's orders when a position shrinks. A trader long 5 MNQ
with the platform's bracket (a sell stop of 5 and a take-profit of 5) reduced to 3 by
RULE-001 kept a stop of 5: reached, it sold 5 and left the account short 2, a position the
service's own reduce made. The stop and the take-profit now go to 3 with the reduce."""

from __future__ import annotations

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderStatus
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness


async def test_rule_001_reduce_resizes_the_bracket_and_the_stop_leaves_the_account_flat(
    h: Harness,
) -> None:
    await h.start("[rule.max_contracts]\nlimit = 3\n")
    entry = h.trade("MNQ", "buy", 5, stop_loss_ticks=-40, take_profit_ticks=40)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    [reduce] = h.closes("MNQ")
    assert (reduce.source, reduce.size) == ("partial_close", 2)
    children = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "bracket"]
    assert len(children) == 2

    def sizes() -> list[tuple[int, OrderStatus]]:
        return [(h.gateway.order(c).size, h.gateway.order(c).status) for c in children]

    await h.gw_until(
        lambda: sizes() == [(3, OrderStatus.OPEN)] * 2, "the stop and the target resized to 3"
    )
    # the service hears the gateway's order updates: the orders it holds say 3 as well
    await h.until(
        lambda: sorted(o.size for o in h.acct.orders.values()) == [3, 3], "the updates seen"
    )
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
    assert any("sell stop 5 -> 3" in line for line in h.logs)
    assert any("sell limit 5 -> 3" in line for line in h.logs)
    # the price falls through the stop: it sells the 3 held, and the account ends flat
    stop = next(c for c in children if h.gateway.order(c).stop_price is not None)
    h.gateway.move_price("MNQ", -60)
    await h.gw_until(lambda: h.gateway.order(stop).status == OrderStatus.FILLED, "stop filled")
    assert h.gateway.position(ACCOUNT, MNQ) is None, "the stop reversed the position"
    sold = [
        t.size for t in h.gateway.trades(ACCOUNT) if t.order_id == stop and t.contract_id == MNQ
    ]
    assert sum(sold) == 3
    assert h.gateway.order(entry.order_id).status == OrderStatus.FILLED
    await h.until(lambda: MNQ not in h.acct.positions, "the service sees the account flat")


async def test_a_refused_reduce_gives_the_stop_its_size_back_and_the_retry_resizes_again(
    h: Harness,
) -> None:
    """The gateway refuses the reduce (its maintenance break, a market closed) but takes the
    resize sent with it: 5 held, the stop covering 3. Reached, it sold 3 and left 2 open
    with no stop. The stop now goes back to 5 until the reduce goes through."""
    await h.start("[rule.max_contracts]\nlimit = 3\n")
    h.gateway.reject_orders(lambda r: r.source == "partial_close", "Market is closed")
    h.trade("MNQ", "buy", 5, stop_loss_ticks=-40, take_profit_ticks=40)
    await h.gw_until(lambda: h.closes("MNQ"), "the reduce sent")
    [reduce] = h.closes("MNQ")
    assert (reduce.size, reduce.status) == (2, OrderStatus.REJECTED)
    children = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "bracket"]
    stop = next(c for c in children if h.gateway.order(c).stop_price is not None)

    def sizes() -> list[int]:
        return [h.gateway.order(c).size for c in children]

    # the resize went through with the reduce (3), and is undone once the refusal is heard
    # (the old code left both at 3 beside the 5 held)
    await h.gw_until(lambda: sizes() == [5, 5], "the stop and the target back at 5")
    assert h.position("MNQ") == 5
    await h.until(
        lambda: any("ORDER_RESTORED" in m and "sell stop order" in m for m in h.logs), "alert"
    )
    [alert] = [m for m in h.logs if "ALERT ORDER_RESTORED" in m]
    assert "WARNING" in alert and "3 -> 5" in alert
    # the break ends: the reduce goes again after its backoff, the resize with it
    h.gateway.clear_rejections()
    await h.advance(seconds=3)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    await h.gw_until(lambda: sizes() == [3, 3], "the stop and the target resized again")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
    # the price falls through the stop: it sells the 3 held, and the account ends flat
    h.gateway.move_price("MNQ", -60)
    await h.gw_until(lambda: h.gateway.order(stop).status == OrderStatus.FILLED, "stop filled")
    assert h.gateway.position(ACCOUNT, MNQ) is None
    await h.until(lambda: MNQ not in h.acct.positions, "the service sees the account flat")


async def test_a_take_profit_filled_in_part_is_judged_by_what_it_has_left_to_sell(
    h: Harness,
) -> None:
    """Reported (production profile, resting limits fill in parts): long 4 MNQ with a stop
    of 4 and a take-profit of 4 at 20720; the take-profit filled 2 of 4; then MNQ +2 and MES
    +3, RULE-001 at 5 reduced MNQ by 2 and resized the take-profit "4 -> 2": the gateway read
    the size as the total, 2 filled of 2, nothing left, and at 20720 it sold nothing. Its 2
    left fit the 2 the reduce leaves: it is untouched, the stop cut to 2, and it sells them."""
    await h.start("[rule.max_contracts]\nlimit = 5\n")
    h.gateway.set_price("MNQ", "20700")
    h.trade("MNQ", "buy", 4)
    await h.gw_until(lambda: h.position("MNQ") == 4, "long 4")
    stop = h.trade("MNQ", "sell", 4, type=4, stop_price="20600").order_id
    take = h.trade("MNQ", "sell", 4, type=1, limit_price="20720").order_id
    h.gateway.set_price("MNQ", "20720")  # resting: 2 of 4 fill
    await h.gw_until(lambda: h.position("MNQ") == 2, "the take-profit filled in part")
    held = lambda: getattr(h.acct.positions.get(MNQ), "size", 0)  # noqa: E731
    await h.until(lambda: held() == 2, "the part seen (its order word comes first)")
    h.gateway.set_price("MNQ", "20710")
    h.trade("MES", "buy", 3)
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.gateway.order(stop).size == 2, "the stop cut to 2")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
    await h.until(lambda: not h.enforcing(), "every request of that batch answered")
    assert h.position("MNQ") == 2 and [r.size for r in h.closes("MNQ")] == [2]
    order = h.gateway.order(take)
    assert (order.size, order.fill_volume, order.status) == (4, 2, OrderStatus.OPEN)
    assert not any(f"resize order {take}" in line for line in h.logs)
    h.gateway.set_price("MNQ", "20720")  # the take-profit sells the 2 left
    await h.gw_until(lambda: h.gateway.order(take).status == OrderStatus.FILLED, "filled")
    assert h.gateway.position(ACCOUNT, MNQ) is None, "the take-profit left the account long"
    assert [t.size for t in h.gateway.trades(ACCOUNT) if t.order_id == take] == [2, 2]


async def _entry_filled_in_two_parts(h: Harness, **brackets: int) -> int:
    """MES 2 (a stop beside it); MNQ buy 7 at 20990; 4 fill (6 > 5: reduced by 1 to 3),
    then the 3 more (6 > 5 again: reduced by 3 to 3). The entry's id."""
    await h.start("[rule.max_contracts]\nlimit = 5\n")
    h.trade("MES", "buy", 2)
    h.trade("MES", "sell", 2, type=4, stop_price="5990")
    await h.gw_until(lambda: h.position("MES") == 2, "MES 2")
    entry = h.trade("MNQ", "buy", 7, type=1, limit_price="20990", **brackets).order_id
    return entry


async def _both_parts(h: Harness, entry: int) -> None:
    h.gateway.set_price("MNQ", "20989.75")  # 4 of 7 fill
    await h.gw_until(lambda: h.position("MNQ") == 3, "the first part reduced to 3")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the first reduce confirmed")
    await h.until(lambda: not h.enforcing(), "its resizes answered")
    h.gateway.set_price("MNQ", "20989.50")  # the 3 more
    await h.gw_until(lambda: h.gateway.order(entry).status == OrderStatus.FILLED, "entry filled")
    await h.gw_until(lambda: len(h.closes("MNQ")) == 2 and h.position("MNQ") == 3, "reduced")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the second reduce confirmed")
    await h.until(lambda: not h.enforcing(), "its resizes answered")
    assert [r.size for r in h.closes("MNQ")] == [1, 3]


async def test_a_bracket_on_an_entry_filled_in_parts_is_cut_with_each_reduce(h: Harness) -> None:
    """Reported: the gateway kept the bracket's stop and target at 7 beside the long 3 (the
    old code judged them larger than the position before each reduce, 4 then 6, and left
    them): at 20979.75 the stop sold 7, short 4, and our CLOSE_OVERSHOT bought 4 back. The
    first reduce cuts them to 6 (not yet live: 3 held, 3 to come), the second to 3."""
    entry = await _entry_filled_in_two_parts(h, stop_loss_ticks=-40, take_profit_ticks=80)
    children = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "bracket"]
    await _both_parts(h, entry)
    assert [(h.gateway.order(c).size, h.gateway.order(c).status) for c in children] == [
        (3, OrderStatus.OPEN)
    ] * 2
    assert any("sell stop 7 -> 6" in line for line in h.logs)
    assert any("sell stop 6 -> 3" in line for line in h.logs)
    assert not any("CLOSE_REJECTED" in line or "CLOSE_OVERSHOT" in line for line in h.logs)
    [stop] = [c for c in children if h.gateway.order(c).stop_price is not None]
    h.gateway.set_price("MNQ", "20979.75")  # the stop: it sells the 3 held, flat
    await h.gw_until(lambda: h.gateway.order(stop).status == OrderStatus.FILLED, "stop filled")
    assert h.gateway.position(ACCOUNT, MNQ) is None, "the stop reversed the position"
    await h.until(lambda: MNQ not in h.acct.positions, "the service sees MNQ flat")
    assert len(h.closes("MNQ")) == 2  # nothing of ours bought anything back
    assert not any("CLOSE_OVERSHOT" in line for line in h.logs)


async def test_a_separate_stop_for_the_whole_entry_is_cut_with_each_reduce(h: Harness) -> None:
    entry = await _entry_filled_in_two_parts(h)
    stop = h.trade("MNQ", "sell", 7, type=4, stop_price="20980").order_id
    await _both_parts(h, entry)
    assert h.gateway.order(stop).size == 3
    h.gateway.set_price("MNQ", "20979.75")
    await h.gw_until(lambda: h.gateway.order(stop).status == OrderStatus.FILLED, "stop filled")
    assert h.gateway.position(ACCOUNT, MNQ) is None, "the stop reversed the position"


async def test_a_stop_for_the_whole_working_entry_is_left_alone_with_no_reduce(h: Harness) -> None:
    await h.start("[rule.max_contracts]\nlimit = 5\n")
    entry = h.trade("MNQ", "buy", 5, type=1, limit_price="20990").order_id
    stop = h.trade("MNQ", "sell", 5, type=4, stop_price="20980").order_id
    h.gateway.set_price("MNQ", "20989.75")  # 3 of 5 fill: within the limit
    await h.gw_until(lambda: h.position("MNQ") == 3, "3 filled")
    await h.until(lambda: getattr(h.acct.positions.get(MNQ), "size", 0) == 3, "seen")
    await h.advance(seconds=5)
    assert h.gateway.order(stop).size == 5 and h.closes() == []
    assert h.gateway.order(entry).status == OrderStatus.OPEN


async def test_a_reduce_to_zero_cancels_the_bracket_and_nothing_reopens(h: Harness) -> None:
    """Reported (production profile): short 3 MNQ with the platform's bracket, then ZN 3 and
    MYM 3: gross 9 > 6, RULE-001 reduced MNQ 3 -> 0 and sent no cancel. Flat, the bracket's
    buy stop and buy target of 3 kept working; the price up 12 ticks filled the stop (long 3),
    a false CRITICAL CLOSE_OVERSHOT followed and a second close. Both legs now go with the
    close, and the same move opens nothing."""
    await h.start(
        "[rule.max_contracts]\nlimit = 6\n[rule.max_contracts_per_instrument]\ndefault_limit = 3\n"
    )
    h.trade("MNQ", "sell", 3, stop_loss_ticks=8, take_profit_ticks=-8)
    await h.gw_until(lambda: h.position("MNQ") == 3, "short 3 MNQ")
    children = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "bracket"]
    assert len(children) == 2
    h.trade("ZN", "buy", 3)
    await h.gw_until(lambda: h.position("ZN") == 3, "ZN 3")
    h.trade("MYM", "buy", 3)  # gross 9 > 6: MNQ, first of the largest, 3 -> 0
    await h.gw_until(lambda: h.position("MNQ") == 0, "MNQ closed")
    await h.gw_until(
        lambda: all(h.gateway.order(c).status == OrderStatus.CANCELLED for c in children),
        "the bracket's legs cancelled",
    )
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the close confirmed")
    assert any("reduce CON.F.US.MNQ.Z26 3 -> 0" in line for line in h.logs)
    h.gateway.move_price("MNQ", 12)  # through where the stop was
    h.gateway.move_price("MNQ", -24)  # and where the target was
    await h.until(lambda: not h.enforcing(), "every request answered")
    assert h.position("MNQ") == 0, "a leg left working reopened the position"
    assert len(h.closes("MNQ")) == 1
    assert not any("CLOSE_OVERSHOT" in line for line in h.logs)
    assert h.position("ZN") == 3 and h.position("MYM") == 3
