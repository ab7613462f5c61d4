"""Writes of the trading domain. Order placement and execution arrive with paper and live
trading; for now, portfolios."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from compliance.audit import AuditContext
from compliance.services import audited_create
from trading.models import Portfolio

PORTFOLIO_AUDIT_FIELDS = ["name", "base_currency", "is_paper", "broker", "initial_balance"]


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
    context: AuditContext | None = None,
) -> Portfolio:
    """A paper portfolio (no broker) or a live one (with a broker), funded with its initial
    balance in cash."""
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
            instance=portfolio, actor=user, fields=PORTFOLIO_AUDIT_FIELDS, context=context
        )
    return portfolio
