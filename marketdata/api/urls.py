from django.urls import path

from marketdata.api.views import CandlesView, TickerView

urlpatterns = [
    path("candles", CandlesView.as_view(), name="marketdata-candles"),
    # A symbol has a slash in it (BTC/USDT), hence the path converter.
    path("ticker/<path:symbol>", TickerView.as_view(), name="marketdata-ticker"),
]
