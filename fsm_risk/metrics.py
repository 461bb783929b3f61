"""Prometheus metrics of one running service, in a registry of its own.

Counters and the enforcement latency histogram are updated as the service reports what it
committed and executed (`observe`); states, rule usage, feed health, the request budget, the
event queue and the notifier are read from the service when Prometheus scrapes ``/metrics``.

Names (all prefixed ``fsm_risk_``):

- ``account_state{account,state}``: 1 for the account's current state, 0 for the others
- ``rule_usage_ratio{account,rule,name}``: each rule's usage as ``fsm-risk status`` shows it
- ``enforcement_latency_seconds{action}``: from the committed decision to the gateway's answer
  (a close never sent, no longer wanted once its turn in the request budget came, is not in it)
- ``closes_sent_total``, ``closes_retried_total``, ``closes_confirmed_total``,
  ``cancels_sent_total``, ``enforcement_rejected_total``, ``enforcement_failed_total``
  (all by ``account``; a close, cancel or resize counted as sent once it went: one dropped
  unsent while it waited for the request budget is not)
- ``refused_payloads_total{kind}``: payloads the boundary refused, by kind
- ``feed_healthy``, ``market_hub_connected``, ``user_hub_connected{account}``,
  ``feed_silent_contracts``, ``feed_reconnects``, ``reads_failing`` (accounts whose reads of
  the gateway keep failing)
- ``request_budget_left``: REST requests left in the current window (enforcement included)
- ``event_queue_depth``: events waiting for the engine
- ``events_handled_total``
- ``notifications_sent_total``, ``notifications_failed_total``, ``notifications_queued``
- ``ready``: 1 while the service is connected and logged in, every account reconciled and
  enforcing (see
  ``/readyz``)
- ``account_ready{account}``: 1 while the account enforces as it should (reconciled since
  start, no close unconfirmed past a close timeout, its reads answered, nothing holding the
  whole service back: `status`'s readiness 'ready' or 'enforcing'), 0 otherwise;
  ``accounts_ready``: how many are
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fsm_risk.adapters.broker import Malformed
from fsm_risk.core.effects import (
    Alert,
    CancelOrder,
    ClosePosition,
    RecordTransition,
    ReducePosition,
    ResizeOrder,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.observe import Committed, Enforced, Observed

if TYPE_CHECKING:
    from fsm_risk.notify import Notifier
    from fsm_risk.service import Service

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """A service observer holding the service's Prometheus registry."""

    def __init__(self, service: Service, notifier: Notifier | None = None) -> None:
        self.service = service
        self.notifier = notifier
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.latency = Histogram(
            "fsm_risk_enforcement_latency_seconds",
            "Seconds from the committed decision to the gateway's answer to the request",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.closes_sent = Counter(
            "fsm_risk_closes_sent", "Close and partial-close requests sent", ["account"], registry=r
        )
        self.closes_retried = Counter(
            "fsm_risk_closes_retried",
            "Close requests re-sent because the first was not confirmed",
            ["account"],
            registry=r,
        )
        self.closes_confirmed = Counter(
            "fsm_risk_closes_confirmed",
            "Contracts confirmed flat by the gateway after a close (no position, no order)",
            ["account"],
            registry=r,
        )
        self.cancels_sent = Counter(
            "fsm_risk_cancels_sent", "Cancel requests sent", ["account"], registry=r
        )
        self.resizes_sent = Counter(
            "fsm_risk_orders_resized",
            "Resize requests sent for trader orders a reduce left larger than the position",
            ["account"],
            registry=r,
        )
        self.rejected = Counter(
            "fsm_risk_enforcement_rejected",
            "Close, cancel or resize requests the gateway rejected",
            ["account"],
            registry=r,
        )
        self.failed = Counter(
            "fsm_risk_enforcement_failed",
            "Close or cancel requests that failed before any answer",
            ["account"],
            registry=r,
        )
        self.refused = Counter(
            "fsm_risk_refused_payloads",
            "Gateway payloads refused at the boundary (logged and skipped), by kind",
            ["kind"],
            registry=r,
        )
        self.events = Counter("fsm_risk_events_handled", "Events the engine handled", registry=r)
        r.register(_Scraped(self))

    def observe(self, item: Observed) -> None:
        if isinstance(item, Committed):
            for it in item.items:
                if isinstance(it, Malformed):
                    self.refused.labels(it.kind).inc()
                elif it is not None:
                    self.events.inc()
            for e in item.effects:
                if (
                    isinstance(e, RecordTransition)
                    and e.entry.trigger == "flat_confirmed"
                    and e.entry.contract_id is not None  # one per contract made flat
                ):
                    self.closes_confirmed.labels(str(e.entry.account_id)).inc()
                elif isinstance(e, Alert) and e.reason is Reason.CLOSE_REJECTED:
                    self.rejected.labels(str(e.account_id)).inc()
        elif isinstance(item, Enforced) and item.sent:  # (one never sent had no answer)
            e, account = item.effect, str(item.effect.account_id)
            if isinstance(e, ClosePosition | ReducePosition):  # counted once it went
                self.closes_sent.labels(account).inc()
                if e.attempt > 1:
                    self.closes_retried.labels(account).inc()
            elif isinstance(e, CancelOrder):
                self.cancels_sent.labels(account).inc()
            else:
                self.resizes_sent.labels(account).inc()
            action = {
                ClosePosition: "close",
                ReducePosition: "reduce",
                CancelOrder: "cancel",
                ResizeOrder: "resize",
            }[type(item.effect)]
            self.latency.labels(action).observe(item.seconds)
            if item.failed:
                self.failed.labels(account).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def start(self, service: Service) -> None:
        return None

    async def stop(self) -> None:
        return None


class _Scraped(Collector):
    """Values read from the service at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        from fsm_risk import status

        service = self.m.service
        engine = service.engine
        now = service.clock.now()
        states = GaugeMetricFamily(
            "fsm_risk_account_state",
            "1 for the account's current state",
            labels=["account", "state"],
        )
        usage = GaugeMetricFamily(
            "fsm_risk_rule_usage_ratio",
            "How much of each rule's limit is used (1 = at the limit), as `status` shows",
            labels=["account", "rule", "name"],
        )
        snap = status.snapshot(
            engine, now, [a for a in service.account_ids if a in engine.accounts]
        )
        for a in snap["accounts"]:
            account = str(a["account_id"])
            for s in State:
                states.add_metric([account, s.value], 1.0 if a["state"] == s.value else 0.0)
            for r in a["rules"]:
                usage.add_metric([account, r["id"], r["name"]], float(r["fraction"]))
        yield states
        yield usage
        health: dict[str, Any] = service.health()
        yield _gauge("fsm_risk_feed_healthy", "1 while every feed is healthy", health["healthy"])
        yield _gauge(
            "fsm_risk_market_hub_connected",
            "1 while the market hub is connected",
            health["market_hub"],
        )
        hubs = GaugeMetricFamily(
            "fsm_risk_user_hub_connected",
            "1 while the account's user hub is connected",
            labels=["account"],
        )
        for account, up in health["user_hub"].items():
            hubs.add_metric([account], 1.0 if up else 0.0)
        yield hubs
        yield _gauge(
            "fsm_risk_feed_silent_contracts",
            "Watched contracts with no quote for longer than feed_silence_seconds",
            len(health["silent_contracts"]),
        )
        yield _gauge(
            "fsm_risk_feed_reconnects", "Feed reconnects since start", health["reconnects"]
        )
        budget = service.broker.budget
        yield _gauge(
            "fsm_risk_request_budget_left",
            "REST requests left in the current window (enforcement included)",
            budget.limit - budget.used,
        )
        yield _gauge(
            "fsm_risk_event_queue_depth", "Events waiting for the engine", service.queue.qsize()
        )
        yield _gauge(
            "fsm_risk_ready",
            "1 while connected, every account reconciled and enforcing",
            ready(service)[0],
        )
        each = GaugeMetricFamily(
            "fsm_risk_account_ready",
            "1 while the account enforces as it should: reconciled since start, no close "
            "unconfirmed past a close timeout, its reads answered",
            labels=["account"],
        )
        enforcing = service.enforcing()
        for account_id in service.account_ids:
            each.add_metric([str(account_id)], float(account_id in enforcing))
        yield each
        yield _gauge(
            "fsm_risk_accounts_ready",
            "Accounts enforcing as they should (see fsm_risk_account_ready)",
            len(enforcing),
        )
        yield _gauge(
            "fsm_risk_reads_failing",
            "Accounts whose reads of the gateway keep failing (their state unconfirmed)",
            len(health["reads_failing"]),
        )
        n = self.m.notifier
        sent = CounterMetricFamily("fsm_risk_notifications_sent", "Notifications delivered")
        failed = CounterMetricFamily(
            "fsm_risk_notifications_failed",
            "Notifications not delivered: refused after every retry, or not answered in time",
        )
        sent.add_metric([], n.health.sent if n else 0)
        failed.add_metric([], n.health.failed if n else 0)
        yield sent
        yield failed
        yield _gauge(
            "fsm_risk_notifications_queued",
            "Notifications waiting to be sent or being sent, one per URL",
            n.queued if n else 0,
        )


def _gauge(name: str, doc: str, value: float | bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def ready(service: Service) -> tuple[bool, dict[str, bool]]:
    """The service's own readiness and its checks (`Service.verdict`, the one answer)."""
    return service.verdict()
