"""Live orders: a `trades` row sent to its portfolio's broker through the exchanges adapter, and
kept in step with what the exchange reports. Never sent twice.

Contract (for trading's order placement and cancellation, and the reconcile beat job):

- `submit_live_order(trade=..., api_key=None, trigger_price=None, on_fill=None)` takes a live
  trade that is committed in status `pending` and must be called OUTSIDE any transaction (from
  `transaction.on_commit`, a task, a command): it commits `submitted` (with `submitted_at`) BEFORE
  anything is sent, so a crash or timeout after the send can only leave a `submitted` trade that
  the reconciler looks up, never a `pending` one that would be sent again. The order goes out with
  the client order id `apx` + the trade's UUID in hex (`client_order_id_for`; on Kraken, which
  takes UUIDs or 18 characters, the UUID in hex), so it can always be
  found again on the exchange. A second call for a trade that is no longer pending sends nothing.
- An order by amount (`quote_quantity`: a strategy's entry) is fitted to the market first
  (trading.live_sizing): its quantity rounded down to the lot size with the taker fee on top,
  written to the trade (audited) before sending; below the market's minimum quantity or order
  value, or when the market's rules cannot be read, the trade is `failed` unsent with the reason.
- The outcome is written to the trade (trading.live_order_reports), in a transaction that locks
  the portfolio and then the trade (`SELECT ... FOR UPDATE`, the order paper fills lock them in):
  `broker_order_id`, `status` (see `trade_status_for`), `filled_quantity`, `filled_price`
  (average), `filled_value`, `commission` (the fees the exchange reports in the quote currency,
  from the order's trades when its answer has none; fees paid in another asset, e.g. BNB, are
  not converted), `filled_at`, `cancelled_at`, `error_message`, with an audit row. Refusals
  (rejected, insufficient funds, the key lacking the `trade` permission, the key refused, rate
  limited, no key) make the trade `failed` with the reason in `error_message`; nothing was placed.
- A timeout (or any answer that leaves the order's fate unknown) is reconciled at once by the
  client order id: found, the trade takes the exchange's state; not found, it stays `submitted`
  and `reconcile_live_order` (beat: `trading.tasks.reconcile_live_orders`, every minute) tries
  again; once `NOT_RECEIVED_AFTER` has passed since submission without the exchange knowing the
  client order id, the trade is `failed` (Binance refuses a request older than its receive
  window, 10 s in ccxt, so the order can no longer arrive).
- `on_fill(trade, LiveFill)` is called inside that same transaction, with both rows locked,
  for each newly filled quantity (quantity, average price of the increment, commission of the
  increment): the place for the caller to book the fill into positions and the portfolio's cash.
  If the hook raises, the trade's update rolls back with it and the exception propagates; the
  next reconcile hands the same fill over again (no fill is lost or booked twice). This module
  writes the trade only.
- These functions return the trade (refreshed) and raise only for misuse: a paper trade, a trade
  or key of someone else, a call inside a transaction (RuntimeError from `durable=True`), or a
  cancel of a finished order (core.errors.StateConflict).
"""

import logging
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.credential_encryption import CredentialDecryptionError
from accounts.models import ApiKey
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import record_audit_event
from core.errors import StateConflict
from exchanges import errors
from exchanges.client import ExchangeClient, client_order_id
from exchanges.connections import client_for_key
from exchanges.records import ExchangeOrder, OrderRequest
from trading.fills import EIGHT_PLACES
from trading.live_order_reports import (
    FINISHED_STATUSES,
    OPEN_STATUSES,
    FillHook,
    apply_exchange_order,
    audit_trade,
    fail_trade,
    lock_trade,
    trade_snapshot,
)
from trading.live_sizing import BelowMarketMinimum, fit_order_by_amount
from trading.models import Portfolio, Trade

logger = logging.getLogger(__name__)

NOT_RECEIVED_AFTER = timedelta(minutes=2)
# Refusals: the exchange (or the adapter, before sending) said no; nothing was placed.
REFUSALS = (
    errors.RequestRejected,  # incl. OrderRejected, InsufficientFunds
    errors.PermissionMissing,
    errors.AuthenticationFailed,
    errors.RateLimited,
    errors.UnsupportedExchange,
)


class LiveOrderError(Exception):
    """The trade cannot be sent as asked; its message is what the trade's error_message says."""


def client_order_id_for(trade: Trade) -> str:
    """`apx` + the trade's UUID in hex (35 characters, inside Binance's 36); the bare UUID in hex
    where the exchange takes UUIDs or short free text only (Kraken): exchanges.client."""
    return client_order_id(trade.portfolio.broker or "", trade.pk)


def api_key_for_portfolio(portfolio: Portfolio) -> ApiKey:
    """The owner's key for the portfolio's broker. With both a testnet and a live key for that
    exchange the caller must choose (pass `api_key=`)."""
    keys = list(ApiKey.objects.filter(user_id=portfolio.user_id, exchange=portfolio.broker)[:2])
    if not keys:
        raise LiveOrderError(f"No {portfolio.broker} API key is stored for this portfolio's owner.")
    if len(keys) > 1:
        raise LiveOrderError(
            f"Several {portfolio.broker} API keys (testnet and live): choose one explicitly."
        )
    return keys[0]


def _check_live(trade: Trade, api_key: ApiKey | None) -> None:
    if trade.is_paper or trade.portfolio.is_paper:
        raise ValueError("A paper trade is filled by the paper engine, not sent to an exchange.")
    if api_key is not None and (
        api_key.user_id != trade.user_id or api_key.exchange != trade.portfolio.broker
    ):
        raise ValueError("The API key is not the trade owner's key for the portfolio's broker.")


def submit_live_order(
    *,
    trade: Trade,
    api_key: ApiKey | None = None,
    trigger_price: Decimal | None = None,
    on_fill: FillHook | None = None,
    client: ExchangeClient | None = None,
) -> Trade:
    """Send a pending live trade to its broker once (see the module docstring). `trigger_price`
    is the stop level of a STOP_LIMIT order (whose `price` is the limit); for STOP_LOSS and
    TAKE_PROFIT the trade's `price` is the trigger."""
    trade = Trade.objects.select_related("portfolio").get(pk=trade.pk)
    _check_live(trade, api_key)
    with transaction.atomic(durable=True):
        locked = lock_trade(trade)
        if locked.status != Trade.Status.PENDING:
            return locked  # already sent (or cancelled): never again
        before = trade_snapshot(locked)
        try:
            api_key = api_key or api_key_for_portfolio(locked.portfolio)
        except LiveOrderError as error:
            fail_trade(locked, str(error))
            audit_trade(locked, before, AuditLog.Action.UPDATE)
            return locked
        locked.status = Trade.Status.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["status", "submitted_at"])
        audit_trade(locked, before, AuditLog.Action.UPDATE, note="sending to the exchange")
    owned = client is None
    try:
        client = client or client_for_key(api_key)
    except CredentialDecryptionError:
        return _record_refusal(locked, "The broker key cannot be decrypted with the current keys.")
    except errors.ExchangeError as error:
        return _record_refusal(locked, str(error))
    try:
        if locked.quote_quantity is not None:
            locked = _fit_to_market(locked, client)
            if locked.status != Trade.Status.SUBMITTED:
                return locked
        request = _order_request(locked, trigger_price)
        try:
            order = client.place_order(request)
        except REFUSALS as refusal:
            return _record_refusal(locked, str(refusal))
        except errors.ExchangeError as unknown:
            # Timeout, outage, duplicate client id, an answer we cannot read: the order may be on
            # the book. Look it up; never send again.
            logger.warning("Live order %s: outcome unknown (%s); reconciling", trade.pk, unknown)
            return _reconcile_with(locked, client, on_fill=on_fill, unknown=str(unknown))
        return apply_exchange_order(locked, order, on_fill=on_fill)
    finally:
        if owned:
            client.close()


def reconcile_live_order(
    *,
    trade: Trade,
    api_key: ApiKey | None = None,
    on_fill: FillHook | None = None,
    client: ExchangeClient | None = None,
) -> Trade:
    """Bring a `submitted` or `partial` live trade in line with the exchange: by its
    broker_order_id, else by its client order id. Other statuses are returned unchanged."""
    trade = Trade.objects.select_related("portfolio").get(pk=trade.pk)
    _check_live(trade, api_key)
    if trade.status not in OPEN_STATUSES:
        return trade
    owned = client is None
    client = client or client_for_key(api_key or api_key_for_portfolio(trade.portfolio))
    try:
        return _reconcile_with(trade, client, on_fill=on_fill)
    finally:
        if owned:
            client.close()


def cancel_live_order(
    *,
    trade: Trade,
    api_key: ApiKey | None = None,
    on_fill: FillHook | None = None,
    client: ExchangeClient | None = None,
) -> Trade:
    """Cancel a live order not yet filled. A pending trade (never sent) is cancelled here; an
    open one on the exchange, and the trade then takes what the exchange reports (an order that
    filled meanwhile ends `filled`). StateConflict for a finished trade."""
    trade = Trade.objects.select_related("portfolio").get(pk=trade.pk)
    _check_live(trade, api_key)
    with transaction.atomic(durable=True):
        locked = lock_trade(trade)
        if locked.status in FINISHED_STATUSES:
            raise StateConflict(f"The order is already {locked.status}.")
        if locked.status == Trade.Status.PENDING:
            before = trade_snapshot(locked)
            locked.status = Trade.Status.CANCELLED
            locked.cancelled_at = timezone.now()
            locked.save(update_fields=["status", "cancelled_at"])
            audit_trade(locked, before, AuditLog.Action.ORDER_CANCELLED)
            return locked
    owned = client is None
    client = client or client_for_key(api_key or api_key_for_portfolio(locked.portfolio))
    try:
        try:
            order = client.cancel_order(
                symbol=locked.symbol,
                order_id=locked.broker_order_id,
                client_order_id=None if locked.broker_order_id else client_order_id_for(locked),
            )
        except errors.OrderNotFound:
            # Filled or cancelled meanwhile, or never received: ask what became of it.
            return _reconcile_with(locked, client, on_fill=on_fill)
        return apply_exchange_order(
            locked, _with_commission(client, locked, order), on_fill=on_fill
        )
    finally:
        if owned:
            client.close()


def reconcile_open_live_orders(*, on_fill: FillHook | None = None) -> dict[str, int]:
    """Beat job: reconcile every live trade still `submitted` or `partial`, one client per key,
    handing new fills to `on_fill`. Counts the trades by the status they end in; an exchange error
    skips a trade until the next run."""
    counts: dict[str, int] = {}
    trades = (
        Trade.objects.filter(is_paper=False, status__in=OPEN_STATUSES)
        .select_related("portfolio")
        .order_by("submitted_at")
    )
    clients: dict[object, ExchangeClient] = {}
    try:
        for trade in trades:
            try:
                key = api_key_for_portfolio(trade.portfolio)
                if key.pk not in clients:
                    clients[key.pk] = client_for_key(key)
                result = reconcile_live_order(
                    trade=trade, api_key=key, client=clients[key.pk], on_fill=on_fill
                )
                status = result.status
            except (errors.ExchangeError, LiveOrderError) as error:
                logger.warning("Reconciling live order %s failed: %s", trade.pk, error)
                status = "skipped"
            counts[status] = counts.get(status, 0) + 1
    finally:
        for client in clients.values():
            client.close()
    return counts


# --- internals -----------------------------------------------------------------------------------


def _order_request(trade: Trade, trigger_price: Decimal | None) -> OrderRequest:
    kind = trade.order_type
    if kind in (Trade.OrderType.STOP_LOSS, Trade.OrderType.TAKE_PROFIT):
        price, trigger = None, trade.price
    elif kind == Trade.OrderType.STOP_LIMIT:
        price, trigger = trade.price, trigger_price
    elif kind == Trade.OrderType.LIMIT:
        price, trigger = trade.price, None
    else:
        price, trigger = None, None
    return OrderRequest(
        symbol=trade.symbol,
        side=trade.side,
        order_type=kind,
        quantity=trade.quantity,
        price=price,
        trigger_price=trigger,
        client_order_id=client_order_id_for(trade),
    )


def _fit_to_market(trade: Trade, client: ExchangeClient) -> Trade:
    """An order given by amount (a strategy's entry): its estimated quantity refitted to the
    market's lot size, minimum quantity and minimum order value (trading.live_sizing), at the
    price the estimate was made at (amount / estimate: the strategy's close). The trade takes the
    fitted quantity (audited) before it is sent; below the market's minimum it fails unsent."""
    try:
        rules = client.market_rules(trade.symbol)
    except errors.ExchangeError as error:
        return _record_refusal(trade, f"Not sent: the market's rules could not be read ({error}).")
    price = (trade.quote_quantity / trade.quantity).quantize(EIGHT_PLACES)
    try:
        fitted = fit_order_by_amount(amount=trade.quote_quantity, price=price, rules=rules)
    except BelowMarketMinimum as error:
        return _record_refusal(
            trade, f"Not sent: the order is below the exchange's minimum. {error}"
        )
    if fitted.quantity == trade.quantity:
        return trade
    with transaction.atomic():
        locked = lock_trade(trade)
        if locked.status != Trade.Status.SUBMITTED or locked.broker_order_id:
            return locked
        estimate = locked.quantity
        locked.quantity = fitted.quantity
        locked.save(update_fields=["quantity"])
        record_audit_event(
            actor=None,
            action=AuditLog.Action.UPDATE,
            resource_type="trade",
            resource_id=locked.pk,
            old_values={"quantity": str(estimate)},
            new_values={"quantity": str(fitted.quantity)},
            metadata={
                "broker": locked.portfolio.broker,
                "note": "order by amount fitted to the market's lot size",
                "quote_quantity": str(locked.quote_quantity),
                "sized_at_price": str(price),
                "taker_fee": None if rules.taker_fee is None else str(rules.taker_fee),
            },
            context=AuditContext.system("live_orders"),
        )
    return locked


def _record_refusal(trade: Trade, reason: str) -> Trade:
    with transaction.atomic():
        locked = lock_trade(trade)
        if locked.status != Trade.Status.SUBMITTED or locked.broker_order_id:
            return locked
        before = trade_snapshot(locked)
        fail_trade(locked, reason)
        audit_trade(locked, before, AuditLog.Action.UPDATE, note="refused")
    return locked


def _reconcile_with(
    trade: Trade,
    client: ExchangeClient,
    *,
    on_fill: FillHook | None,
    unknown: str | None = None,
) -> Trade:
    try:
        order = client.find_order(
            symbol=trade.symbol,
            order_id=trade.broker_order_id,
            client_order_id=client_order_id_for(trade),
        )
    except errors.ExchangeError as error:
        order, unknown = None, f"{unknown or 'reconciling'}; the lookup failed too: {error}"
    if order is not None:
        return apply_exchange_order(trade, _with_commission(client, trade, order), on_fill=on_fill)
    with transaction.atomic():
        locked = lock_trade(trade)
        if locked.status not in OPEN_STATUSES or locked.broker_order_id:
            return locked
        before = trade_snapshot(locked)
        waited = timezone.now() - (locked.submitted_at or timezone.now())
        if waited >= NOT_RECEIVED_AFTER and not unknown:
            fail_trade(
                locked,
                f"The exchange never received the order (its client order id "
                f"{client_order_id_for(locked)} is unknown {int(waited.total_seconds())} s "
                f"after submission).",
            )
        else:
            locked.error_message = (
                f"Outcome unknown ({unknown or 'not found yet'}); reconciling by client order id "
                f"{client_order_id_for(locked)}."
            )
            locked.save(update_fields=["error_message"])
        audit_trade(locked, before, AuditLog.Action.UPDATE, note="reconciled")
    return locked


def _with_commission(client: ExchangeClient, trade: Trade, order: ExchangeOrder) -> ExchangeOrder:
    """The order with its fees so far, when it filled more than the trade knows and the report
    carries no fees (Binance reports fees only in the answer to the placement): from the order's
    trades. If they cannot be fetched, the commission is left for the next reconcile."""
    if order.filled <= (trade.filled_quantity or 0) or order.commission:
        return order
    try:
        commission = client.order_commission(symbol=trade.symbol, order_id=order.order_id)
    except errors.ExchangeError as error:
        logger.warning("Live order %s: its fees could not be fetched: %s", trade.pk, error)
        return order
    return order if commission is None else replace(order, commission=commission)
