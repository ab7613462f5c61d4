"""Reads of the trading domain, scoped to the user who asks."""

from django.db.models import QuerySet

from accounts.models import User
from trading.models import Portfolio, Position, Trade


def portfolios_for(user: User) -> QuerySet[Portfolio]:
    return Portfolio.objects.filter(user=user).order_by("name")


def open_positions(portfolio: Portfolio) -> QuerySet[Position]:
    return Position.objects.filter(portfolio=portfolio, is_open=True).order_by("symbol")


def positions_for(user: User) -> QuerySet[Position]:
    """Every position, open or closed, of the user's portfolios."""
    return Position.objects.filter(portfolio__user=user).order_by("-opened_at")


def trades_for(user: User) -> QuerySet[Trade]:
    return Trade.objects.filter(user=user).order_by("-created_at")


def order_for_idempotency_key(user: User, key: str) -> Trade | None:
    """The user's order placed with this Idempotency-Key, if any."""
    return Trade.objects.filter(user=user, idempotency_key=key).first()
