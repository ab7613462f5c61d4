"""The paper exchange's reaction to a price (services): resting orders that the price crosses
fill, open positions are marked to market. Called as prices arrive (trading.tasks) and by the
beat job that replays the latest tickers, so a missed price event is caught up within a beat."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.db import transaction

from trading.fills import (
    OPEN_STATUSES,
    FillOutcome,
    apply_fill,
    mark_position,
    refresh_portfolio_totals,
)
from trading.matching import PriceEvent, RestingOrder, reference_price, stop_reached
from trading.models import Portfolio, Position, Trade
from trading.portfolio_cache import invalidate_portfolio_cache
from trading.price_feed import latest_price


@dataclass
class PriceReport:
    fills: list[FillOutcome] = field(default_factory=list)
    marked_portfolios: list[UUID] = field(default_factory=list)


def match_orders(event: PriceEvent) -> list[FillOutcome]:
    """Fill the symbol's open paper orders that `event` crosses, oldest order first. An order is
    matched only by prices after its submission, and never after its expiry."""
    fills = []
    waiting = (
        Trade.objects.filter(symbol=event.symbol, is_paper=True, status__in=OPEN_STATUSES)
        .filter(submitted_at__lt=event.at)
        .order_by("submitted_at", "id")
    )
    for trade in waiting:
        if trade.expires_at is not None and trade.expires_at <= event.at:
            continue
        order = RestingOrder(
            side=trade.side,
            order_type=trade.order_type,
            price=trade.price,
            stop_price=trade.stop_price,
            triggered=trade.triggered_at is not None and trade.triggered_at < event.at,
        )
        if (
            trade.order_type == "STOP_LIMIT"
            and trade.triggered_at is None
            and stop_reached(trade.side, trade.stop_price, event)
        ):
            Trade.objects.filter(pk=trade.pk, triggered_at__isnull=True).update(
                triggered_at=event.at
            )
        reference = reference_price(order, event)
        if reference is None:
            continue
        outcome = apply_fill(trade_id=trade.pk, event=event, reference=reference)
        if outcome is not None:
            fills.append(outcome)
    return fills


def mark_to_market(*, symbol: str, price: Decimal) -> list[UUID]:
    """Re-value every open position in `symbol` at `price` and its portfolio's totals, one
    portfolio per transaction (portfolio locked first, as fills do)."""
    portfolio_ids = list(
        Position.objects.filter(symbol=symbol, is_open=True)
        .order_by("portfolio_id")
        .values_list("portfolio_id", flat=True)
        .distinct()
    )
    for portfolio_id in portfolio_ids:
        with transaction.atomic():
            portfolio = Portfolio.objects.select_for_update().get(pk=portfolio_id)
            for position in Position.objects.select_for_update().filter(
                portfolio=portfolio, symbol=symbol, is_open=True
            ):
                mark_position(position, price)
                position.save(
                    update_fields=[
                        "current_price",
                        "market_value",
                        "cost_basis",
                        "unrealized_pnl",
                        "unrealized_pnl_pct",
                    ]
                )
            refresh_portfolio_totals(portfolio)
            portfolio.save(
                update_fields=["positions_value", "unrealized_pnl", "realized_pnl", "total_value"]
            )
            invalidate_portfolio_cache(portfolio_id, after_commit=True)
    return portfolio_ids


def on_price(event: PriceEvent) -> PriceReport:
    """A new price for a symbol: fill what it crosses, then mark positions at its close."""
    report = PriceReport()
    report.fills = match_orders(event)
    report.marked_portfolios = mark_to_market(symbol=event.symbol, price=event.close)
    return report


def process_latest_tickers() -> int:
    """The beat job's pass: each symbol with open paper orders or positions, at its latest
    ticker. Returns the number of fills."""
    symbols = set(
        Trade.objects.filter(is_paper=True, status__in=OPEN_STATUSES).values_list(
            "symbol", flat=True
        )
    ) | set(Position.objects.filter(is_open=True).values_list("symbol", flat=True))
    fills = 0
    for symbol in sorted(symbols):
        event = latest_price(symbol)
        if event is not None:
            fills += len(on_price(event).fills)
    return fills
