"""/api/v1/portfolios, /api/v1/positions, /api/v1/trades (no trailing slashes, as the API spec
writes them). Paper trading adds its order actions to these viewsets."""

from rest_framework.routers import SimpleRouter

from trading.api.views import PortfolioViewSet, PositionViewSet, TradeViewSet

router = SimpleRouter(trailing_slash=False)
router.register("portfolios", PortfolioViewSet, basename="portfolio")
router.register("positions", PositionViewSet, basename="position")
router.register("trades", TradeViewSet, basename="trade")

urlpatterns = router.urls
