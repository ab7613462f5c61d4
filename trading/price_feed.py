"""Prices as the paper exchange sees them: the ticker in Redis (`cache:ticker:{symbol}`, written by
marketdata) read as a PriceEvent."""

from datetime import datetime
from decimal import Decimal

from marketdata.selectors import ticker
from trading.matching import PriceEvent


def latest_price(symbol: str) -> PriceEvent | None:
    """The symbol's latest price as a tick event, or None when no price is known."""
    entry = ticker(symbol=symbol)
    if not entry or entry.get("price") is None:
        return None
    return PriceEvent.tick(
        symbol=symbol, price=Decimal(entry["price"]), at=datetime.fromisoformat(entry["time"])
    )
