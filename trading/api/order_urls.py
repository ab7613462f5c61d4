"""/api/v1/portfolios/{id}/orders, /api/v1/trades/{id}/cancel, /api/v1/portfolios/{id}/equity and
/api/v1/strategies/{id}/deploy (no trailing slashes)."""

from django.urls import path

from trading.api.equity_views import PortfolioEquityView
from trading.api.order_views import CancelOrderView, PlaceOrderView
from trading.api.strategy_run_views import DeployStrategyView

urlpatterns = [
    path(
        "portfolios/<uuid:portfolio_id>/orders", PlaceOrderView.as_view(), name="portfolio-orders"
    ),
    path(
        "portfolios/<uuid:portfolio_id>/equity",
        PortfolioEquityView.as_view(),
        name="portfolio-equity",
    ),
    path("trades/<uuid:trade_id>/cancel", CancelOrderView.as_view(), name="trade-cancel"),
    path(
        "strategies/<uuid:strategy_id>/deploy",
        DeployStrategyView.as_view(),
        name="strategy-deploy",
    ),
]
