"""`full_clean()` mirrors the database's constraints, so the admin and the API report a bad value
as an error on its field (or, for rules across fields, as a form-wide error) before PostgreSQL
would reject the row."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, models

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

ALL_FACTORIES = [
    UserFactory,
    StrategyFactory,
    BacktestFactory,
    BacktestTradeFactory,
    PortfolioFactory,
    PositionFactory,
    TradeFactory,
    ApiKeyFactory,
    AlertFactory,
    AuditLogFactory,
]


def validation_errors(instance: models.Model) -> dict[str, list[str]]:
    try:
        instance.full_clean()
    except ValidationError as error:
        return error.message_dict
    return {}


@pytest.mark.parametrize("factory", ALL_FACTORIES, ids=lambda f: f._meta.model.__name__)
def test_factories_make_rows_that_pass_validation(factory: Callable[[], models.Model]) -> None:
    assert validation_errors(factory()) == {}


TRAITS = [
    (StrategyFactory, "active"),
    (BacktestFactory, "completed"),
    (PortfolioFactory, "live"),
    (PositionFactory, "closed"),
    (TradeFactory, "filled"),
]


@pytest.mark.parametrize(
    ("factory", "trait"), TRAITS, ids=[f"{f._meta.model.__name__}-{t}" for f, t in TRAITS]
)
def test_factory_traits_make_rows_that_pass_validation(
    factory: Callable[..., models.Model], trait: str
) -> None:
    assert validation_errors(factory(**{trait: True})) == {}


# (factory, values that break a rule, the field the error is reported on)
FIELD_ERRORS: list[tuple[Callable[[], models.Model], dict[str, Any], str]] = [
    (UserFactory, {"email": "not-an-email"}, "email"),
    (UserFactory, {"email": "trader@example"}, "email"),
    (UserFactory, {"timezone": "Paris"}, "timezone"),
    (UserFactory, {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    (UserFactory, {"preferred_currency": "eur"}, "preferred_currency"),
    (StrategyFactory, {"asset_symbol": "btc/usdt"}, "asset_symbol"),
    (StrategyFactory, {"asset_symbol": "BTCUSDT"}, "asset_symbol"),
    (StrategyFactory, {"timeframe": "0h"}, "timeframe"),
    (StrategyFactory, {"timeframe": "1y"}, "timeframe"),
    (StrategyFactory, {"status": "deleted"}, "status"),
    (StrategyFactory, {"trading_mode": "margin"}, "trading_mode"),
    (StrategyFactory, {"stop_loss_pct": Decimal("-0.01")}, "stop_loss_pct"),
    (StrategyFactory, {"stop_loss_pct": Decimal("100.01")}, "stop_loss_pct"),
    (StrategyFactory, {"take_profit_pct": Decimal("-1")}, "take_profit_pct"),
    (StrategyFactory, {"max_position_size_pct": Decimal("0")}, "max_position_size_pct"),
    (StrategyFactory, {"max_position_size_pct": Decimal("100.01")}, "max_position_size_pct"),
    (StrategyFactory, {"max_drawdown_pct": Decimal("100.01")}, "max_drawdown_pct"),
    (StrategyFactory, {"entry_rules": {"left": "close", "op": "=="}}, "entry_rules"),
    (StrategyFactory, {"exit_rules": {"indicator": "sma"}}, "exit_rules"),
    (BacktestFactory, {"status": "paused"}, "status"),
    (BacktestFactory, {"initial_capital": Decimal("0")}, "initial_capital"),
    (BacktestFactory, {"progress_pct": -1}, "progress_pct"),
    (BacktestFactory, {"progress_pct": 101}, "progress_pct"),
    (BacktestTradeFactory, {"side": "LONG"}, "side"),
    (BacktestTradeFactory, {"quantity": Decimal("0")}, "quantity"),
    (BacktestTradeFactory, {"entry_price": Decimal("0")}, "entry_price"),
    (BacktestTradeFactory, {"exit_price": Decimal("-1")}, "exit_price"),
    (PortfolioFactory, {"base_currency": "usd"}, "base_currency"),
    (PortfolioFactory, {"initial_balance": Decimal("-0.01")}, "initial_balance"),
    (PositionFactory, {"symbol": "ETHUSDT"}, "symbol"),
    (PositionFactory, {"average_entry_price": Decimal("0")}, "average_entry_price"),
    (TradeFactory, {"symbol": "eth/usdt"}, "symbol"),
    (TradeFactory, {"side": "HOLD"}, "side"),
    (TradeFactory, {"order_type": "ICEBERG"}, "order_type"),
    (TradeFactory, {"status": "rejected"}, "status"),
    (TradeFactory, {"quantity": Decimal("0")}, "quantity"),
    (TradeFactory, {"filled_quantity": Decimal("-0.1")}, "filled_quantity"),
    (ApiKeyFactory, {"exchange": "ftx"}, "exchange"),
    (ApiKeyFactory, {"permissions": ["read", "admin"]}, "permissions"),
    (AlertFactory, {"symbol": "BTC"}, "symbol"),
    (AlertFactory, {"alert_type": "news"}, "alert_type"),
    (AlertFactory, {"condition": "between"}, "condition"),
    (AuditLogFactory, {"action": "hack"}, "action"),
]


@pytest.mark.parametrize(
    ("factory", "values", "field"),
    FIELD_ERRORS,
    ids=[f"{field}={next(iter(values.values()))}" for _, values, field in FIELD_ERRORS],
)
def test_a_value_the_database_would_reject_is_a_field_error(
    factory: Callable[[], models.Model], values: dict[str, Any], field: str
) -> None:
    instance = factory()
    for name, value in values.items():
        setattr(instance, name, value)

    assert list(validation_errors(instance)) == [field]


def test_values_at_the_edges_the_database_allows_are_valid() -> None:
    strategy = StrategyFactory(
        stop_loss_pct=Decimal("100"),
        take_profit_pct=Decimal("999.99"),
        max_position_size_pct=Decimal("0.01"),
        timeframe="99M",
    )
    backtest = BacktestFactory(end_date=dt.date(2025, 1, 2), progress_pct=100)
    position = PositionFactory(quantity=Decimal("-0.5"))

    assert validation_errors(strategy) == {}
    assert validation_errors(backtest) == {}
    assert validation_errors(position) == {}


# (factory, values that break a rule across fields, the message shown for the whole form)
FORM_ERRORS: list[tuple[Callable[[], models.Model], dict[str, Any], str]] = [
    (
        BacktestFactory,
        {"start_date": dt.date(2025, 3, 1), "end_date": dt.date(2025, 3, 1)},
        "The end date must be after the start date.",
    ),
    (
        PortfolioFactory,
        {"is_paper": True, "broker": "binance"},
        "A paper portfolio has no broker; a live one needs one.",
    ),
    (
        PortfolioFactory,
        {"is_paper": False, "broker": None},
        "A paper portfolio has no broker; a live one needs one.",
    ),
    (PositionFactory, {"quantity": Decimal("0")}, "A position's quantity cannot be zero."),
    (
        TradeFactory,
        {"quantity": Decimal("1"), "filled_quantity": Decimal("1.5")},
        "The filled quantity must lie between 0 and the quantity.",
    ),
]


@pytest.mark.parametrize(
    ("factory", "values", "message"),
    FORM_ERRORS,
    ids=["date_range", "paper_with_broker", "live_without_broker", "zero_position", "overfill"],
)
def test_a_rule_across_fields_is_a_form_wide_error(
    factory: Callable[[], models.Model], values: dict[str, Any], message: str
) -> None:
    instance = factory()
    for name, value in values.items():
        setattr(instance, name, value)

    assert validation_errors(instance) == {NON_FIELD_ERRORS: [message]}


def test_a_second_open_position_in_a_symbol_is_reported_before_the_database_sees_it() -> None:
    position = PositionFactory()
    duplicate = PositionFactory.build(portfolio=position.portfolio, symbol=position.symbol)

    assert validation_errors(duplicate) == {
        NON_FIELD_ERRORS: ["The portfolio already has an open position in it."]
    }


def test_a_second_closed_position_in_a_symbol_is_valid() -> None:
    position = PositionFactory(is_open=False)
    closed_again = PositionFactory.build(
        portfolio=position.portfolio, symbol=position.symbol, is_open=False
    )

    assert validation_errors(closed_again) == {}


def test_a_second_key_for_the_same_exchange_and_network_is_reported() -> None:
    key = ApiKeyFactory()
    duplicate = ApiKeyFactory.build(user=key.user, exchange=key.exchange, is_testnet=key.is_testnet)

    assert list(validation_errors(duplicate)) == [NON_FIELD_ERRORS]


def test_an_email_already_taken_is_reported_on_the_email_field() -> None:
    user = UserFactory()
    duplicate = UserFactory.build(email=user.email)

    assert list(validation_errors(duplicate)) == ["email"]


def test_an_email_taken_in_another_case_is_reported_on_the_email_field() -> None:
    # Stored around the manager's normalisation, so only the case-insensitive rule matches.
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO users (email, password_hash) VALUES ('Carol@Example.COM', 'x')")
    duplicate = UserFactory.build(email="carol@example.com")

    errors = validation_errors(duplicate)

    assert errors == {"email": ["A user with this email address already exists."]}
