"""Writes of the trading domain's portfolios (orders and fills are trading.orders and
trading.fills). The API and the console both write through these."""

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from compliance.audit import AuditContext
from compliance.services import audited_create, audited_delete, audited_update
from core.errors import StateConflict
from trading.models import Portfolio, Trade
from trading.portfolio_cache import invalidate_portfolio_cache

PORTFOLIO_AUDIT_FIELDS = ["name", "base_currency", "is_paper", "broker", "initial_balance"]
# What may change on an existing portfolio. Its owner, kind, currency and balances may not: money
# moves only through fills, and a relabelled currency would misstate every amount.
EDITABLE_PORTFOLIO_FIELDS = ("name", "description", "is_active", "broker_account_id")


def create_portfolio(
    *,
    user: User,
    name: str,
    initial_balance: Decimal,
    base_currency: str = "EUR",
    is_paper: bool = True,
    broker: str | None = None,
    broker_account_id: str | None = None,
    description: str | None = None,
    actor: User | None = None,
    context: AuditContext | None = None,
) -> Portfolio:
    """A paper portfolio (no broker) or a live one (with a broker) of `user`, funded with its
    initial balance in cash, made by `actor` (default: the user; an operator in the console)."""
    if not isinstance(initial_balance, Decimal):
        raise ValidationError({"initial_balance": ["Must be a Decimal amount."]})
    with transaction.atomic():
        portfolio = Portfolio(
            user=user,
            name=name,
            description=description,
            base_currency=base_currency,
            is_paper=is_paper,
            broker=broker,
            broker_account_id=broker_account_id,
            initial_balance=initial_balance,
            cash_balance=initial_balance,
            total_value=initial_balance,
        )
        audited_create(
            instance=portfolio, actor=actor or user, fields=PORTFOLIO_AUDIT_FIELDS, context=context
        )
    return portfolio


def update_portfolio(
    *,
    portfolio: Portfolio,
    actor: User,
    changes: dict[str, Any],
    context: AuditContext | None = None,
) -> Portfolio:
    """Rename, describe, (de)activate a portfolio or set its broker account. Raises
    ValidationError for any other field."""
    unknown = set(changes) - set(EDITABLE_PORTFOLIO_FIELDS)
    if unknown:
        raise ValidationError(
            {name: ["Cannot be changed on an existing portfolio."] for name in sorted(unknown)}
        )
    with transaction.atomic():
        locked = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        audited_update(instance=locked, changes=changes, actor=actor, context=context)
        invalidate_portfolio_cache(portfolio.pk, after_commit=True)
    portfolio.refresh_from_db()
    return portfolio


def delete_portfolio(
    *, portfolio: Portfolio, actor: User, context: AuditContext | None = None
) -> None:
    """Delete a portfolio that has never traded (its positions go with it). One with trades is a
    StateConflict: deleting it would delete its trades, which are kept ten years (MiFID II);
    deactivate it instead."""
    with transaction.atomic():
        locked = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        if Trade.objects.filter(portfolio=locked).exists():
            raise StateConflict(
                f"The portfolio {locked.name} has trades, which are kept ten years; deactivate "
                "it instead."
            )
        audited_delete(instance=locked, actor=actor, fields=PORTFOLIO_AUDIT_FIELDS, context=context)
        invalidate_portfolio_cache(portfolio.pk, after_commit=True)
