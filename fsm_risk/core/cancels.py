"""Our cancels of the trader's orders that go unconfirmed while the scope is locked or
flattening: an order that would open a position or add to one (an entry, a reversal) stays
working at the gateway, each cancel refused or none answered. Filled, it opens what the lock
forbids; until it is gone the account is not enforcing as it should (`status`, /readyz and
the dashboard say so, as they say a close unconfirmed past a close timeout).

A cancel a lock or flatten asked stands only while one covers the order: once its scope trades
again the order is the trader's, and what was asked of it is dropped (`lifted`): not re-sent,
and a new lock cancels it afresh, on sight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fsm_risk.core.exposure import reduces
from fsm_risk.core.instruments import covers
from fsm_risk.core.models import AccountModel
from fsm_risk.core.states import State


@dataclass(frozen=True, slots=True)
class StuckCancel:
    """A cancel of ours unconfirmed past a close timeout: the order, its contract, since
    when we have asked it gone (our first cancel of it) and whether the gateway's last
    answer was a refusal (else none came, or the request limit turned it away)."""

    order_id: int
    contract_id: str
    since: datetime
    refused: bool


def unconfirmed_cancels(acct: AccountModel, now: datetime, timeout: timedelta) -> list[StuckCancel]:
    """The account's working orders (the trader's, not ours) that would open or add to a
    position, in a scope that is locked or flattening, whose cancel has gone unconfirmed
    longer than ``timeout``: counted from our first cancel of each, for the re-sends that
    follow a refusal move ``cancel_sent_at`` on. An exit that only reduces the position is
    not one (a market exit held back is the pursuit's `held_since`); nor is an order left in
    a scope that is trading again. Cheap: only orders with a cancel of ours are looked at."""
    out = []
    for o in acct.orders.values():
        since = o.cancel_since
        if since is None or o.cancel_sent_at is None or now - since <= timeout:
            continue
        if o.order_id in acct.own_orders or reduces(acct, o) or not locked(acct, o.contract_id):
            continue
        out.append(StuckCancel(o.order_id, o.contract_id, since, o.cancel_refused))
    return sorted(out, key=lambda c: c.order_id)


def lifted(acct: AccountModel) -> bool:
    """Drop the cancels a lock or flatten asked of the trader's orders (``lock_cancel``) that
    no locked or flattening scope covers any more (the lock ended, by its deadline, its
    condition or the admin; a leg of a position we closed stays cancelled): none is re-sent, a
    refusal still on its way is no failure of ours, and the next lock's cancel goes at once
    and is counted from then. True when one was dropped (the account's row changed)."""
    dropped = False
    for o in acct.orders.values():
        if o.cancel_sent_at is None or not o.lock_cancel or o.order_id in acct.own_orders:
            continue
        if not locked(acct, o.contract_id):
            o.cancel_sent_at, o.cancel_since, o.cancel_attempts = None, None, 0
            o.cancel_refused, o.lock_cancel, dropped = False, False, True
    return dropped


def locked(acct: AccountModel, contract_id: str) -> bool:
    """Whether the account, or a contract scope covering ``contract_id`` (the contract, or
    a symbol root an admin locked), is locked or flattening."""
    return acct.state is not State.Trading or any(
        cm.state is not State.Trading and covers(cm.contract_id, contract_id)
        for cm in acct.contracts.values()
    )
