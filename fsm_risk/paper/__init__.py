"""The paper gateway: a local ProjectX-compatible simulator the real project-x-py SDK uses.

Start it in-process with `PaperGateway` (see `fsm_risk.paper.gateway`), or standalone with
``fsm-risk paper-gateway``. Its settings are the ``[paper]`` section of settings.ini
(`PAPER_FIELDS`, `PaperSettings`, `load_paper_settings`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsm_risk.paper.catalog import PRODUCTS, Contract
    from fsm_risk.paper.engine import (
        BusinessError,
        OrderRejected,
        OrderRequest,
        OrderStatus,
        OrderType,
        PositionType,
        Side,
    )
    from fsm_risk.paper.gateway import (
        AccountView,
        GatewayEvent,
        OrderLogEntry,
        PaperGateway,
        PositionView,
        PushedEvent,
        QuoteView,
        TradeView,
    )
    from fsm_risk.paper.settings import (
        PAPER_FIELDS,
        PaperAccount,
        PaperSettings,
        is_loopback,
        load_paper_settings,
    )

#: each public name and the module that defines it: imported on first use, so that
#: importing one light part (the settings, the catalogue) never loads the gateway's web stack
_WHERE = {
    "AccountView": "fsm_risk.paper.gateway",
    "BusinessError": "fsm_risk.paper.engine",
    "Contract": "fsm_risk.paper.catalog",
    "GatewayEvent": "fsm_risk.paper.gateway",
    "OrderLogEntry": "fsm_risk.paper.gateway",
    "OrderRejected": "fsm_risk.paper.engine",
    "OrderRequest": "fsm_risk.paper.engine",
    "OrderStatus": "fsm_risk.paper.engine",
    "OrderType": "fsm_risk.paper.engine",
    "PAPER_FIELDS": "fsm_risk.paper.settings",
    "PRODUCTS": "fsm_risk.paper.catalog",
    "PaperAccount": "fsm_risk.paper.settings",
    "PaperGateway": "fsm_risk.paper.gateway",
    "PaperSettings": "fsm_risk.paper.settings",
    "PositionType": "fsm_risk.paper.engine",
    "PositionView": "fsm_risk.paper.gateway",
    "PushedEvent": "fsm_risk.paper.gateway",
    "QuoteView": "fsm_risk.paper.gateway",
    "Side": "fsm_risk.paper.engine",
    "TradeView": "fsm_risk.paper.gateway",
    "is_loopback": "fsm_risk.paper.settings",
    "load_paper_settings": "fsm_risk.paper.settings",
}

__all__ = [
    "PAPER_FIELDS",
    "PRODUCTS",
    "AccountView",
    "BusinessError",
    "Contract",
    "GatewayEvent",
    "OrderLogEntry",
    "OrderRejected",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "PaperAccount",
    "PaperGateway",
    "PaperSettings",
    "PositionType",
    "PositionView",
    "PushedEvent",
    "QuoteView",
    "Side",
    "TradeView",
    "is_loopback",
    "load_paper_settings",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
