"""The spec's column defaults are in the database, not only in Django: a row inserted by raw SQL
that names just the required columns gets them (ids included, from gen_random_uuid())."""

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, models

from accounts.models import Alert, ApiKey, User
from compliance.models import AuditLog
from strategies.models import Backtest, BacktestTrade, Strategy
from tests.factories import BacktestFactory, PortfolioFactory, StrategyFactory, UserFactory
from trading.models import Portfolio, Position, Trade

pytestmark = pytest.mark.django_db


def insert(model: type[models.Model], **columns: Any) -> Any:
    """INSERT only `columns` into the model's table and return the new row's id."""
    names = ", ".join(columns)
    placeholders = ", ".join(["%s"] * len(columns))
    values = [json.dumps(v) if isinstance(v, dict) else v for v in columns.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({names}) VALUES ({placeholders}) RETURNING id",
            values,
        )
        return cursor.fetchone()[0]


def stored(model: type[models.Model], pk: Any, *fields: str) -> dict[str, Any]:
    return model.objects.filter(pk=pk).values(*fields).get()


def is_stamped_by_this_insert(value: dt.datetime) -> bool:
    """Between the transaction's start and now. (Django's `Now()` default is PostgreSQL's
    statement_timestamp(), not the spec's transaction-start NOW().)"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOW(), clock_timestamp()")
        transaction_start, clock = cursor.fetchone()
    return transaction_start <= value <= clock


def test_a_user_row_with_only_the_spec_columns_is_accepted() -> None:
    pk = insert(User, email="raw@example.com", password_hash="!")

    assert User.objects.filter(pk=pk).exists()


def test_a_raw_user_row_gets_the_spec_defaults() -> None:
    pk = insert(User, email="raw@example.com", password_hash="!")

    assert isinstance(pk, uuid.UUID)
    assert is_stamped_by_this_insert(stored(User, pk, "created_at")["created_at"])
    assert is_stamped_by_this_insert(stored(User, pk, "updated_at")["updated_at"])
    assert stored(
        User,
        pk,
        "timezone",
        "preferred_currency",
        "is_active",
        "is_verified",
        "mfa_enabled",
        "is_staff",
        "notification_preferences",
    ) == {
        "timezone": "Europe/Paris",
        "preferred_currency": "EUR",
        "is_active": True,
        "is_verified": False,
        "mfa_enabled": False,
        "is_staff": False,
        "notification_preferences": {
            "email_trade_executed": True,
            "email_daily_summary": True,
            "push_price_alerts": True,
        },
    }


def test_a_raw_strategy_row_is_a_draft_at_version_one() -> None:
    user = UserFactory()

    pk = insert(
        Strategy,
        user_id=user.pk,
        name="raw",
        asset_symbol="BTC/USDT",
        timeframe="1h",
        entry_rules={"left": "close", "op": ">", "right": 1},
        exit_rules={"left": "close", "op": "<", "right": 1},
    )

    assert stored(Strategy, pk, "status", "version", "max_position_size_pct", "trading_mode") == {
        "status": "draft",
        "version": 1,
        "max_position_size_pct": Decimal("10.00"),
        "trading_mode": None,
    }


def test_a_raw_backtest_row_is_pending_with_default_costs() -> None:
    strategy = StrategyFactory()

    pk = insert(
        Backtest,
        strategy_id=strategy.pk,
        user_id=strategy.user_id,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 2, 1),
        initial_capital=Decimal("1000"),
        strategy_snapshot={},
    )

    assert stored(Backtest, pk, "status", "progress_pct", "commission_pct", "slippage_pct") == {
        "status": "pending",
        "progress_pct": 0,
        "commission_pct": Decimal("0.0010"),
        "slippage_pct": Decimal("0.0005"),
    }


def test_a_raw_backtest_trade_row_is_open_with_no_costs() -> None:
    backtest = BacktestFactory()

    pk = insert(
        BacktestTrade,
        backtest_id=backtest.pk,
        trade_number=1,
        entry_date=dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
        symbol="BTC/USDT",
        side="BUY",
        quantity=Decimal("1"),
        entry_price=Decimal("100"),
    )

    assert stored(BacktestTrade, pk, "is_open", "commission", "slippage") == {
        "is_open": True,
        "commission": Decimal("0"),
        "slippage": Decimal("0"),
    }


def test_a_raw_portfolio_row_is_an_active_paper_portfolio_in_euros() -> None:
    user = UserFactory()

    pk = insert(Portfolio, user_id=user.pk, name="raw", initial_balance=1000, cash_balance=1000)

    assert stored(
        Portfolio,
        pk,
        "base_currency",
        "is_paper",
        "broker",
        "is_active",
        "positions_value",
        "unrealized_pnl",
        "realized_pnl",
    ) == {
        "base_currency": "EUR",
        "is_paper": True,
        "broker": None,
        "is_active": True,
        "positions_value": Decimal("0"),
        "unrealized_pnl": Decimal("0"),
        "realized_pnl": Decimal("0"),
    }


def test_a_raw_position_row_is_open_from_now() -> None:
    portfolio = PortfolioFactory()

    pk = insert(
        Position,
        portfolio_id=portfolio.pk,
        symbol="BTC/USDT",
        quantity=Decimal("1"),
        average_entry_price=Decimal("100"),
        cost_basis=Decimal("100"),
    )

    row = stored(Position, pk, "is_open", "realized_pnl", "opened_at")
    assert is_stamped_by_this_insert(row.pop("opened_at"))
    assert row == {"is_open": True, "realized_pnl": Decimal("0")}


def test_a_raw_trade_row_is_pending_and_unfilled() -> None:
    portfolio = PortfolioFactory()

    pk = insert(
        Trade,
        user_id=portfolio.user_id,
        portfolio_id=portfolio.pk,
        symbol="BTC/USDT",
        side="BUY",
        order_type="MARKET",
        quantity=Decimal("1"),
        is_paper=True,
    )

    assert stored(Trade, pk, "status", "filled_quantity", "commission", "slippage") == {
        "status": "pending",
        "filled_quantity": Decimal("0"),
        "commission": Decimal("0"),
        "slippage": Decimal("0"),
    }


def test_a_raw_api_key_row_may_only_read_and_targets_the_testnet() -> None:
    user = UserFactory()

    pk = insert(
        ApiKey,
        user_id=user.pk,
        name="raw",
        exchange="binance",
        api_key_encrypted=b"\x00",
        api_secret_encrypted=b"\x00",
    )

    assert stored(ApiKey, pk, "permissions", "is_testnet", "is_valid", "request_count") == {
        "permissions": ["read"],
        "is_testnet": True,
        "is_valid": True,
        "request_count": 0,
    }


def test_a_raw_alert_row_is_active_untriggered_and_notifies() -> None:
    user = UserFactory()

    pk = insert(
        Alert,
        user_id=user.pk,
        symbol="BTC/USDT",
        alert_type="price",
        condition="above",
        threshold=Decimal("1"),
    )

    assert stored(
        Alert,
        pk,
        "is_active",
        "is_triggered",
        "is_recurring",
        "notify_email",
        "notify_push",
    ) == {
        "is_active": True,
        "is_triggered": False,
        "is_recurring": False,
        "notify_email": True,
        "notify_push": True,
    }


def test_a_raw_audit_log_row_is_stamped_with_now() -> None:
    pk = insert(AuditLog, action="login", resource_type="session")

    row = stored(AuditLog, pk, "created_at", "user")
    assert is_stamped_by_this_insert(row["created_at"])
    assert row["user"] is None
