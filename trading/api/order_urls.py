"""/api/v1/portfolios/{id}/orders and /api/v1/trades/{id}/cancel (no trailing slashes)."""

from django.urls import path

from trading.api.order_views import CancelOrderView, PlaceOrderView

urlpatterns = [
    path(
        "portfolios/<uuid:portfolio_id>/orders", PlaceOrderView.as_view(), name="portfolio-orders"
    ),
    path("trades/<uuid:trade_id>/cancel", CancelOrderView.as_view(), name="trade-cancel"),
]
