"""Demo data for a newcomer's first run: an operator, a demo client with the example strategies
and a paper portfolio, and ninety days of synthetic BTC/USDT candles. Idempotent: a second run
changes nothing but the printed passwords (it resets them, since stored hashes cannot be shown
again)."""

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from accounts.models import User
from accounts.services import create_operator, register_user
from compliance.audit import AuditContext
from marketdata.models import Ohlcv
from marketdata.services import generate_synthetic_ohlcv
from strategies.models import Strategy
from strategies.rules.examples import EXAMPLE_STRATEGIES
from strategies.services.strategies import create_strategy
from trading.models import Portfolio
from trading.services import create_portfolio

OPERATOR_EMAIL = "operator@apextrade.local"
DEMO_EMAIL = "demo@apextrade.local"
DEMO_PORTFOLIO = "Demo paper portfolio"
DEMO_CONTEXT = AuditContext.system("seed_demo")
# Ninety days of one-minute candles for the example strategies' symbol: 1h and 1d candles and
# every other timeframe roll up from these.
DEMO_SYMBOL = "BTC/USDT"
DEMO_CANDLE_BARS = 90 * 24 * 60


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str


def _new_password() -> str:
    return secrets.token_urlsafe(12)


def _ensure_user(email: str, *, operator: bool) -> Credentials:
    password = _new_password()
    user = User.objects.filter(email=email).first()
    if user is None:
        if operator:
            create_operator(email=email, password=password, context=DEMO_CONTEXT)
        else:
            register_user(
                email=email,
                password=password,
                first_name="Demo",
                last_name="Trader",
                context=DEMO_CONTEXT,
            )
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    return Credentials(email=email, password=password)


def _ensure_demo_strategies(user: User) -> int:
    made = 0
    for example in EXAMPLE_STRATEGIES:
        if Strategy.objects.filter(user=user, name=example["name"]).exists():
            continue
        create_strategy(
            user=user,
            name=example["name"],
            description=example.get("description"),
            asset_symbol=example["asset_symbol"],
            timeframe=example["timeframe"],
            entry_rules=example["entry_rules"],
            exit_rules=example["exit_rules"],
            stop_loss_pct=_decimal(example.get("stop_loss_pct")),
            take_profit_pct=_decimal(example.get("take_profit_pct")),
            max_position_size_pct=_decimal(example.get("max_position_size_pct")) or Decimal("10"),
            max_drawdown_pct=_decimal(example.get("max_drawdown_pct")),
            trailing_stop_pct=_decimal(example.get("trailing_stop_pct")),
            context=DEMO_CONTEXT,
        )
        made += 1
    return made


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _ensure_demo_candles(bars: int) -> int:
    """Synthetic 1m candles for DEMO_SYMBOL, unless it already has candles; rows written."""
    if Ohlcv.objects.filter(symbol=DEMO_SYMBOL, timeframe="1m").exists():
        return 0
    result = generate_synthetic_ohlcv(symbol=DEMO_SYMBOL, timeframe="1m", bars=bars, seed=2026)
    return result.report.rows_written


def seed_demo(*, candle_bars: int = DEMO_CANDLE_BARS) -> tuple[Credentials, Credentials]:
    """Create (or refresh) the demo accounts and their data; returns (operator, demo client)."""
    with transaction.atomic():
        operator = _ensure_user(OPERATOR_EMAIL, operator=True)
        demo = _ensure_user(DEMO_EMAIL, operator=False)
        demo_user = User.objects.get(email=DEMO_EMAIL)
        _ensure_demo_strategies(demo_user)
        if not Portfolio.objects.filter(user=demo_user, name=DEMO_PORTFOLIO).exists():
            create_portfolio(
                user=demo_user,
                name=DEMO_PORTFOLIO,
                initial_balance=Decimal("10000.00"),
                base_currency="EUR",
                context=DEMO_CONTEXT,
            )
    _ensure_demo_candles(candle_bars)
    return operator, demo
