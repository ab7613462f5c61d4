"""factory_boy factories for every relational model, producing rows that pass both `full_clean()`
and the database's CHECK constraints. Related objects hang together: a backtest belongs to its
strategy's user, a trade to its portfolio's user."""

import datetime as dt
import hashlib
import uuid
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.credential_encryption import encrypt_credential
from accounts.models import AccessToken, Alert, ApiKey, User
from compliance.models import AuditLog
from strategies.models import Backtest, BacktestTrade, Optimisation, Side, Strategy
from trading.models import Portfolio, Position, Trade

DEFAULT_PASSWORD = "correct horse battery staple"

SMA_CROSS_ENTRY = {
    "all": [
        {
            "left": {"indicator": "sma", "period": 20},
            "op": "crosses_above",
            "right": {"indicator": "sma", "period": 50},
        }
    ]
}
SMA_CROSS_EXIT = {
    "all": [
        {
            "left": {"indicator": "sma", "period": 20},
            "op": "crosses_below",
            "right": {"indicator": "sma", "period": 50},
        }
    ]
}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"trader{n}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Trader{n}")
    is_verified = True


class OperatorFactory(UserFactory):
    """A member of staff with every permission: what the operator console is built for."""

    email = factory.Sequence(lambda n: f"operator{n}@apextrade.example")
    is_staff = True
    is_superuser = True


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"SMA cross {n}")
    asset_symbol = "BTC/USDT"
    timeframe = "1h"
    entry_rules = factory.LazyFunction(lambda: SMA_CROSS_ENTRY)
    exit_rules = factory.LazyFunction(lambda: SMA_CROSS_EXIT)
    stop_loss_pct = Decimal("2.00")
    take_profit_pct = Decimal("4.00")

    class Params:
        active = factory.Trait(
            status=Strategy.Status.ACTIVE,
            trading_mode=Strategy.TradingMode.PAPER,
            activated_at=factory.LazyFunction(timezone.now),
        )


class BacktestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backtest

    strategy = factory.SubFactory(StrategyFactory)
    user = factory.SelfAttribute("strategy.user")
    start_date = dt.date(2025, 1, 1)
    end_date = dt.date(2025, 6, 30)
    initial_capital = Decimal("10000.00")
    strategy_snapshot = factory.LazyAttribute(
        lambda backtest: {
            "name": backtest.strategy.name,
            "asset_symbol": backtest.strategy.asset_symbol,
            "timeframe": backtest.strategy.timeframe,
            "entry_rules": backtest.strategy.entry_rules,
            "exit_rules": backtest.strategy.exit_rules,
        }
    )

    class Params:
        completed = factory.Trait(
            status=Backtest.Status.COMPLETED,
            progress_pct=100,
            final_capital=Decimal("11250.00"),
            total_return_pct=Decimal("12.5000"),
            total_trades=4,
            winning_trades=3,
            losing_trades=1,
            win_rate_pct=Decimal("75.00"),
            started_at=factory.LazyFunction(timezone.now),
            completed_at=factory.LazyFunction(timezone.now),
        )


class BacktestTradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BacktestTrade

    backtest = factory.SubFactory(BacktestFactory)
    trade_number = factory.Sequence(lambda n: n + 1)
    entry_date = dt.datetime(2025, 2, 3, 10, 0, tzinfo=dt.UTC)
    symbol = factory.SelfAttribute("backtest.strategy.asset_symbol")
    side = Side.BUY
    quantity = Decimal("0.25000000")
    entry_price = Decimal("40000.00000000")


class PortfolioFactory(factory.django.DjangoModelFactory):
    """A paper portfolio (no broker), as the spec requires of `is_paper = TRUE`."""

    class Meta:
        model = Portfolio

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Paper portfolio {n}")
    is_paper = True
    broker = None
    initial_balance = Decimal("10000.00")
    cash_balance = Decimal("10000.00")

    class Params:
        live = factory.Trait(is_paper=False, broker="binance", broker_account_id="acct-001")


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    portfolio = factory.SubFactory(PortfolioFactory)
    symbol = "BTC/USDT"
    quantity = Decimal("0.10000000")
    average_entry_price = Decimal("40000.00000000")
    cost_basis = Decimal("4000.00")

    class Params:
        closed = factory.Trait(is_open=False, closed_at=factory.LazyFunction(timezone.now))


class TradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trade

    portfolio = factory.SubFactory(PortfolioFactory)
    user = factory.SelfAttribute("portfolio.user")
    symbol = "BTC/USDT"
    side = Side.BUY
    order_type = Trade.OrderType.MARKET
    quantity = Decimal("0.10000000")
    is_paper = factory.SelfAttribute("portfolio.is_paper")

    class Params:
        filled = factory.Trait(
            status=Trade.Status.FILLED,
            filled_quantity=factory.SelfAttribute("quantity"),
            filled_price=Decimal("40000.00000000"),
            filled_value=Decimal("4000.00"),
            submitted_at=factory.LazyFunction(timezone.now),
            filled_at=factory.LazyFunction(timezone.now),
        )


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """Credentials encrypted as the service stores them; the clear texts are the class attributes
    below, so a test can check that they never show up anywhere."""

    class Meta:
        model = ApiKey

    class Params:
        clear_api_key = "factory-api-key-CLEARTEXT"
        clear_api_secret = "factory-api-secret-CLEARTEXT"

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Binance key {n}")
    exchange = ApiKey.Exchange.BINANCE
    is_testnet = True
    api_key_encrypted = factory.LazyAttribute(lambda key: encrypt_credential(key.clear_api_key))
    api_secret_encrypted = factory.LazyAttribute(
        lambda key: encrypt_credential(key.clear_api_secret)
    )


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    user = factory.SubFactory(UserFactory)
    symbol = "BTC/USDT"
    alert_type = Alert.AlertType.PRICE
    condition = Alert.Condition.ABOVE
    threshold = Decimal("50000.00000000")


class AuditLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditLog

    user = factory.SubFactory(UserFactory)
    action = AuditLog.Action.CREATE
    resource_type = "strategy"
    resource_id = factory.LazyFunction(uuid.uuid4)
    ip_address = "203.0.113.7"
    created_at = factory.LazyFunction(timezone.now)


class AccessTokenFactory(factory.django.DjangoModelFactory):
    """A token row as the service stores it; its secret is `apx_factory-<n>` (the class's
    `secret` parameter), for tests that sign in with it."""

    class Meta:
        model = AccessToken

    class Params:
        secret = factory.Sequence(lambda n: f"apx_factory-{n:08d}")

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Token {n}")
    prefix = factory.LazyAttribute(lambda token: token.secret[:12])
    token_hash = factory.LazyAttribute(
        lambda token: hashlib.sha256(token.secret.encode()).hexdigest()
    )
    scopes = factory.LazyFunction(lambda: ["read"])


class OptimisationFactory(factory.django.DjangoModelFactory):
    """A finished-looking grid optimisation of one of the user's strategies (nothing queued)."""

    class Meta:
        model = Optimisation

    user = factory.SubFactory(UserFactory)
    strategy = factory.SubFactory(StrategyFactory, user=factory.SelfAttribute("..user"))
    start_date = dt.date(2026, 1, 1)
    end_date = dt.date(2026, 3, 1)
    initial_capital = Decimal("10000.00")
    commission_pct = Decimal("0.0010")
    slippage_pct = Decimal("0.0005")
    strategy_snapshot = factory.LazyAttribute(lambda o: {"name": o.strategy.name})
    parameter_space = factory.LazyFunction(lambda: {"stop_loss_pct": {"values": [1, 2]}})
    search_method = "grid"
    max_variants = 2
    objective = "sharpe"
    chunk_size = 2
