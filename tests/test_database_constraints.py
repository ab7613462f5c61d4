"""Every CHECK and UNIQUE rule of the spec (§3, §5.3) is enforced by PostgreSQL itself: a row
written around Django's validation (QuerySet.update(), raw SQL) is rejected, naming the
constraint. Boundary values the rules allow are accepted."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, models, transaction

from tests.factories import (
    AlertFactory,
    ApiKeyFactory,
    AuditLogFactory,
    BacktestFactory,
    BacktestTradeFactory,
    PortfolioFactory,
    PositionFactory,
    StrategyFactory,
    TradeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def violated_constraint(excinfo: pytest.ExceptionInfo[IntegrityError]) -> str:
    return excinfo.value.__cause__.diag.constraint_name


def update_row(instance: models.Model, **values: Any) -> None:
    """Write `values` with a single UPDATE, so no model validation runs."""
    type(instance).objects.filter(pk=instance.pk).update(**values)


# (constraint, factory, column values that break it)
VIOLATIONS: list[tuple[str, Callable[[], models.Model], dict[str, Any]]] = [
    ("email_format", UserFactory, {"email": "not-an-email"}),
    ("email_format", UserFactory, {"email": "trader@example"}),
    ("valid_timezone", UserFactory, {"timezone": "Paris"}),
    ("valid_timezone", UserFactory, {"timezone": "Europe/Paris 2"}),
    ("valid_currency", UserFactory, {"preferred_currency": "eur"}),
    ("valid_currency", UserFactory, {"preferred_currency": "EU"}),
    ("valid_status", StrategyFactory, {"status": "deleted"}),
    ("valid_trading_mode", StrategyFactory, {"trading_mode": "margin"}),
    ("valid_timeframe", StrategyFactory, {"timeframe": "0h"}),
    ("valid_timeframe", StrategyFactory, {"timeframe": "100m"}),
    ("valid_timeframe", StrategyFactory, {"timeframe": "1y"}),
    ("valid_symbol", StrategyFactory, {"asset_symbol": "btc/usdt"}),
    ("valid_symbol", StrategyFactory, {"asset_symbol": "BTCUSDT"}),
    ("valid_symbol", StrategyFactory, {"asset_symbol": "B/USDT"}),
    ("valid_stop_loss", StrategyFactory, {"stop_loss_pct": Decimal("-0.01")}),
    ("valid_stop_loss", StrategyFactory, {"stop_loss_pct": Decimal("100.01")}),
    ("valid_take_profit", StrategyFactory, {"take_profit_pct": Decimal("-0.01")}),
    ("valid_position_size", StrategyFactory, {"max_position_size_pct": Decimal("0")}),
    ("valid_position_size", StrategyFactory, {"max_position_size_pct": Decimal("100.01")}),
    ("valid_backtest_status", BacktestFactory, {"status": "paused"}),
    ("valid_date_range", BacktestFactory, {"end_date": dt.date(2025, 1, 1)}),
    ("valid_date_range", BacktestFactory, {"end_date": dt.date(2024, 12, 31)}),
    ("valid_capital", BacktestFactory, {"initial_capital": Decimal("0")}),
    ("valid_capital", BacktestFactory, {"initial_capital": Decimal("-100")}),
    ("valid_progress", BacktestFactory, {"progress_pct": -1}),
    ("valid_progress", BacktestFactory, {"progress_pct": 101}),
    ("valid_side", BacktestTradeFactory, {"side": "LONG"}),
    ("valid_quantity", BacktestTradeFactory, {"quantity": Decimal("0")}),
    ("valid_quantity", BacktestTradeFactory, {"quantity": Decimal("-1")}),
    ("valid_prices", BacktestTradeFactory, {"entry_price": Decimal("0")}),
    ("valid_prices", BacktestTradeFactory, {"exit_price": Decimal("0")}),
    ("valid_broker", PortfolioFactory, {"broker": "binance"}),
    ("valid_broker", PortfolioFactory, {"is_paper": False}),
    ("valid_currency", PortfolioFactory, {"base_currency": "usd"}),
    ("valid_balance", PortfolioFactory, {"initial_balance": Decimal("-0.01")}),
    ("valid_quantity", PositionFactory, {"quantity": Decimal("0")}),
    ("valid_price", PositionFactory, {"average_entry_price": Decimal("0")}),
    ("valid_trade_side", TradeFactory, {"side": "HOLD"}),
    ("valid_order_type", TradeFactory, {"order_type": "ICEBERG"}),
    ("valid_trade_status", TradeFactory, {"status": "rejected"}),
    ("valid_trade_quantity", TradeFactory, {"quantity": Decimal("0")}),
    ("valid_filled_quantity", TradeFactory, {"filled_quantity": Decimal("-0.1")}),
    ("valid_filled_quantity", TradeFactory, {"filled_quantity": Decimal("0.10000001")}),
    ("valid_exchange", ApiKeyFactory, {"exchange": "ftx"}),
    ("valid_permissions", ApiKeyFactory, {"permissions": ["read", "admin"]}),
    ("valid_alert_type", AlertFactory, {"alert_type": "news"}),
    ("valid_condition", AlertFactory, {"condition": "between"}),
]


@pytest.mark.parametrize(
    ("constraint", "factory", "values"),
    VIOLATIONS,
    ids=[f"{name}-{'-'.join(map(str, values.values()))}" for name, _, values in VIOLATIONS],
)
def test_database_rejects_a_row_that_breaks_a_check_constraint(
    constraint: str, factory: Callable[[], models.Model], values: dict[str, Any]
) -> None:
    instance = factory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        update_row(instance, **values)

    assert violated_constraint(excinfo) == constraint


def test_valid_action_rejects_an_unknown_action() -> None:
    # audit_logs rows are append-only (compliance migration 0004), so the CHECK is met on INSERT.
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        AuditLogFactory(action="hack")

    assert violated_constraint(excinfo) == "valid_action"


def test_database_rejects_a_bad_row_inserted_by_raw_sql() -> None:
    user = UserFactory()

    with (
        pytest.raises(IntegrityError) as excinfo,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO strategies (user_id, name, asset_symbol, timeframe, entry_rules,"
            " exit_rules) VALUES (%s, 'raw', 'BTC-USDT', '1h', '{}', '{}')",
            [user.pk],
        )

    assert violated_constraint(excinfo) == "valid_symbol"


def test_database_refuses_an_email_that_differs_only_in_case() -> None:
    UserFactory(email="carol@example.com")
    other = UserFactory(email="dave@example.com")

    with (
        pytest.raises(IntegrityError) as inserted,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("INSERT INTO users (email, password_hash) VALUES ('Carol@Example.COM', 'x')")
    with pytest.raises(IntegrityError) as updated, transaction.atomic():
        update_row(other, email="CAROL@example.com")

    assert violated_constraint(inserted) == "users_email_lower_unique"
    assert violated_constraint(updated) == "users_email_lower_unique"


# (factory, column values the rules allow at their edges)
ACCEPTED_BOUNDARIES: list[tuple[Callable[[], models.Model], dict[str, Any]]] = [
    (UserFactory, {"email": "a.b-c+d@sub.example.co"}),
    (UserFactory, {"timezone": "America/New_York", "preferred_currency": "USD"}),
    (UserFactory, {"timezone": None, "preferred_currency": None}),
    (StrategyFactory, {"timeframe": "1m"}),
    (StrategyFactory, {"timeframe": "99M"}),
    (StrategyFactory, {"asset_symbol": "ABCDEFGHIJ/XY"}),
    (StrategyFactory, {"stop_loss_pct": Decimal("0"), "take_profit_pct": Decimal("0")}),
    (StrategyFactory, {"stop_loss_pct": Decimal("100"), "take_profit_pct": Decimal("999.99")}),
    (StrategyFactory, {"stop_loss_pct": None, "take_profit_pct": None, "trading_mode": None}),
    (StrategyFactory, {"max_position_size_pct": Decimal("0.01")}),
    (StrategyFactory, {"max_position_size_pct": Decimal("100")}),
    (BacktestFactory, {"end_date": dt.date(2025, 1, 2), "initial_capital": Decimal("0.01")}),
    (BacktestFactory, {"progress_pct": 0}),
    (BacktestFactory, {"progress_pct": 100}),
    (BacktestTradeFactory, {"exit_price": None}),
    (BacktestTradeFactory, {"side": "SELL", "exit_price": Decimal("0.00000001")}),
    (PortfolioFactory, {"is_paper": False, "broker": "binance", "initial_balance": 0}),
    (PositionFactory, {"quantity": Decimal("-0.5")}),
    (TradeFactory, {"filled_quantity": Decimal("0.1")}),
    (TradeFactory, {"filled_quantity": Decimal("0")}),
    (ApiKeyFactory, {"permissions": ["read", "trade", "withdraw"]}),
    (ApiKeyFactory, {"permissions": []}),
]


@pytest.mark.parametrize(("factory", "values"), ACCEPTED_BOUNDARIES)
def test_database_accepts_values_at_the_edge_of_a_check_constraint(
    factory: Callable[[], models.Model], values: dict[str, Any]
) -> None:
    instance = factory()

    update_row(instance, **values)

    stored = type(instance).objects.filter(pk=instance.pk).values(*values).get()
    assert stored == values


def test_take_profit_tops_out_at_the_columns_precision_below_the_checks_bound() -> None:
    # The spec's CHECK allows up to 1000 but its NUMERIC(5,2) stores at most 999.99: built as
    # written, 999.99 is the largest take profit, and 1000 is refused as an overflow.
    strategy = StrategyFactory()
    update_row(strategy, take_profit_pct=Decimal("999.99"))
    strategy.refresh_from_db()
    assert strategy.take_profit_pct == Decimal("999.99")

    with pytest.raises(DataError, match="numeric field overflow"), transaction.atomic():
        update_row(strategy, take_profit_pct=Decimal("1000"))

    strategy.take_profit_pct = Decimal("1000")
    with pytest.raises(ValidationError) as excinfo:
        strategy.full_clean()
    assert "take_profit_pct" in excinfo.value.message_dict


def test_only_one_open_position_per_portfolio_and_symbol() -> None:
    position = PositionFactory(symbol="ETH/USDT")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        PositionFactory(portfolio=position.portfolio, symbol="ETH/USDT")

    assert violated_constraint(excinfo) == "unique_open_position"


def test_closed_positions_in_the_same_symbol_may_be_many() -> None:
    portfolio = PortfolioFactory()
    PositionFactory.create_batch(3, portfolio=portfolio, symbol="ETH/USDT", is_open=False)

    PositionFactory(portfolio=portfolio, symbol="ETH/USDT")

    assert portfolio.positions.filter(symbol="ETH/USDT").count() == 4


def test_reopening_a_closed_position_beside_an_open_one_is_rejected() -> None:
    open_position = PositionFactory(symbol="ETH/USDT")
    closed = PositionFactory(portfolio=open_position.portfolio, symbol="ETH/USDT", is_open=False)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        update_row(closed, is_open=True)

    assert violated_constraint(excinfo) == "unique_open_position"


def test_open_positions_in_different_portfolios_or_symbols_coexist() -> None:
    position = PositionFactory(symbol="ETH/USDT")

    PositionFactory(portfolio=position.portfolio, symbol="BTC/USDT")
    PositionFactory(symbol="ETH/USDT")

    assert position.portfolio.positions.filter(is_open=True).count() == 2


def test_a_user_has_one_api_key_per_exchange_and_network() -> None:
    key = ApiKeyFactory(exchange="kraken", is_testnet=False)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        ApiKeyFactory(user=key.user, exchange="kraken", is_testnet=False)

    assert violated_constraint(excinfo) == "idx_api_keys_unique"


def test_a_user_may_hold_a_testnet_and_a_live_key_for_one_exchange() -> None:
    key = ApiKeyFactory(exchange="kraken", is_testnet=False)

    ApiKeyFactory(user=key.user, exchange="kraken", is_testnet=True)
    ApiKeyFactory(user=key.user, exchange="binance", is_testnet=False)

    assert key.user.api_keys.count() == 3


def test_two_users_cannot_share_an_email_address() -> None:
    user = UserFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email=user.email)
