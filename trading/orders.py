"""Placing, cancelling and expiring orders (services). Paper orders fill on the paper exchange
(trading.fills, trading.paper_exchange); a live portfolio's order is committed `pending` and sent
to its exchange by a task queued after the commit (trading.live_trading), which books its fills
with the same `book_fill` as paper fills.

Lifecycle (spec §3.7): an accepted paper order is `submitted` at once; fills make it `partial`
then `filled`; `cancelled` by its owner, `expired` past its expires_at, `failed` when a fill
cannot be paid for (or a live submission is refused).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import audited_create, audited_update
from core.errors import StateConflict
from core.validation import symbol_validator
from strategies.models import Strategy
from trading import live_trading
from trading.fills import OPEN_STATUSES, apply_fill, eight, may_sell_short
from trading.matching import BUY, SELL, RestingOrder, reference_price, stop_reached
from trading.models import Portfolio, Position, Trade
from trading.portfolio_cache import invalidate_portfolio_cache
from trading.price_feed import latest_price
from trading.reservations import buy_reservation, quantity_reserved_for_sale

PRICED_TYPES = ("LIMIT", "STOP_LOSS", "TAKE_PROFIT", "STOP_LIMIT")
MAX_QUANTITY = Decimal("9999999999.99999999")  # NUMERIC(18,8)
ZERO = Decimal("0")
# What an order_placed audit row records.
ORDER_AUDIT_FIELDS = (
    "portfolio_id",
    "symbol",
    "side",
    "order_type",
    "quantity",
    "quote_quantity",
    "price",
    "stop_price",
    "expires_at",
    "strategy_id",
)


def _decimal(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        errors[field] = ["A number is required."]
        return None
    if not number.is_finite() or number <= 0:
        errors[field] = ["Must be greater than zero."]
    elif number > MAX_QUANTITY:
        errors[field] = ["Too large."]
    elif number != eight(number):
        errors[field] = ["At most 8 decimal places."]
    return number


def _validated(
    *,
    symbol: str,
    side: str,
    order_type: str,
    quantity: Any,
    price: Any,
    stop_price: Any,
    expires_at: datetime | None,
    quote_quantity: Any = None,
) -> tuple[Decimal, Decimal | None, Decimal | None, Decimal | None]:
    errors: dict[str, list[str]] = {}
    try:
        symbol_validator(symbol)
    except ValidationError as error:
        errors["symbol"] = error.messages
    if side not in (BUY, SELL):
        errors["side"] = ["Must be BUY or SELL."]
    if order_type not in Trade.OrderType.values:
        errors["order_type"] = [f"Must be one of {', '.join(Trade.OrderType.values)}."]
    quantity = _decimal(quantity, "quantity", errors)
    quote_quantity = _decimal(quote_quantity, "quote_quantity", errors)
    if quote_quantity is not None and order_type != "MARKET":
        errors["quote_quantity"] = ["Only a MARKET order may be given by amount."]
    if quantity is None and "quantity" not in errors:
        errors["quantity"] = ["This field is required."]
    price = _decimal(price, "price", errors)
    stop_price = _decimal(stop_price, "stop_price", errors)
    if order_type == "MARKET" and price is not None:
        errors["price"] = ["A market order has no price."]
    if order_type in PRICED_TYPES and price is None and "price" not in errors:
        errors["price"] = [f"A {order_type} order needs a price."]
    if order_type == "STOP_LIMIT" and stop_price is None and "stop_price" not in errors:
        errors["stop_price"] = ["A STOP_LIMIT order needs a stop price."]
    if order_type != "STOP_LIMIT" and stop_price is not None:
        errors["stop_price"] = ["Only a STOP_LIMIT order has a stop price."]
    if expires_at is not None:
        if order_type == "MARKET":
            errors["expires_at"] = ["A market order fills at once; it has no expiry."]
        elif expires_at <= timezone.now():
            errors["expires_at"] = ["Must be in the future."]
    if errors:
        raise ValidationError(errors)
    return quantity, price, stop_price, quote_quantity


def _check_affordable(
    *, portfolio: Portfolio, trade: Trade, estimate: Decimal | None, position: Position | None
) -> Decimal:
    """Refuse at placement what the available cash, or the part of the position no other open
    SELL is selling, cannot cover (the fill checks again under its lock). Returns the cash the
    order reserves: a paper BUY's most possible cost; a live order's is the exchange's."""
    if trade.side == BUY:
        needed = buy_reservation(
            trade=trade, portfolio=portfolio, estimate=estimate, quantity=trade.quantity
        )
        available = portfolio.available_cash
        if needed > available:
            field = "quote_quantity" if trade.quote_quantity is not None else "quantity"
            raise ValidationError(
                {
                    field: [
                        f"Not enough cash: the order can cost up to {needed}, and {available} "
                        f"is available ({portfolio.reserved_cash} is reserved by open orders)."
                    ]
                }
            )
        return needed if portfolio.is_paper else ZERO
    if not may_sell_short(trade):
        held = max(position.quantity if position else ZERO, ZERO)
        # A strategy's exit closes its whole position whatever else rests on it (a resting
        # order left without units fails at its fill); an owner's SELL may only sell the units
        # no other open SELL is selling.
        if trade.strategy_id is None:
            selling = quantity_reserved_for_sale(portfolio=portfolio, symbol=trade.symbol)
            free = max(held - selling, ZERO)
            if trade.quantity > free:
                raise ValidationError(
                    {
                        "quantity": [
                            f"The portfolio holds {held} {trade.symbol}, of which open SELL "
                            f"orders are selling {min(selling, held)}: {free} can be sold."
                        ]
                    }
                )
        elif trade.quantity > held:
            raise ValidationError({"quantity": [f"The portfolio holds {held} {trade.symbol}."]})
    return ZERO


def _existing_order(user: User, key: str, portfolio: Portfolio) -> Trade:
    trade = Trade.objects.get(user=user, idempotency_key=key)
    if trade.portfolio_id != portfolio.pk:
        raise StateConflict("This Idempotency-Key was used for an order in another portfolio.")
    return trade


def place_order(
    *,
    portfolio: Portfolio,
    actor: User,
    symbol: str,
    side: str,
    order_type: str,
    quantity: Decimal | str,
    price: Decimal | str | None = None,
    stop_price: Decimal | str | None = None,
    expires_at: datetime | None = None,
    quote_quantity: Decimal | None = None,
    strategy: Strategy | None = None,
    signal_reason: str | None = None,
    idempotency_key: str | None = None,
    fill_at_next_price: bool = False,
    signal_at: datetime | None = None,
    context: AuditContext | None = None,
) -> Trade:
    """Place an order in `portfolio`. A paper MARKET order fills at once at the ticker (with the
    portfolio's slippage and commission) unless `fill_at_next_price` (strategies: signal at a
    close, fill at the next price); a resting order that the current price already crosses fills
    at once too, the rest wait for the matcher. Retrying with the same idempotency key returns
    the first order. `quote_quantity` (MARKET only) orders by amount: `quantity` is then an
    estimate, replaced by what the amount buys at the fill. `signal_at` (strategies) is when the
    signal's price was seen: the order is submitted then and matched by later prices only."""
    if idempotency_key is not None:
        if not idempotency_key or len(idempotency_key) > 100:
            raise ValidationError({"idempotency_key": ["1 to 100 characters."]})
        try:
            return _existing_order(actor, idempotency_key, portfolio)
        except Trade.DoesNotExist:
            pass
    quantity, price, stop_price, quote_quantity = _validated(
        quote_quantity=quote_quantity,
        symbol=symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        stop_price=stop_price,
        expires_at=expires_at,
    )
    if not portfolio.is_active:
        raise StateConflict("The portfolio is not active.")
    try:
        with transaction.atomic():
            trade = _place(
                portfolio=portfolio,
                actor=actor,
                fields={
                    "symbol": symbol,
                    "side": side,
                    "order_type": order_type,
                    "quantity": quantity,
                    "price": price,
                    "stop_price": stop_price,
                    "expires_at": expires_at,
                    "quote_quantity": quote_quantity,
                    "strategy": strategy,
                    "signal_reason": signal_reason,
                    "idempotency_key": idempotency_key,
                },
                fill_at_next_price=fill_at_next_price,
                signal_at=signal_at,
                context=context,
            )
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its order.
        if idempotency_key is None:
            raise
        return _existing_order(actor, idempotency_key, portfolio)
    trade.refresh_from_db()
    return trade


def _place(
    *,
    portfolio: Portfolio,
    actor: User,
    fields: dict[str, Any],
    fill_at_next_price: bool,
    signal_at: datetime | None,
    context: AuditContext | None,
) -> Trade:
    portfolio = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
    trade = Trade(user=actor, portfolio=portfolio, is_paper=portfolio.is_paper, **fields)
    position = Position.objects.filter(
        portfolio=portfolio, symbol=trade.symbol, is_open=True
    ).first()
    ticker = None
    if portfolio.is_paper and not (trade.order_type == "MARKET" and fill_at_next_price):
        ticker = latest_price(trade.symbol)
        if ticker is None and trade.order_type == "MARKET":
            raise ValidationError({"symbol": [f"No price is known for {trade.symbol} yet."]})
    if not portfolio.is_paper:
        if trade.expires_at is not None:
            # Expiry is the paper exchange's beat job; a live order would stay on the exchange.
            raise ValidationError({"expires_at": ["Live orders are good till cancelled (GTC)."]})
        live_trading.trading_key_for(portfolio)  # 409 before anything is written
    estimate = trade.price if trade.order_type != "MARKET" else (ticker and ticker.close)
    if trade.order_type == "STOP_LOSS" and trade.side == BUY and ticker is not None:
        # A buy stop the ticker is already above fills at once, at the ticker.
        estimate = max(estimate, ticker.close)
    trade.reserved_cash = _check_affordable(
        portfolio=portfolio, trade=trade, estimate=estimate, position=position
    )

    now = signal_at or timezone.now()
    trade.status = Trade.Status.PENDING
    audited_create(
        instance=trade,
        actor=actor,
        action=AuditLog.Action.ORDER_PLACED,
        fields=list(ORDER_AUDIT_FIELDS),
        context=context,
    )
    if not portfolio.is_paper:
        live_trading.queue_submission(trade)
        return trade

    # The paper exchange accepts the order at once (its reservation changes the available cash).
    invalidate_portfolio_cache(portfolio.pk, after_commit=True)
    Trade.objects.filter(pk=trade.pk).update(status=Trade.Status.SUBMITTED, submitted_at=now)
    if ticker is None:
        return trade
    if trade.order_type == "MARKET":
        apply_fill(trade_id=trade.pk, event=ticker, reference=ticker.close)
        return trade
    reference = reference_price(
        RestingOrder(trade.side, trade.order_type, trade.price, trade.stop_price, False), ticker
    )
    if trade.order_type == "STOP_LIMIT" and stop_reached(trade.side, trade.stop_price, ticker):
        Trade.objects.filter(pk=trade.pk).update(triggered_at=now)
    if reference is not None:
        apply_fill(trade_id=trade.pk, event=ticker, reference=reference)
    return trade


def cancel_order(*, trade: Trade, actor: User, context: AuditContext | None = None) -> Trade:
    """Cancel an order not yet (completely) filled; what a partial order already filled stays.
    A filled, cancelled, failed or expired order is a StateConflict. A live order is cancelled on
    its exchange (outside any transaction: call it from a view or a task, not inside atomic)."""
    if not trade.is_paper:
        return live_trading.cancel(trade=trade)
    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=trade.portfolio_id)
        locked = Trade.objects.select_for_update().get(pk=trade.pk)
        if locked.status not in (Trade.Status.PENDING, *OPEN_STATUSES):
            raise StateConflict(
                f"The order is {locked.status}; only an open order can be cancelled."
            )
        # The database releases what the order reserved (a trigger on trades).
        invalidate_portfolio_cache(locked.portfolio_id, after_commit=True)
        audited_update(
            instance=locked,
            changes={"status": Trade.Status.CANCELLED, "cancelled_at": timezone.now()},
            actor=actor,
            action=AuditLog.Action.ORDER_CANCELLED,
            context=context,
        )
    return locked


def expire_orders(*, now: datetime | None = None) -> list[Trade]:
    """Mark open orders past their expires_at `expired` (beat job; safe to run twice)."""
    now = now or timezone.now()
    expired = []
    due = Trade.objects.filter(
        status__in=[Trade.Status.PENDING, *OPEN_STATUSES], expires_at__lte=now
    ).values_list("pk", "portfolio_id")
    for trade_id, portfolio_id in due:
        with transaction.atomic():
            Portfolio.objects.select_for_update().get(pk=portfolio_id)
            locked = (
                Trade.objects.select_for_update()
                .filter(pk=trade_id, status__in=[Trade.Status.PENDING, *OPEN_STATUSES])
                .first()
            )
            if locked is not None:
                # The database releases what the order reserved (a trigger on trades).
                invalidate_portfolio_cache(portfolio_id, after_commit=True)
                audited_update(
                    instance=locked,
                    changes={"status": Trade.Status.EXPIRED, "cancelled_at": now},
                    actor=None,
                    action=AuditLog.Action.ORDER_CANCELLED,
                )
                expired.append(locked)
    return expired
