"""A person with data in every table that can hold theirs, in both databases and Redis."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.security.access_tokens import create_access_token
from accounts.services import register_user
from accounts.session_store import SessionStore
from compliance.audit import AuditContext
from compliance.services import record_audit_event
from core.cache_keys import portfolio_key, rate_limit_key
from marketdata.models import EquityHistory
from strategies.models import Optimisation, OptimisationFold, OptimisationVariant
from tests.factories import (
    AlertFactory,
    ApiKeyFactory,
    BacktestTradeFactory,
    PortfolioFactory,
    PositionFactory,
    TradeFactory,
)
from trading.models import LiveBalanceDiscrepancy, StrategyDeployment

EMAIL = "erin.erasable@example.com"
FIRST_NAME = "Erinaceous"
LAST_NAME = "Hedgehogsworth"
IP = "198.51.100.77"


@dataclass
class Person:
    user: Any
    portfolio: Any
    old_portfolio: Any
    session_key: str


def make_person() -> Person:
    context = AuditContext(ip_address=IP, user_agent="Erin's browser", channel="api")
    user = register_user(
        email=EMAIL, password="a long passphrase 42", first_name=FIRST_NAME, context=context
    )
    user.last_name = LAST_NAME
    user.save(update_fields=["last_name"])
    record_audit_event(
        actor=user, action="login", resource_type="user", resource_id=user.pk, context=context
    )
    trade = BacktestTradeFactory(backtest__strategy__user=user)
    record_audit_event(
        actor=user,
        action="create",
        resource_type="strategy",
        resource_id=trade.backtest.strategy.pk,
        new_values={"user_id": str(user.pk), "name": trade.backtest.strategy.name},
        context=context,
    )
    portfolio = PortfolioFactory(user=user, description=f"{FIRST_NAME}'s savings")
    PositionFactory(portfolio=portfolio)
    TradeFactory(portfolio=portfolio)
    StrategyDeployment.objects.create(strategy=trade.backtest.strategy, portfolio=portfolio)
    LiveBalanceDiscrepancy.objects.create(
        portfolio=portfolio,
        kind="cash",
        asset="USDT",
        books_amount=Decimal("100"),
        exchange_amount=Decimal("90"),
    )
    optimisation = Optimisation.objects.create(
        strategy=trade.backtest.strategy,
        user=user,
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 3, 1),
        initial_capital=Decimal("10000.00"),
        commission_pct=Decimal("0.0010"),
        slippage_pct=Decimal("0.0005"),
        strategy_snapshot={"name": trade.backtest.strategy.name},
        parameter_space={"stop_loss_pct": {"values": [1, 2]}},
        search_method="grid",
        max_variants=2,
        objective="sharpe",
        chunk_size=2,
    )
    OptimisationVariant.objects.create(
        optimisation=optimisation,
        fold=0,
        variant_number=0,
        parameters={"stop_loss_pct": 1},
        meets_constraints=True,
    )
    OptimisationFold.objects.create(
        optimisation=optimisation,
        fold_number=1,
        in_sample_start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        in_sample_end=dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC),
        out_of_sample_start=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        out_of_sample_end=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    # A portfolio whose only trade is past its ten years: nothing of it is kept.
    old_portfolio = PortfolioFactory(user=user, name=f"{LAST_NAME} 2010")
    old_trade = TradeFactory(portfolio=old_portfolio)
    type(old_trade).objects.filter(pk=old_trade.pk).update(
        created_at=timezone.now() - dt.timedelta(days=3700)
    )
    ApiKeyFactory(user=user)
    create_access_token(user=user, name=f"{FIRST_NAME}'s script", scopes=["read"], context=context)
    AlertFactory(user=user, message=f"call {FIRST_NAME}")
    for day in range(3):
        EquityHistory.objects.create(
            time=dt.datetime(2026, 1, 1 + day, tzinfo=dt.UTC),
            portfolio_id=portfolio.pk,
            equity_value=Decimal("10000.00"),
            cash_balance=Decimal("9000.00"),
            positions_value=Decimal("1000.00"),
        )
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store["email"] = EMAIL
    store.create()
    cache.set(rate_limit_key(user.pk), 42)
    cache.set(portfolio_key(portfolio.pk), {"owner": EMAIL})
    return Person(user, portfolio, old_portfolio, store.session_key)


@pytest.fixture
def person() -> Person:
    return make_person()
