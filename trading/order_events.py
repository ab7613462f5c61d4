"""The audit rows of an order's life after it is placed, paper or live: what its fills, the
exchange's reports and its failures changed on the trade, old and new, through compliance's one
encoder. Placing and cancelling an order are plain audited writes (trading.orders)."""

from typing import Any

from compliance.audit import AuditContext
from compliance.services import audit_snapshot, changed_values, record_audit_event
from trading.models import Trade

# The trade columns an order event shows when they change.
TRADE_EVENT_FIELDS = (
    "status",
    "broker_order_id",
    "filled_quantity",
    "filled_price",
    "filled_value",
    "commission",
    "slippage",
    "error_message",
)


def trade_snapshot(trade: Trade) -> dict[str, Any]:
    """The trade's event columns as the audit row writes them (taken before a change)."""
    return audit_snapshot(trade, list(TRADE_EVENT_FIELDS))


def record_trade_event(
    *,
    trade: Trade,
    before: dict[str, Any],
    action: str,
    metadata: dict[str, Any] | None = None,
    context: AuditContext | None = None,
) -> None:
    """One audit row with what changed on `trade` since `before` (trade_snapshot); nothing when
    nothing changed. Call inside the transaction that saved the trade, after it."""
    old, new = changed_values(before, trade_snapshot(trade))
    if not new:
        return
    record_audit_event(
        actor=None,
        action=action,
        resource_type="trade",
        resource_id=trade.pk,
        old_values=old,
        new_values=new,
        metadata=metadata,
        context=context,
    )
