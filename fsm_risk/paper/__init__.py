"""The paper gateway: a local ProjectX-compatible simulator the real project-x-py SDK uses.

Start it in-process with `PaperGateway` (see `fsm_risk.paper.gateway`), or standalone with
``fsm-risk paper-gateway``. Its settings are the ``[paper]`` section of settings.ini
(`PAPER_FIELDS`, `PaperSettings`, `load_paper_settings`).
"""

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
