"""Writing what a broker reports about a live order onto its trade: the spec's status, the fill
figures, the audit row, and the new fill handed to the caller's booking hook, all in one
transaction that locks the portfolio, then the trade. trading.live_orders talks to the exchange
and calls these; its docstring is the contract."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from compliance.audit import AuditContext
from compliance.models import AuditLog
from exchanges.records import ExchangeOrder
from trading.fills import eight, money
from trading.models import Portfolio, Trade
from trading.order_events import record_trade_event, trade_snapshot

OPEN_STATUSES = (Trade.Status.SUBMITTED, Trade.Status.PARTIAL)
FINISHED_STATUSES = (
    Trade.Status.FILLED,
    Trade.Status.CANCELLED,
    Trade.Status.FAILED,
    Trade.Status.EXPIRED,
)


@dataclass(frozen=True)
class LiveFill:
    """What an exchange report newly filled: the quantity, its average price and commission."""

    quantity: Decimal
    price: Decimal
    commission: Decimal


FillHook = Callable[[Trade, LiveFill], None]


def trade_status_for(order: ExchangeOrder) -> str:
    """The spec's trade status for an exchange order: open with nothing filled is `submitted`,
    open and partly filled `partial`, closed `filled`, canceled `cancelled` (whatever was
    filled before stays in filled_quantity), expired `expired`, rejected `failed`."""
    if order.state == "closed":
        return Trade.Status.FILLED
    if order.state in ("canceled", "canceling"):
        return Trade.Status.CANCELLED
    if order.state == "expired":
        return Trade.Status.EXPIRED
    if order.state == "rejected":
        return Trade.Status.FAILED
    return Trade.Status.PARTIAL if order.filled > 0 else Trade.Status.SUBMITTED


def lock_trade(trade: Trade) -> Trade:
    """Lock the portfolio, then the trade (the order paper fills use), and return the trade."""
    Portfolio.objects.select_for_update().filter(pk=trade.portfolio_id).first()
    return Trade.objects.select_for_update().select_related("portfolio").get(pk=trade.pk)


def audit_trade(trade: Trade, before: dict, action: str, *, note: str | None = None) -> None:
    """The audit row of what an exchange report (or our submission) changed on the trade."""
    record_trade_event(
        trade=trade,
        before=before,
        action=action,
        metadata={"broker": trade.portfolio.broker, **({"note": note} if note else {})},
        context=AuditContext.system("live_orders"),
    )


def fail_trade(trade: Trade, reason: str) -> None:
    trade.status = Trade.Status.FAILED
    trade.error_message = reason
    trade.save(update_fields=["status", "error_message"])


def apply_exchange_order(trade: Trade, order: ExchangeOrder, *, on_fill: FillHook | None) -> Trade:
    """Write what the exchange reports onto the trade (locked), and hand any new fill to
    `on_fill` in the same transaction."""
    with transaction.atomic():
        locked = lock_trade(trade)
        if locked.status in FINISHED_STATUSES:
            return locked
        before = trade_snapshot(locked)
        status = trade_status_for(order)
        fill = _new_fill(locked, order)
        locked.broker_order_id = order.order_id
        locked.status = status
        locked.error_message = None
        if fill is not None:
            locked.filled_quantity = order.filled
            locked.filled_price = eight(order.average_price or fill.price)
            locked.filled_value = money(order.cost)
            locked.commission = (locked.commission or 0) + fill.commission
        now = timezone.now()
        if status == Trade.Status.FILLED:
            locked.filled_at = order.updated_at or now
        elif status == Trade.Status.CANCELLED:
            locked.cancelled_at = order.updated_at or now
        elif status in (Trade.Status.FAILED, Trade.Status.EXPIRED):
            locked.error_message = f"The exchange reports the order {order.state}."
        locked.save()
        action = {
            Trade.Status.FILLED: AuditLog.Action.ORDER_FILLED,
            Trade.Status.CANCELLED: AuditLog.Action.ORDER_CANCELLED,
        }.get(status, AuditLog.Action.UPDATE)
        audit_trade(locked, before, action)
        if fill is not None and on_fill is not None:
            on_fill(locked, fill)
    return locked


def _new_fill(trade: Trade, order: ExchangeOrder) -> LiveFill | None:
    """The part of `order.filled` the trade has not recorded yet. Its price is the increment of
    the exchange's cumulative cost over the increment of quantity (the trade keeps the average at
    8 decimals, so this is exact to that precision)."""
    recorded = trade.filled_quantity or Decimal(0)
    quantity = order.filled - recorded
    if quantity <= 0:
        return None
    recorded_cost = recorded * (trade.filled_price or Decimal(0))
    price = eight((order.cost - recorded_cost) / quantity)
    # Binance reports fees with the fills of the placement answer only; later lookups say
    # nothing, which must not read as a refund.
    commission = max(Decimal(0), order.commission - (trade.commission or Decimal(0)))
    return LiveFill(quantity=quantity, price=price, commission=commission)
