"""Strategies, backtest runs and their trades: tables `strategies`, `backtests`, `backtest_trades`
(spec §3.2–3.4). The `updated_at` and `version` triggers are in migration 0002."""

import uuid
from collections.abc import Collection
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID, TransactionNow
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from core.validation import (
    SYMBOL_PATTERN,
    TIMEFRAME_PATTERN,
    symbol_validator,
    timeframe_validator,
)

ZERO = Decimal("0")


# Spec deviation (docs/schema-deviations.md): valid_take_profit allows up to 1000, but the column
# is NUMERIC(5,2), whose largest value is 999.99; the column's limit is the one users are told.
TAKE_PROFIT_LIMIT = Decimal("999.99")
TAKE_PROFIT_LIMIT_MESSAGE = (
    "Take-profit is at most 999.99%: the column holds NUMERIC(5,2), so the schema's 1000 cannot "
    "be stored."
)


def percent_field(
    *,
    maximum: int | Decimal,
    default: Decimal | None = None,
    maximum_message: str | None = None,
    **kwargs: object,
) -> models.Field:
    """NUMERIC(5,2) percentage, validated to the range its CHECK constraint allows."""
    extra: dict[str, object] = {"null": True, "blank": True}
    if default is not None:
        extra.update(default=default, db_default=default)
    extra.update(kwargs)
    return models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[
            MinValueValidator(ZERO),
            MaxValueValidator(Decimal(maximum), message=maximum_message)
            if maximum_message
            else MaxValueValidator(Decimal(maximum)),
        ],
        **extra,
    )


class StrategyStatus(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class StrategyTradingMode(models.TextChoices):
    PAPER = "paper"
    LIVE = "live"


class Strategy(models.Model):
    Status = StrategyStatus

    TradingMode = StrategyTradingMode

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="strategies",
        db_index=False,
    )

    name = models.CharField(max_length=100)
    description = models.TextField(null=True, blank=True)
    version = models.IntegerField(null=True, default=1, db_default=1, editable=False)

    asset_symbol = models.CharField(max_length=20, validators=[symbol_validator])
    timeframe = models.CharField(max_length=5, validators=[timeframe_validator])

    entry_rules = models.JSONField()
    # {} ("stops and targets only") is a valid exit tree, and {} is one of Django's blank values:
    # blank=True lets it through, null=False (the spec's NOT NULL) still refuses a missing one, and
    # clean() leaves what a tree may hold to validate_rules.
    exit_rules = models.JSONField(blank=True)

    stop_loss_pct = percent_field(maximum=100)
    take_profit_pct = percent_field(
        # Django formats a validator's message with %: the percent sign is doubled for it.
        maximum=TAKE_PROFIT_LIMIT,
        maximum_message=TAKE_PROFIT_LIMIT_MESSAGE.replace("%", "%%"),
    )
    max_position_size_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        default=Decimal("10.00"),
        db_default=Decimal("10.00"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(100))],
    )
    max_drawdown_pct = percent_field(maximum=100)
    trailing_stop_pct = percent_field(maximum=100)

    status = models.CharField(
        max_length=20,
        null=True,
        choices=Status.choices,
        default=Status.DRAFT,
        db_default=Status.DRAFT,
    )
    trading_mode = models.CharField(
        max_length=20, null=True, blank=True, choices=TradingMode.choices
    )

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    updated_at = models.DateTimeField(null=True, db_default=TransactionNow())
    activated_at = models.DateTimeField(null=True, blank=True)
    last_signal_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strategies"
        verbose_name_plural = "strategies"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=StrategyStatus.values), name="valid_status"
            ),
            models.CheckConstraint(
                condition=Q(trading_mode__in=StrategyTradingMode.values)
                | Q(trading_mode__isnull=True),
                name="valid_trading_mode",
            ),
            models.CheckConstraint(
                condition=Q(timeframe__regex=TIMEFRAME_PATTERN), name="valid_timeframe"
            ),
            models.CheckConstraint(
                condition=Q(asset_symbol__regex=SYMBOL_PATTERN), name="valid_symbol"
            ),
            models.CheckConstraint(
                condition=Q(stop_loss_pct__isnull=True)
                | Q(stop_loss_pct__gte=0, stop_loss_pct__lte=100),
                name="valid_stop_loss",
            ),
            models.CheckConstraint(
                condition=Q(take_profit_pct__isnull=True)
                | Q(take_profit_pct__gte=0, take_profit_pct__lte=1000),
                name="valid_take_profit",
            ),
            models.CheckConstraint(
                condition=Q(max_position_size_pct__gt=0, max_position_size_pct__lte=100),
                name="valid_position_size",
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_strategies_user"),
            models.Index(fields=["user", "status"], name="idx_strategies_user_status"),
            models.Index(
                fields=["status", "trading_mode"],
                name="idx_strategies_active",
                condition=Q(status="active"),
            ),
            models.Index(fields=["asset_symbol"], name="idx_strategies_asset"),
            GinIndex(fields=["entry_rules"], name="idx_strategies_entry_rules"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.asset_symbol} {self.timeframe})"

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """Rule trees are validated wherever a strategy is saved (admin, API, services), and
        before the other field checks: validate_rules stops at the language's depth, while
        JSONField's own check (json.dumps) recurses through the whole document, so a tree
        nested hundreds deep is refused here and kept away from it."""
        from strategies.rules.schema import validate_rules

        exclude = set(exclude or ())
        errors: dict[str, list[str]] = {}
        for name in ("entry_rules", "exit_rules"):
            if name in exclude:
                continue
            value = getattr(self, name)
            if value is None:
                # The field's check says so for entry_rules; exit_rules is blank=True, which
                # makes Django skip None, and it is NOT NULL all the same.
                if name == "exit_rules":
                    errors[name] = [self._meta.get_field(name).error_messages["null"]]
                continue
            if problems := validate_rules(value, path=name):
                errors[name] = problems
        try:
            super().clean_fields(exclude=exclude | set(errors))
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)


class BacktestStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The result columns of `backtests`, filled when a run completes (the API, the console and the
# report print them in this order).
BACKTEST_RESULT_FIELDS = (
    "final_capital",
    "total_return_pct",
    "annualized_return_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_pct",
    "max_drawdown_duration_days",
    "win_rate_pct",
    "profit_factor",
    "avg_trade_pct",
    "avg_win_pct",
    "avg_loss_pct",
    "total_trades",
    "winning_trades",
    "losing_trades",
    "avg_trade_duration_minutes",
)


class Backtest(models.Model):
    Status = BacktestStatus

    FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    strategy = models.ForeignKey(
        Strategy, on_delete=models.CASCADE, related_name="backtests", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests", db_index=False
    )

    start_date = models.DateField()
    end_date = models.DateField()
    initial_capital = models.DecimalField(
        max_digits=15, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    commission_pct = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        default=Decimal("0.0010"),
        db_default=Decimal("0.0010"),
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("0.5"))],
        help_text="Fraction of each fill's notional: 0.0010 is 0.1%.",
    )
    slippage_pct = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        default=Decimal("0.0005"),
        db_default=Decimal("0.0005"),
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("0.5"))],
        help_text="Fraction of the price: buys fill at price × (1 + slippage).",
    )

    strategy_snapshot = models.JSONField()

    status = models.CharField(
        max_length=20,
        null=True,
        choices=Status.choices,
        default=Status.PENDING,
        db_default=Status.PENDING,
    )
    progress_pct = models.IntegerField(
        null=True,
        default=0,
        db_default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    error_message = models.TextField(null=True, blank=True)

    final_capital = models.DecimalField(max_digits=15, decimal_places=2, null=True, blank=True)
    total_return_pct = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    annualized_return_pct = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    sharpe_ratio = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    sortino_ratio = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    calmar_ratio = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    max_drawdown_pct = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    max_drawdown_duration_days = models.IntegerField(null=True, blank=True)
    win_rate_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    profit_factor = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    avg_trade_pct = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    avg_win_pct = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    avg_loss_pct = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    total_trades = models.IntegerField(null=True, blank=True)
    winning_trades = models.IntegerField(null=True, blank=True)
    losing_trades = models.IntegerField(null=True, blank=True)
    avg_trade_duration_minutes = models.IntegerField(null=True, blank=True)

    equity_curve = models.JSONField(null=True, blank=True)
    monthly_returns = models.JSONField(null=True, blank=True)
    drawdown_periods = models.JSONField(null=True, blank=True)

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "backtests"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BacktestStatus.values),
                name="valid_backtest_status",
            ),
            models.CheckConstraint(
                condition=Q(end_date__gt=F("start_date")),
                name="valid_date_range",
                violation_error_message="The end date must be after the start date.",
            ),
            models.CheckConstraint(condition=Q(initial_capital__gt=0), name="valid_capital"),
            models.CheckConstraint(
                condition=Q(progress_pct__gte=0, progress_pct__lte=100), name="valid_progress"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_backtests_user"),
            models.Index(fields=["strategy"], name="idx_backtests_strategy"),
            models.Index(
                "user", "status", F("created_at").desc(), name="idx_backtests_user_status"
            ),
            models.Index(
                fields=["status"], name="idx_backtests_running", condition=Q(status="running")
            ),
        ]

    def __str__(self) -> str:
        return f"Backtest {self.start_date}→{self.end_date} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES


class Side(models.TextChoices):
    BUY = "BUY"
    SELL = "SELL"


class BacktestTrade(models.Model):
    id = models.BigAutoField(primary_key=True)
    backtest = models.ForeignKey(
        Backtest, on_delete=models.CASCADE, related_name="trades", db_index=False
    )

    trade_number = models.IntegerField()
    entry_date = models.DateTimeField()
    exit_date = models.DateTimeField(null=True, blank=True)

    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(
        max_digits=18, decimal_places=8, validators=[MinValueValidator(Decimal("0.00000001"))]
    )
    entry_price = models.DecimalField(
        max_digits=18, decimal_places=8, validators=[MinValueValidator(Decimal("0.00000001"))]
    )
    exit_price = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.00000001"))],
    )

    commission = models.DecimalField(
        max_digits=15, decimal_places=8, null=True, default=ZERO, db_default=ZERO
    )
    slippage = models.DecimalField(
        max_digits=15, decimal_places=8, null=True, default=ZERO, db_default=ZERO
    )

    gross_pnl = models.DecimalField(max_digits=15, decimal_places=8, null=True, blank=True)
    net_pnl = models.DecimalField(max_digits=15, decimal_places=8, null=True, blank=True)
    pnl_pct = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)

    entry_signal = models.TextField(null=True, blank=True)
    exit_signal = models.TextField(null=True, blank=True)
    market_conditions = models.JSONField(null=True, blank=True)

    is_open = models.BooleanField(null=True, default=True, db_default=True)

    class Meta:
        db_table = "backtest_trades"
        ordering = ["backtest", "trade_number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(side__in=[choice.value for choice in Side]), name="valid_side"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="valid_quantity"),
            models.CheckConstraint(
                condition=Q(entry_price__gt=0) & (Q(exit_price__isnull=True) | Q(exit_price__gt=0)),
                name="valid_prices",
            ),
        ]
        indexes = [
            models.Index(fields=["backtest"], name="idx_backtest_trades_backtest"),
            models.Index(fields=["backtest", "entry_date"], name="idx_backtest_trades_date"),
        ]

    def __str__(self) -> str:
        return f"#{self.trade_number} {self.side} {self.quantity} {self.symbol}"


# Optimisations live in a module of their own; importing them here registers them with the app.
from strategies.optimisation_models import (  # noqa: E402
    Optimisation,
    OptimisationFold,
    OptimisationStatus,
    OptimisationVariant,
)

__all__ = [
    "BACKTEST_RESULT_FIELDS",
    "Backtest",
    "BacktestStatus",
    "BacktestTrade",
    "Optimisation",
    "OptimisationFold",
    "OptimisationStatus",
    "OptimisationVariant",
    "Side",
    "Strategy",
    "StrategyStatus",
    "StrategyTradingMode",
]
