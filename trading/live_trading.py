"""Live portfolios joined to their exchange (services): an order placed on a live portfolio is
sent by a task queued after the placing transaction commits; every fill the exchange reports is
booked into the position and the portfolio by the paper exchange's own `book_fill`; cancels go
to the exchange. trading.live_orders talks to the exchange (its docstring is the contract).

Nothing is sent inside a transaction: `submit_live_order` commits `submitted` before it sends, so
the task (late ack, re-queued when its worker dies) and the beat job that picks up live orders
left `pending` can both run it again safely: a trade no longer pending is never sent twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from celery import current_app
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey
from core.errors import StateConflict
from trading import live_orders
from trading.fills import book_fill, eight
from trading.live_balances import held_by_discrepancy
from trading.live_order_reports import LiveFill
from trading.models import Portfolio, Trade

logger = logging.getLogger(__name__)

SUBMIT_TASK = "trading.tasks.submit_live_order"
# A pending live trade older than this was not picked up by its task (the broker lost it, the
# web process died between commit and send): the reconcile beat job submits it.
PENDING_GRACE = timedelta(seconds=30)


def trading_key_for(portfolio: Portfolio) -> ApiKey:
    """The owner's broker key that live orders of `portfolio` are sent with: one key for the
    portfolio's exchange, valid, with the `trade` permission, and no open cash discrepancy with
    the exchange (trading.live_balances); otherwise a StateConflict (409)."""
    try:
        key = live_orders.api_key_for_portfolio(portfolio)
    except live_orders.LiveOrderError as error:
        raise StateConflict(str(error)) from None
    if ApiKey.Permission.TRADE not in (key.permissions or ()):
        raise StateConflict(f"The {portfolio.broker} API key lacks the 'trade' permission.")
    if key.is_valid is False:
        raise StateConflict(
            f"The {portfolio.broker} API key was refused by the exchange: "
            f"{key.validation_error or 'no reason given'}."
        )
    held = held_by_discrepancy(portfolio)
    if held is not None:
        raise StateConflict(
            f"Live orders are held: the exchange reports {held.exchange_amount.normalize():f} "
            f"{held.asset} where the books hold {held.books_amount.normalize():f}; an operator "
            "must reconcile the balance first."
        )
    return key


def queue_submission(trade: Trade) -> None:
    """Send the (pending) live trade once the placing transaction commits, by a task."""
    trade_id = str(trade.pk)
    transaction.on_commit(lambda: current_app.send_task(SUBMIT_TASK, args=[trade_id]))


def book_live_fill(trade: Trade, fill: LiveFill) -> None:
    """The `on_fill` hook of live orders: book what the exchange newly filled into the position
    and the portfolio (cash, positions value, realized P&L) exactly as a paper fill is booked.
    Runs inside live_order_reports' transaction, with the portfolio and the trade locked."""
    portfolio = Portfolio.objects.select_for_update().get(pk=trade.portfolio_id)
    book_fill(
        portfolio=portfolio,
        trade=trade,
        quantity=fill.quantity,
        price=fill.price,
        commission=eight(fill.commission),
        at=trade.filled_at or timezone.now(),
        mark_price=fill.price,
    )


def submit(*, trade_id: UUID) -> Trade:
    """Send a pending live trade to its exchange and book what fills (the task's service).
    A trade no longer pending is returned as it is."""
    trade = Trade.objects.get(pk=trade_id)
    return live_orders.submit_live_order(
        trade=trade, trigger_price=trade.stop_price, on_fill=book_live_fill
    )


def cancel(*, trade: Trade) -> Trade:
    """Cancel a live order: a pending one here, an open one on the exchange (what filled
    meanwhile is booked)."""
    return live_orders.cancel_live_order(trade=trade, on_fill=book_live_fill)


def submit_stale_pending(*, older_than: timedelta = PENDING_GRACE) -> int:
    """Submit live trades still `pending` after `older_than` (their task was lost). Returns how
    many were sent."""
    due = Trade.objects.filter(
        is_paper=False,
        status=Trade.Status.PENDING,
        created_at__lte=timezone.now() - older_than,
    ).values_list("pk", flat=True)
    sent = 0
    for trade_id in due:
        try:
            submit(trade_id=trade_id)
            sent += 1
        except Exception:  # one trade's failure must not stop the others
            logger.exception("Submitting pending live order %s failed", trade_id)
    return sent


def reconcile_open() -> dict[str, int]:
    """Beat job: send what is still pending, then bring open live orders in line with their
    exchange, booking what filled."""
    sent = submit_stale_pending()
    counts = live_orders.reconcile_open_live_orders(on_fill=book_live_fill)
    if sent:
        counts["sent"] = sent
    return counts
