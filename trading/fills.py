"""One paper fill, in one transaction: the trade, the position and the portfolio move together.

Locks are always taken in the same order (portfolio, then trade, then position) by everything
that writes them (orders, fills, marking to market), so concurrent writers queue instead of
deadlocking, and a trade re-read under its lock cannot be filled twice. docs/paper-trading.md
describes the arithmetic; money is Decimal at the columns' precisions throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from uuid import UUID

from django.db import transaction
from django.db.models import Sum

from compliance.encoding import json_value
from compliance.models import AuditLog
from compliance.services import audited_update
from strategies.rules.schema import rule_direction
from trading.matching import BUY, PriceEvent, slipped_price, takes_slippage
from trading.models import Portfolio, Position, Trade
from trading.order_events import record_trade_event, trade_snapshot
from trading.portfolio_cache import invalidate_portfolio_cache
from trading.reservations import reservation_after_fill

CENT = Decimal("0.01")
EIGHT_PLACES = Decimal("0.00000001")
FOUR_PLACES = Decimal("0.0001")
ZERO = Decimal("0")
PERCENT_LIMIT = Decimal("9999.9999")
OPEN_STATUSES = (Trade.Status.SUBMITTED, Trade.Status.PARTIAL)


def money(value: Decimal) -> Decimal:
    """NUMERIC(15,2): to the cent, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def eight(value: Decimal) -> Decimal:
    """NUMERIC(*,8)."""
    return value.quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class FillOutcome:
    trade: Trade
    quantity: Decimal  # filled by this call (0 when the order failed)


def may_sell_short(trade: Trade) -> bool:
    """A SELL beyond the position opens a short only for a strategy whose entries are shorts."""
    return trade.strategy_id is not None and rule_direction(trade.strategy.entry_rules) == "short"


def mark_position(position: Position, price: Decimal) -> None:
    """current_price, market_value and unrealized P&L at `price`."""
    position.current_price = eight(price)
    position.market_value = money(position.quantity * price)
    position.cost_basis = money(abs(position.quantity) * position.average_entry_price)
    gain = position.quantity * (price - position.average_entry_price)
    position.unrealized_pnl = eight(gain)
    percent = (gain / (abs(position.quantity) * position.average_entry_price) * 100).quantize(
        FOUR_PLACES, rounding=ROUND_HALF_UP
    )
    # NUMERIC(8,4) holds ±9999.9999%: a position up more than a hundredfold shows that.
    position.unrealized_pnl_pct = max(-PERCENT_LIMIT, min(PERCENT_LIMIT, percent))


def refresh_portfolio_totals(portfolio: Portfolio) -> None:
    """positions_value, unrealized and realized P&L and total_value from the rows (the caller
    holds the portfolio's lock and saves it)."""
    positions = Position.objects.filter(portfolio=portfolio, is_open=True).aggregate(
        value=Sum("market_value"), unrealized=Sum("unrealized_pnl")
    )
    realized = Trade.objects.filter(portfolio=portfolio).aggregate(total=Sum("realized_pnl"))
    portfolio.positions_value = positions["value"] or ZERO
    portfolio.unrealized_pnl = money(positions["unrealized"] or ZERO)
    portfolio.realized_pnl = money(realized["total"] or ZERO)
    portfolio.total_value = portfolio.cash_balance + portfolio.positions_value


def _fail(trade: Trade, message: str) -> FillOutcome:
    audited_update(
        instance=trade,
        changes={"status": Trade.Status.FAILED, "error_message": message},
        actor=None,
    )
    return FillOutcome(trade=trade, quantity=ZERO)


def _open_position(
    portfolio: Portfolio, symbol: str, quantity: Decimal, price: Decimal, at: datetime
) -> Position:
    position = Position(
        portfolio=portfolio,
        symbol=symbol,
        quantity=quantity,
        average_entry_price=price,
        cost_basis=money(abs(quantity) * price),
        realized_pnl=ZERO,
        is_open=True,
        opened_at=at,
    )
    return position


def _move_position(
    *,
    portfolio: Portfolio,
    position: Position | None,
    symbol: str,
    signed_quantity: Decimal,
    price: Decimal,
    commission: Decimal,
    at: datetime,
) -> tuple[Position, Decimal]:
    """Apply a fill of `signed_quantity` (+ buys, − sells) at `price` to the open position.
    Returns the position the trade ends up on and the fill's gross realized P&L."""
    if position is None:
        position = _open_position(portfolio, symbol, signed_quantity, price, at)
        position.realized_pnl = -commission
        position.save()
        return position, ZERO
    held = position.quantity
    if (held > 0) == (signed_quantity > 0):  # adding: weighted average entry
        total = abs(held) + abs(signed_quantity)
        position.average_entry_price = eight(
            (abs(held) * position.average_entry_price + abs(signed_quantity) * price) / total
        )
        position.quantity = held + signed_quantity
        position.realized_pnl = (position.realized_pnl or ZERO) - commission
        position.save()
        return position, ZERO
    closed = min(abs(held), abs(signed_quantity))
    direction = Decimal(1) if held > 0 else Decimal(-1)
    gross = eight(closed * (price - position.average_entry_price) * direction)
    remainder = held + signed_quantity
    closing_commission = eight(commission * closed / abs(signed_quantity))
    position.realized_pnl = (position.realized_pnl or ZERO) + gross - closing_commission
    if remainder == 0 or (remainder > 0) != (held > 0):
        position.is_open = False
        position.closed_at = at
        # the constraint forbids a zero quantity: a closed position keeps what it last held
        position.save()
        if remainder == 0:
            return position, gross
        reversed_position = _open_position(portfolio, symbol, remainder, price, at)
        reversed_position.realized_pnl = closing_commission - commission
        reversed_position.save()
        return reversed_position, gross
    position.quantity = remainder
    position.save()
    return position, gross


def book_fill(
    *,
    portfolio: Portfolio,
    trade: Trade,
    quantity: Decimal,
    price: Decimal,
    commission: Decimal,
    at: datetime,
    mark_price: Decimal,
) -> Decimal:
    """Book a fill of `quantity` at `price` (paper or live) into the position and the portfolio:
    the position moves (average entry, realized P&L, close, reversal) and is marked at
    `mark_price`; the trade gets its realized P&L and position and is saved; the portfolio's cash
    and totals move and are saved, its cache is dropped. The caller holds the portfolio's and the
    trade's row locks, in a transaction. Returns the fill's gross realized P&L. Refusals (cash,
    position) are the caller's: a live fill has happened on the exchange and is booked as is."""
    position = (
        Position.objects.select_for_update()
        .filter(portfolio=portfolio, symbol=trade.symbol, is_open=True)
        .first()
    )
    notional = quantity * price
    if trade.side == BUY:
        cash_change = -money(notional + commission)
        signed = quantity
    else:
        cash_change = money(notional - commission)
        signed = -quantity
    position, gross = _move_position(
        portfolio=portfolio,
        position=position,
        symbol=trade.symbol,
        signed_quantity=signed,
        price=price,
        commission=commission,
        at=at,
    )
    if position.is_open:
        mark_position(position, mark_price)
        position.save()
    trade.realized_pnl = (trade.realized_pnl or ZERO) + gross - commission
    trade.position = position
    trade.save()

    portfolio.cash_balance += cash_change
    refresh_portfolio_totals(portfolio)
    portfolio.save(
        update_fields=[
            "cash_balance",
            "positions_value",
            "unrealized_pnl",
            "realized_pnl",
            "total_value",
        ]
    )
    invalidate_portfolio_cache(portfolio.pk, after_commit=True)
    return gross


def apply_fill(
    *,
    trade_id: UUID,
    event: PriceEvent,
    reference: Decimal,
    quantity: Decimal | None = None,
) -> FillOutcome | None:
    """Fill (part of) an open paper order at `reference` (the market price, before slippage) on
    `event`. None when there is nothing to do: the order is no longer open, or this event (or a
    later one) already filled it, which makes a redelivered task harmless."""
    portfolio_id = Trade.objects.values_list("portfolio_id", flat=True).get(pk=trade_id)
    with transaction.atomic():
        portfolio = Portfolio.objects.select_for_update().get(pk=portfolio_id)
        trade = (
            Trade.objects.select_for_update(of=("self",))
            .select_related("strategy")
            .get(pk=trade_id)
        )
        if trade.status not in OPEN_STATUSES:
            return None
        if trade.filled_at is not None and trade.filled_at >= event.at:
            return None
        fill_price = reference
        if takes_slippage(trade.order_type):
            fill_price = slipped_price(trade.side, reference, portfolio.slippage_pct)
        fill_price = eight(fill_price)
        if trade.quote_quantity is not None and not trade.filled_quantity:
            # An order by amount: as many units as the amount buys with the commission on top
            # (the backtest's position sizing), rounded down to the 8 places quantities keep.
            trade.quantity = (
                trade.quote_quantity / (fill_price * (1 + portfolio.commission_pct))
            ).quantize(EIGHT_PLACES, rounding=ROUND_DOWN)
        remaining = trade.quantity - (trade.filled_quantity or ZERO)
        size = remaining if quantity is None else min(quantity, remaining)
        if event.volume is not None:
            size = min(size, event.volume)
        if size <= 0:
            return None
        notional = size * fill_price
        commission = eight(notional * portfolio.commission_pct)
        slippage = eight(size * abs(fill_price - reference))

        if trade.side == BUY:
            # The fill spends its own reservation first, then (a buy stop gapping above its
            # reserved price, a cent of rounding) the available cash; what the remaining
            # quantity no longer needs is released.
            cost = money(notional + commission)
            reserved_after = reservation_after_fill(
                trade=trade,
                portfolio=portfolio,
                reserved_before=trade.reserved_cash,
                cost=cost,
                remaining_before=remaining,
                remaining_after=remaining - size,
            )
            spendable = portfolio.available_cash + trade.reserved_cash - reserved_after
            if spendable - cost < 0:
                return _fail(trade, "Not enough cash for this fill.")
            trade.reserved_cash = reserved_after
        else:
            held = (
                Position.objects.filter(portfolio=portfolio, symbol=trade.symbol, is_open=True)
                .values_list("quantity", flat=True)
                .first()
            ) or ZERO
            if size > max(held, ZERO) and not may_sell_short(trade):
                return _fail(trade, "Not enough of the position to sell.")

        before = trade_snapshot(trade)
        filled_before = trade.filled_quantity or ZERO
        filled_after = filled_before + size
        previous_notional = filled_before * (trade.filled_price or ZERO)
        trade.filled_price = eight((previous_notional + notional) / filled_after)
        trade.filled_quantity = filled_after
        trade.filled_value = money(previous_notional + notional)
        trade.commission = (trade.commission or ZERO) + commission
        trade.slippage = (trade.slippage or ZERO) + slippage
        trade.status = (
            Trade.Status.FILLED if filled_after == trade.quantity else Trade.Status.PARTIAL
        )
        trade.filled_at = event.at
        book_fill(
            portfolio=portfolio,
            trade=trade,
            quantity=size,
            price=fill_price,
            commission=commission,
            at=event.at,
            mark_price=event.close,
        )
        record_trade_event(
            trade=trade,
            before=before,
            action=AuditLog.Action.ORDER_FILLED,
            metadata={
                "portfolio_id": json_value(portfolio.pk),
                "at": json_value(event.at),
                "fill": {
                    "quantity": json_value(size),
                    "price": json_value(fill_price),
                    "commission": json_value(commission),
                },
            },
        )
    return FillOutcome(trade=trade, quantity=size)
