"""The portfolio's cached view in Redis, `cache:portfolio:{id}` (spec §1.1): what a client reads
between fills. Every fill, mark to market, placement, cancel and expiry drops it (after commit);
the next read rebuilds it from the rows."""

from decimal import Decimal
from uuid import UUID

from django.core.cache import cache
from django.db import transaction

from core.cache_keys import portfolio_key
from trading.models import Portfolio, Position

CACHE_SECONDS = 300


def invalidate_portfolio_cache(portfolio_id: UUID | str, *, after_commit: bool = False) -> None:
    """Drop the cached view; inside a transaction also once it commits (a reader between the
    two deletes may have cached what was current before the commit)."""
    key = portfolio_key(portfolio_id)
    cache.delete(key)
    if after_commit:
        transaction.on_commit(lambda: cache.delete(key))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def portfolio_view(portfolio_id: UUID | str) -> dict:
    """The portfolio's balances and open positions as plain JSON values, from Redis when cached."""
    key = portfolio_key(portfolio_id)
    cached = cache.get(key)
    if cached is not None:
        return cached
    portfolio = Portfolio.objects.get(pk=portfolio_id)
    positions = Position.objects.filter(portfolio=portfolio, is_open=True).order_by("symbol")
    view = {
        "id": str(portfolio.pk),
        "cash_balance": _text(portfolio.cash_balance),
        "reserved_cash": _text(portfolio.reserved_cash),
        "available_cash": _text(portfolio.available_cash),
        "positions_value": _text(portfolio.positions_value),
        "total_value": _text(portfolio.total_value),
        "unrealized_pnl": _text(portfolio.unrealized_pnl),
        "realized_pnl": _text(portfolio.realized_pnl),
        "positions": [
            {
                "symbol": position.symbol,
                "quantity": _text(position.quantity),
                "average_entry_price": _text(position.average_entry_price),
                "current_price": _text(position.current_price),
                "market_value": _text(position.market_value),
                "unrealized_pnl": _text(position.unrealized_pnl),
            }
            for position in positions
        ],
    }
    cache.set(key, view, timeout=CACHE_SECONDS)
    return view
