"""Demo data for a newcomer's first run: an operator, a demo client with the example strategies
and a paper portfolio, and ninety days of synthetic BTC/USDT candles. Idempotent: a second run
changes nothing, the demo passwords included (they are written, when made, to
var/demo-credentials.txt, readable by its owner only); `reset_passwords` makes new ones."""

import os
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

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
    password: str | None  # None: the account kept the password it had


def credentials_file() -> Path:
    """settings.DEMO_CREDENTIALS_FILE, by default var/demo-credentials.txt in the project."""
    default = Path(settings.BASE_DIR) / "var" / "demo-credentials.txt"
    return Path(getattr(settings, "DEMO_CREDENTIALS_FILE", default))


def _new_password() -> str:
    return secrets.token_urlsafe(12)


def _ensure_user(email: str, *, operator: bool, reset_password: bool) -> Credentials:
    user = User.objects.filter(email=email).first()
    if user is not None and not reset_password:
        return Credentials(email=email, password=None)
    password = _new_password()
    if user is None and operator:
        create_operator(email=email, password=password, context=DEMO_CONTEXT)
    elif user is None:
        user = register_user(
            email=email,
            password=password,
            first_name="Demo",
            last_name="Trader",
            context=DEMO_CONTEXT,
        )
        # The demo address cannot receive the verification email: it is verified here.
        User.objects.filter(pk=user.pk).update(is_verified=True, verified_at=timezone.now())
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    return Credentials(email=email, password=password)


def remember_credentials(credentials: list[Credentials], path: Path | None = None) -> Path:
    """Write the new passwords among `credentials` to the credentials file (one `email password`
    per line, other accounts' lines kept), readable by its owner only."""
    path = path or credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    known = dict(
        line.split(" ", 1)
        for line in (path.read_text().splitlines() if path.exists() else [])
        if " " in line
    )
    known.update({item.email: item.password for item in credentials if item.password})
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(f"{email} {password}\n" for email, password in sorted(known.items()))
    os.chmod(path, 0o600)
    return path


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


def seed_demo(
    *, candle_bars: int = DEMO_CANDLE_BARS, reset_passwords: bool = False
) -> tuple[Credentials, Credentials]:
    """Create the demo accounts and their data where missing; returns (operator, demo client),
    with a password where one was made (a new account, or `reset_passwords`)."""
    with transaction.atomic():
        operator = _ensure_user(OPERATOR_EMAIL, operator=True, reset_password=reset_passwords)
        demo = _ensure_user(DEMO_EMAIL, operator=False, reset_password=reset_passwords)
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
