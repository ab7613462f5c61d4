"""Live portfolios reconciled with their exchange account (services): the account's balance
(`fetch_balance` through the exchanges adapter) against the books' cash and base-asset positions.

The exchange is the source of truth for a live account's cash, but money is never moved silently
(docs/exchanges.md, "Balance reconciliation"):

- A cash difference within `LIVE_BALANCE_TOLERANCE` (the cent rounding of fills, a fee rounded
  differently) is adopted at once: the books take the exchange's value, and a discrepancy row
  (`adopted`, by the system) and the portfolio's audit row keep both values.
- A larger one opens a discrepancy (`open`) and holds the portfolio's new live orders
  (`held_by_discrepancy`, checked by trading.live_trading.trading_key_for) until an operator
  adopts the exchange's value (`adopt_exchange_cash`: admin action or `manage.py
  reconcile_live_balances --adopt`), or a later check finds books and exchange agreeing again
  (`cleared`: a fill booked late).
- Base assets: the exchange holding less of an asset than the books' open positions is recorded
  as an open `position` discrepancy, which does not hold orders (a sale of what is not there is
  refused by the exchange itself) and is never adopted (a position's quantity carries its P&L);
  more on the exchange is normal (assets held outside ApexTrade) and recorded nowhere.

Nothing is compared while the books may be behind the exchange: the open live orders' fills are
booked before and after the balance is read, and a fill booked by the second pass (or meanwhile
by anyone) skips the check, as does a live order whose outcome is unknown (pending, or sent
without an answer). An exchange error leaves the books and the discrepancies untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from compliance.audit import AuditContext
from compliance.services import audited_create, audited_update
from core.errors import StateConflict
from exchanges import errors
from exchanges.client import ExchangeClient
from exchanges.connections import client_for_key
from exchanges.records import AssetBalance
from trading import live_orders
from trading.fills import money
from trading.live_order_reports import OPEN_STATUSES
from trading.models import LiveBalanceDiscrepancy, Portfolio, Position, Trade
from trading.portfolio_cache import invalidate_portfolio_cache

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE = Decimal("1.00")
SYSTEM = AuditContext.system("live_balances")
Discrepancy = LiveBalanceDiscrepancy


class ReconciliationSkipped(Exception):
    """The portfolio cannot be compared now; the message says why."""


@dataclass
class BalanceCheck:
    """What one reconciliation of a portfolio found. `outcome`: matched (books and exchange
    agree), adjusted (a difference within tolerance adopted), discrepancy (one open),
    skipped (not compared: `reason`)."""

    portfolio_id: object
    outcome: str
    asset: str | None = None
    books_cash: Decimal | None = None
    exchange_cash: Decimal | None = None
    reason: str | None = None
    discrepancies: list[LiveBalanceDiscrepancy] = field(default_factory=list)


def tolerance() -> Decimal:
    return Decimal(str(getattr(settings, "LIVE_BALANCE_TOLERANCE", DEFAULT_TOLERANCE)))


def cash_asset_for(portfolio: Portfolio) -> str:
    """The asset the portfolio's cash is held in on the exchange: the quote currency of the
    symbols it trades (one for all), else its base currency."""
    symbols = set(Trade.objects.filter(portfolio=portfolio).values_list("symbol", flat=True))
    symbols |= set(Position.objects.filter(portfolio=portfolio).values_list("symbol", flat=True))
    quotes = {symbol.partition("/")[2] for symbol in symbols}
    if len(quotes) > 1:
        raise ReconciliationSkipped(
            f"The portfolio trades in several quote currencies ({', '.join(sorted(quotes))})."
        )
    if quotes:
        return quotes.pop()
    if not portfolio.base_currency:
        raise ReconciliationSkipped("The portfolio has no base currency and no trades.")
    return portfolio.base_currency


def held_by_discrepancy(portfolio: Portfolio) -> LiveBalanceDiscrepancy | None:
    """The open cash discrepancy holding the portfolio's new live orders, if any."""
    return (
        Discrepancy.objects.filter(
            portfolio_id=portfolio.pk, kind=Discrepancy.Kind.CASH, status=Discrepancy.Status.OPEN
        )
        .order_by("detected_at")
        .first()
    )


def reconcile_live_balance(
    *, portfolio: Portfolio, client: ExchangeClient | None = None
) -> BalanceCheck:
    """Compare one live portfolio with its exchange account (module docstring). Call outside any
    transaction: it talks to the exchange, then writes in a transaction of its own."""
    try:
        return _reconcile(portfolio, client)
    except ReconciliationSkipped as skipped:
        return BalanceCheck(portfolio.pk, "skipped", reason=str(skipped))


def reconcile_live_balances() -> dict[str, int]:
    """Beat job: reconcile every active live portfolio, one client per key; counts the
    outcomes. An exchange error skips a portfolio until the next run."""
    counts: dict[str, int] = {}
    clients: dict[object, ExchangeClient] = {}
    portfolios = Portfolio.objects.filter(is_paper=False, is_active=True).order_by("created_at")
    try:
        for portfolio in portfolios:
            try:
                key = live_orders.api_key_for_portfolio(portfolio)
                if key.pk not in clients:
                    clients[key.pk] = client_for_key(key)
                check = reconcile_live_balance(portfolio=portfolio, client=clients[key.pk])
            except (errors.ExchangeError, live_orders.LiveOrderError) as error:
                logger.warning("Reconciling live portfolio %s failed: %s", portfolio.pk, error)
                check = BalanceCheck(portfolio.pk, "skipped", reason=str(error))
            counts[check.outcome] = counts.get(check.outcome, 0) + 1
    finally:
        for client in clients.values():
            client.close()
    return counts


def adopt_exchange_cash(
    *,
    discrepancy: LiveBalanceDiscrepancy,
    actor: User,
    context: AuditContext | None = None,
) -> LiveBalanceDiscrepancy:
    """An operator adopts the exchange's cash of an open cash discrepancy: the portfolio's cash
    becomes the exchange's value (its total moves with it), audited with both values, and the
    discrepancy is `adopted` (its new live orders are no longer held). StateConflict (409) for
    a discrepancy not open or not about cash."""
    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=discrepancy.portfolio_id)
        locked = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
        if locked.status != Discrepancy.Status.OPEN:
            raise StateConflict(f"The discrepancy is {locked.status} already.")
        if locked.kind != Discrepancy.Kind.CASH:
            raise StateConflict("Only a cash discrepancy can be adopted; a position cannot.")
        _adopt(locked, actor=actor, context=context or SYSTEM, note="adopted by an operator")
    return locked


# --- internals -----------------------------------------------------------------------------------


def _shared_account(portfolio: Portfolio) -> bool:
    return (
        Portfolio.objects.filter(
            user_id=portfolio.user_id, broker=portfolio.broker, is_paper=False, is_active=True
        )
        .exclude(pk=portfolio.pk)
        .exists()
    )


@dataclass(frozen=True)
class _OrderState:
    """The portfolio's live orders not final yet, with what they have filled, and when this was
    read: another reading that differs, or an order placed since, means a fill may have been
    booked in between."""

    read_at: datetime
    open_orders: frozenset

    @classmethod
    def of(cls, portfolio: Portfolio, read_at: datetime | None = None) -> _OrderState:
        return cls(
            read_at or timezone.now(),
            frozenset(
                Trade.objects.filter(
                    portfolio=portfolio, status__in=[Trade.Status.PENDING, *OPEN_STATUSES]
                ).values_list("pk", "status", "filled_quantity")
            ),
        )

    def moved(self, portfolio: Portfolio) -> bool:
        if _OrderState.of(portfolio, self.read_at).open_orders != self.open_orders:
            return True
        return Trade.objects.filter(portfolio=portfolio, created_at__gte=self.read_at).exists()


def _outcome_unknown(portfolio: Portfolio) -> bool:
    """A live order not sent yet, or sent without an answer: its fills may be anywhere."""
    return (
        Trade.objects.filter(portfolio=portfolio)
        .filter(
            Q(status=Trade.Status.PENDING)
            | Q(status__in=OPEN_STATUSES, broker_order_id__isnull=True)
        )
        .exists()
    )


def _reconcile(portfolio: Portfolio, client: ExchangeClient | None) -> BalanceCheck:
    """Book what the open orders filled, read the balance, book again: a fill booked by the
    second pass (or by anyone until the comparison) means the balance read may not match the
    books, and the check is skipped (the next one will find them settled)."""
    portfolio = Portfolio.objects.get(pk=portfolio.pk)
    if portfolio.is_paper:
        raise ValueError("A paper portfolio has no exchange account to reconcile with.")
    if _shared_account(portfolio):
        raise ReconciliationSkipped(
            f"The owner's {portfolio.broker} account holds several live portfolios; its balance "
            "cannot be attributed to one."
        )
    asset = cash_asset_for(portfolio)
    owned = client is None
    if client is None:
        try:
            client = client_for_key(live_orders.api_key_for_portfolio(portfolio))
        except live_orders.LiveOrderError as error:
            raise ReconciliationSkipped(str(error)) from None
    try:
        _bring_orders_up_to_date(portfolio, client)
        before = _OrderState.of(portfolio)
        balance = client.fetch_balance()
        _bring_orders_up_to_date(portfolio, client)
    except errors.ExchangeError as error:
        raise ReconciliationSkipped(f"The exchange could not be read: {error}") from None
    finally:
        if owned:
            client.close()
    return _compare(portfolio, asset, balance, before)


def _bring_orders_up_to_date(portfolio: Portfolio, client: ExchangeClient) -> None:
    """Book what the portfolio's open live orders filled, so the books are not behind."""
    from trading.live_trading import book_live_fill

    for trade in Trade.objects.filter(portfolio=portfolio, status__in=OPEN_STATUSES):
        live_orders.reconcile_live_order(trade=trade, client=client, on_fill=book_live_fill)


def _compare(
    portfolio: Portfolio, asset: str, balance: dict[str, AssetBalance], before: _OrderState
) -> BalanceCheck:
    zero = Decimal(0)
    with transaction.atomic():
        locked = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        if _outcome_unknown(locked):
            raise ReconciliationSkipped("A live order's outcome is not known yet.")
        if before.moved(locked):
            raise ReconciliationSkipped("A fill was booked while the balance was being read.")
        now = timezone.now()
        exchange_cash = balance[asset].total if asset in balance else zero
        check = BalanceCheck(
            locked.pk, "matched", asset, books_cash=locked.cash_balance, exchange_cash=exchange_cash
        )
        open_rows = {
            row.asset: row
            for row in Discrepancy.objects.select_for_update().filter(
                portfolio=locked, status=Discrepancy.Status.OPEN
            )
        }
        difference = money(exchange_cash) - locked.cash_balance
        if difference == 0:
            _clear(open_rows.pop(asset, None), now)
        elif abs(difference) <= tolerance() and asset not in open_rows:
            row = _record(locked, Discrepancy.Kind.CASH, asset, locked.cash_balance, exchange_cash)
            _adopt(row, actor=None, context=SYSTEM, note="within tolerance: adopted")
            check.outcome = "adjusted"
            check.discrepancies.append(row)
        else:
            row = _keep_open(
                locked, open_rows.pop(asset, None), Discrepancy.Kind.CASH, asset,
                locked.cash_balance, exchange_cash, now,
            )  # fmt: skip
            check.outcome = "discrepancy"
            check.discrepancies.append(row)
        for base, held in _base_holdings(locked, asset).items():
            on_exchange = balance[base].total if base in balance else zero
            previous = open_rows.pop(base, None)
            if on_exchange >= held:
                _clear(previous, now)
                continue
            row = _keep_open(
                locked, previous, Discrepancy.Kind.POSITION, base, held, on_exchange, now
            )
            check.discrepancies.append(row)
            if check.outcome == "matched":
                check.outcome = "discrepancy"
        for row in open_rows.values():  # assets the books no longer hold
            if row.kind == Discrepancy.Kind.POSITION:
                _clear(row, now)
    return check


def _base_holdings(portfolio: Portfolio, quote: str) -> dict[str, Decimal]:
    holdings: dict[str, Decimal] = {}
    for symbol, quantity in Position.objects.filter(
        portfolio=portfolio, is_open=True, quantity__gt=0
    ).values_list("symbol", "quantity"):
        base, _, symbol_quote = symbol.partition("/")
        if symbol_quote == quote:
            holdings[base] = holdings.get(base, Decimal(0)) + quantity
    return holdings


def _record(
    portfolio: Portfolio, kind: str, asset: str, books: Decimal, exchange: Decimal
) -> LiveBalanceDiscrepancy:
    return audited_create(
        instance=Discrepancy(
            portfolio=portfolio,
            kind=kind,
            asset=asset,
            books_amount=books,
            exchange_amount=exchange,
            status=Discrepancy.Status.OPEN,
            checked_at=timezone.now(),
        ),
        actor=None,
        context=SYSTEM,
    )


def _keep_open(
    portfolio: Portfolio,
    row: LiveBalanceDiscrepancy | None,
    kind: str,
    asset: str,
    books: Decimal,
    exchange: Decimal,
    now,
) -> LiveBalanceDiscrepancy:
    """The open discrepancy of the asset with the latest figures: a new one, or the one already
    open (its figures and check time brought up to date, audited when they moved)."""
    if row is None:
        row = _record(portfolio, kind, asset, books, exchange)
        logger.warning(
            "Live portfolio %s: %s on the exchange %s, in the books %s", portfolio.pk, asset,
            exchange, books,
        )  # fmt: skip
        return row
    if (row.books_amount, row.exchange_amount) != (books, exchange):
        return audited_update(
            instance=row,
            changes={"books_amount": books, "exchange_amount": exchange, "checked_at": now},
            actor=None,
            context=SYSTEM,
        )
    Discrepancy.objects.filter(pk=row.pk).update(checked_at=now)
    return row


def _clear(row: LiveBalanceDiscrepancy | None, now) -> None:
    if row is None:
        return
    audited_update(
        instance=row,
        changes={
            "status": Discrepancy.Status.CLEARED,
            "resolved_at": now,
            "checked_at": now,
            "note": "books and exchange agree again",
        },
        actor=None,
        context=SYSTEM,
    )


def _adopt(
    row: LiveBalanceDiscrepancy, *, actor: User | None, context: AuditContext, note: str
) -> None:
    """The books take the exchange's cash (the portfolio row locked by the caller), audited
    with both values on the portfolio and on the discrepancy."""
    portfolio = Portfolio.objects.get(pk=row.portfolio_id)
    cash = money(row.exchange_amount)
    audited_update(
        instance=portfolio,
        changes={
            "cash_balance": cash,
            "total_value": cash + (portfolio.positions_value or Decimal(0)),
        },
        actor=actor,
        context=context,
    )
    audited_update(
        instance=row,
        changes={
            "status": Discrepancy.Status.ADOPTED,
            "resolved_at": timezone.now(),
            "resolved_by_id": actor.pk if actor is not None else None,
            "note": note,
        },
        actor=actor,
        context=context,
    )
    invalidate_portfolio_cache(portfolio.pk, after_commit=True)
