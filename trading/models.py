"""Portfolios, positions and trades: tables `portfolios`, `positions`, `trades` (spec §3.5–3.7).

Trades keep a plain (NO ACTION) reference to users as the spec writes it: a user with trade
history cannot be deleted outright, since trades are kept ten years (MiFID II); GDPR erasure
anonymises instead.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID, TransactionNow
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from core.validation import CURRENCY_PATTERN, currency_validator, symbol_validator
from strategies.models import Side

ZERO = Decimal("0")
DEFAULT_COMMISSION_PCT = Decimal("0.001000")
DEFAULT_SLIPPAGE_PCT = Decimal("0.000500")


class Portfolio(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="portfolios",
        db_index=False,
    )

    name = models.CharField(max_length=100)
    description = models.TextField(null=True, blank=True)
    base_currency = models.CharField(
        max_length=3,
        null=True,
        blank=True,
        default="EUR",
        db_default="EUR",
        validators=[currency_validator],
    )

    # Spec: nullable. NOT NULL here (trading migration 0005), so that valid_broker cannot be
    # passed with a NULL is_paper (docs/paper-trading.md, "Deviations from the spec").
    is_paper = models.BooleanField(default=True, db_default=True)
    broker = models.CharField(max_length=50, null=True, blank=True)
    broker_account_id = models.CharField(max_length=100, null=True, blank=True)

    initial_balance = models.DecimalField(
        max_digits=15, decimal_places=2, validators=[MinValueValidator(ZERO)]
    )
    cash_balance = models.DecimalField(max_digits=15, decimal_places=2)

    positions_value = models.DecimalField(
        max_digits=15, decimal_places=2, null=True, default=ZERO, db_default=ZERO
    )
    total_value = models.DecimalField(max_digits=15, decimal_places=2, null=True, blank=True)
    unrealized_pnl = models.DecimalField(
        max_digits=15, decimal_places=2, null=True, default=ZERO, db_default=ZERO
    )
    realized_pnl = models.DecimalField(
        max_digits=15, decimal_places=2, null=True, default=ZERO, db_default=ZERO
    )

    is_active = models.BooleanField(null=True, default=True, db_default=True)

    # Not in the spec (docs/paper-trading.md, "Reserved cash"): what the open paper BUY orders
    # hold back, the sum of their trades.reserved_cash. The database keeps it (the triggers of
    # migration reserved_cash_for_open_orders); a write from Python is ignored, so a stale copy
    # saved whole cannot undo it.
    reserved_cash = models.DecimalField(
        max_digits=15, decimal_places=2, default=ZERO, db_default=ZERO, editable=False
    )

    # Not in the spec: the paper exchange's costs, fractions like a backtest's (0.0010 = 0.1%).
    commission_pct = models.DecimalField(
        max_digits=7,
        decimal_places=6,
        default=DEFAULT_COMMISSION_PCT,
        db_default=DEFAULT_COMMISSION_PCT,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("0.1"))],
    )
    slippage_pct = models.DecimalField(
        max_digits=7,
        decimal_places=6,
        default=DEFAULT_SLIPPAGE_PCT,
        db_default=DEFAULT_SLIPPAGE_PCT,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("0.1"))],
    )

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    updated_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "portfolios"
        constraints = [
            models.CheckConstraint(
                condition=Q(is_paper=True, broker__isnull=True)
                | Q(is_paper=False, broker__isnull=False),
                name="valid_broker",
                violation_error_message="A paper portfolio has no broker; a live one needs one.",
            ),
            models.CheckConstraint(
                condition=Q(base_currency__regex=CURRENCY_PATTERN), name="valid_currency"
            ),
            models.CheckConstraint(condition=Q(initial_balance__gte=0), name="valid_balance"),
            models.CheckConstraint(
                condition=Q(commission_pct__gte=0, commission_pct__lte=Decimal("0.1"))
                & Q(slippage_pct__gte=0, slippage_pct__lte=Decimal("0.1")),
                name="valid_paper_costs",
            ),
            # Paper accounts cannot overdraw (trading.fills checks it too, under the row lock).
            models.CheckConstraint(
                condition=Q(is_paper=False) | Q(cash_balance__gte=0),
                name="paper_cash_not_negative",
                violation_error_message="A paper portfolio's cash cannot go below zero.",
            ),
            # No order may spend cash another open order holds back.
            models.CheckConstraint(
                condition=Q(reserved_cash__gte=0)
                & (Q(is_paper=False) | Q(cash_balance__gte=F("reserved_cash"))),
                name="paper_cash_covers_reserved",
                violation_error_message="The cash does not cover what the open orders reserve.",
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_portfolios_user"),
            models.Index(
                fields=["user", "is_active"],
                name="idx_portfolios_user_active",
                condition=Q(is_active=True),
            ),
            models.Index(
                fields=["broker"], name="idx_portfolios_broker", condition=Q(is_paper=False)
            ),
        ]

    def __str__(self) -> str:
        kind = "paper" if self.is_paper else "live"
        return f"{self.name} ({kind})"

    @property
    def available_cash(self) -> Decimal:
        """Cash that no open order holds back: what a new order may spend."""
        return self.cash_balance - self.reserved_cash


class Position(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="positions", db_index=False
    )

    symbol = models.CharField(max_length=20, validators=[symbol_validator])

    quantity = models.DecimalField(max_digits=18, decimal_places=8)
    average_entry_price = models.DecimalField(
        max_digits=18, decimal_places=8, validators=[MinValueValidator(Decimal("0.00000001"))]
    )

    current_price = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    market_value = models.DecimalField(max_digits=15, decimal_places=2, null=True, blank=True)
    cost_basis = models.DecimalField(max_digits=15, decimal_places=2)
    unrealized_pnl = models.DecimalField(max_digits=15, decimal_places=8, null=True, blank=True)
    unrealized_pnl_pct = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)

    realized_pnl = models.DecimalField(
        max_digits=15, decimal_places=8, null=True, default=ZERO, db_default=ZERO
    )

    is_open = models.BooleanField(null=True, default=True, db_default=True)

    opened_at = models.DateTimeField(null=True, db_default=TransactionNow())
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "positions"
        constraints = [
            models.CheckConstraint(
                condition=~Q(quantity=0),
                name="valid_quantity",
                violation_error_message="A position's quantity cannot be zero.",
            ),
            models.CheckConstraint(condition=Q(average_entry_price__gt=0), name="valid_price"),
            # The spec writes `CONSTRAINT unique_open_position UNIQUE (portfolio_id, symbol)
            # WHERE (is_open = TRUE)`, which PostgreSQL does not accept (a table constraint has no
            # WHERE); what it means is this partial unique index.
            models.UniqueConstraint(
                fields=["portfolio", "symbol"],
                condition=Q(is_open=True),
                name="unique_open_position",
                violation_error_message="The portfolio already has an open position in it.",
            ),
        ]
        indexes = [
            models.Index(fields=["portfolio"], name="idx_positions_portfolio"),
            models.Index(
                fields=["portfolio", "is_open"],
                name="idx_positions_portfolio_open",
                condition=Q(is_open=True),
            ),
            models.Index(fields=["symbol"], name="idx_positions_symbol"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.symbol}"


class TradeOrderType(models.TextChoices):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_LIMIT = "STOP_LIMIT"


class TradeStatus(models.TextChoices):
    PENDING = "pending"
    SUBMITTED = "submitted"
    PARTIAL = "partial"
    FILLED = "filled"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"


class Trade(models.Model):
    OrderType = TradeOrderType

    Status = TradeStatus

    Side = Side

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    # Spec: `REFERENCES users(id)` with no ON DELETE clause, i.e. NO ACTION: trade history blocks
    # a plain delete of its user (see the module docstring).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trades", db_index=False
    )
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="trades", db_index=False
    )
    strategy = models.ForeignKey(
        "strategies.Strategy",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="trades",
        db_index=False,
    )
    position = models.ForeignKey(
        Position,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="trades",
        db_index=False,
    )

    symbol = models.CharField(max_length=20, validators=[symbol_validator])
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=20, choices=OrderType.choices)

    quantity = models.DecimalField(
        max_digits=18, decimal_places=8, validators=[MinValueValidator(Decimal("0.00000001"))]
    )
    price = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="Empty for market orders; the limit of LIMIT and STOP_LIMIT, the trigger of "
        "STOP_LOSS and TAKE_PROFIT.",
    )
    # Not in the spec (trading migration 0005): what a stop-limit order needs beyond `price`,
    # time in force, and the client's idempotency key.
    stop_price = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="STOP_LIMIT only: the price that turns the order into a limit order.",
    )
    triggered_at = models.DateTimeField(
        null=True, blank=True, help_text="When a STOP_LIMIT order's stop was reached."
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: good till cancelled (GTC)."
    )
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    quote_quantity = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="MARKET orders by amount: the quote currency to spend, commission included; "
        "the quantity is set when it fills.",
    )

    # Not in the spec: the cash this open paper BUY holds back (docs/paper-trading.md, "Reserved
    # cash"); zero once the order is closed (a trigger sees to it).
    reserved_cash = models.DecimalField(
        max_digits=15, decimal_places=2, default=ZERO, db_default=ZERO, editable=False
    )

    filled_quantity = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        null=True,
        default=ZERO,
        db_default=ZERO,
        validators=[MinValueValidator(ZERO)],
    )
    filled_price = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    filled_value = models.DecimalField(max_digits=15, decimal_places=2, null=True, blank=True)

    commission = models.DecimalField(
        max_digits=15, decimal_places=8, null=True, default=ZERO, db_default=ZERO
    )
    slippage = models.DecimalField(
        max_digits=15, decimal_places=8, null=True, default=ZERO, db_default=ZERO
    )

    realized_pnl = models.DecimalField(max_digits=15, decimal_places=8, null=True, blank=True)

    status = models.CharField(
        max_length=20,
        null=True,
        choices=Status.choices,
        default=Status.PENDING,
        db_default=Status.PENDING,
    )
    broker_order_id = models.CharField(max_length=100, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)

    is_paper = models.BooleanField()

    signal_reason = models.TextField(null=True, blank=True)
    market_conditions = models.JSONField(null=True, blank=True)

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    submitted_at = models.DateTimeField(null=True, blank=True)
    filled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "trades"
        constraints = [
            models.CheckConstraint(
                condition=Q(side__in=[choice.value for choice in Side]), name="valid_trade_side"
            ),
            models.CheckConstraint(
                condition=Q(order_type__in=TradeOrderType.values),
                name="valid_order_type",
            ),
            models.CheckConstraint(
                condition=Q(status__in=TradeStatus.values),
                name="valid_trade_status",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="valid_trade_quantity"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=F("quantity")),
                name="valid_filled_quantity",
                violation_error_message="The filled quantity must lie between 0 and the quantity.",
            ),
            # A retried order request (same Idempotency-Key) finds the first order, never a
            # second one.
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="unique_order_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(price__isnull=True) | Q(price__gt=0),
                name="valid_order_price",
            ),
            models.CheckConstraint(
                condition=Q(quote_quantity__isnull=True)
                | Q(quote_quantity__gt=0, order_type=TradeOrderType.MARKET),
                name="valid_order_quote_quantity",
            ),
            models.CheckConstraint(
                condition=Q(reserved_cash__gte=0), name="valid_order_reserved_cash"
            ),
            models.CheckConstraint(
                condition=Q(stop_price__isnull=True)
                | Q(stop_price__gt=0, order_type=TradeOrderType.STOP_LIMIT),
                name="valid_order_stop_price",
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_trades_user"),
            models.Index(fields=["portfolio"], name="idx_trades_portfolio"),
            models.Index(fields=["strategy"], name="idx_trades_strategy"),
            models.Index("portfolio", F("created_at").desc(), name="idx_trades_portfolio_time"),
            models.Index("symbol", F("created_at").desc(), name="idx_trades_symbol"),
            models.Index(
                fields=["status"],
                name="idx_trades_status",
                condition=Q(status__in=["pending", "submitted", "partial"]),
            ),
            models.Index(
                fields=["broker_order_id"],
                name="idx_trades_broker_order",
                condition=Q(broker_order_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} ({self.status})"


class StrategyDeployment(models.Model):
    """Not in the spec: which portfolio an active strategy trades in (table
    `strategy_deployments`). One portfolio per strategy; a portfolio may run several."""

    strategy = models.OneToOneField(
        "strategies.Strategy", on_delete=models.CASCADE, related_name="deployment"
    )
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="strategy_deployments"
    )
    # The strategy's max_drawdown_pct, watched at every candle close on the portfolio's equity:
    # its running peak, and when the limit was crossed (no new position from then on).
    peak_equity = models.DecimalField(max_digits=15, decimal_places=2, null=True, blank=True)
    halted_at = models.DateTimeField(null=True, blank=True)
    # The close of the newest candle the strategy was evaluated on: a candle is evaluated once
    # (a redelivered task, a second announcement or a late older candle is skipped), claimed in
    # the transaction that places its orders (trading.strategy_runs).
    evaluated_close_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=TransactionNow())

    class Meta:
        db_table = "strategy_deployments"

    def __str__(self) -> str:
        return f"{self.strategy_id} in {self.portfolio_id}"


class LiveBalanceDiscrepancy(models.Model):
    """Not in the spec: a difference between a live portfolio's books and its exchange account,
    found by the balance reconciliation (trading.live_balances; table
    `live_balance_discrepancies`). `open` cash discrepancies hold the portfolio's new live orders
    until they are `adopted` (the books take the exchange's value, audited) or `cleared` (a later
    check finds the two agreeing again)."""

    class Kind(models.TextChoices):
        CASH = "cash"
        POSITION = "position"

    class Status(models.TextChoices):
        OPEN = "open"
        ADOPTED = "adopted"
        CLEARED = "cleared"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="balance_discrepancies"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    asset = models.CharField(max_length=20)
    books_amount = models.DecimalField(max_digits=24, decimal_places=8)
    exchange_amount = models.DecimalField(max_digits=24, decimal_places=8)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    detected_at = models.DateTimeField(db_default=TransactionNow())
    checked_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "live_balance_discrepancies"
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "asset"],
                condition=Q(status="open"),
                name="one_open_discrepancy_per_asset",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["cash", "position"]), name="valid_discrepancy_kind"
            ),
            models.CheckConstraint(
                condition=(Q(status="open") & Q(resolved_at__isnull=True))
                | (Q(status__in=["adopted", "cleared"]) & Q(resolved_at__isnull=False)),
                name="valid_discrepancy_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset}: books {self.books_amount}, exchange {self.exchange_amount}"

    @property
    def difference(self) -> Decimal:
        """What the exchange holds more than the books (negative: less)."""
        return self.exchange_amount - self.books_amount
