"""What `serve` runs beside the guard: notifications, and the web view with its metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsm_risk.config import Settings

if TYPE_CHECKING:
    from fsm_risk.service import Service


def attach(service: Service, settings: Settings) -> None:
    """Register the notifier and (if enabled) the metrics and the web server with a service."""
    from fsm_risk.notify import Notifier

    notifier = Notifier(settings, service=service)
    service.observers.append(notifier)
    service.components.append(notifier)
    if not settings.web.enabled:
        return
    from fsm_risk.metrics import Metrics
    from fsm_risk.web import WebServer

    metrics = Metrics(service, notifier)
    web = WebServer(settings, service, metrics, notifier)
    service.observers.extend([metrics, web])
    service.components.append(web)
