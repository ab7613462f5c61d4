"""Parameter optimisations, their variants and their walk-forward folds: tables `optimisations`,
`optimisation_variants` and `optimisation_folds`, an addition to the spec in its style
(docs/optimisation.md). Imported by strategies.models, so Django registers them with the app.

A variant keeps its parameters and the backtest result columns, not its trades: re-run it as a
normal backtest to see them.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID, TransactionNow
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from strategies.models import BACKTEST_RESULT_FIELDS, ZERO, Strategy
from strategies.optimisation.objective import OBJECTIVES
from strategies.optimisation.search import METHODS
from strategies.optimisation.walkforward import MAX_FOLDS, MAX_RATIO, MIN_FOLDS, MIN_RATIO, MODES
from strategies.result_columns import BACKTEST_DECIMAL_COLUMNS, BACKTEST_INTEGER_COLUMNS


def _result_metric_fields() -> dict[str, models.Field]:
    """The backtest result columns (same names, NUMERIC precisions and scales as `backtests`)."""
    fields: dict[str, models.Field] = {}
    for name in BACKTEST_RESULT_FIELDS:
        if name in BACKTEST_DECIMAL_COLUMNS:
            precision, scale = BACKTEST_DECIMAL_COLUMNS[name]
            fields[name] = models.DecimalField(
                max_digits=precision, decimal_places=scale, null=True, blank=True
            )
        else:
            assert name in BACKTEST_INTEGER_COLUMNS
            fields[name] = models.IntegerField(null=True, blank=True)
    return fields


# An abstract model holding the result columns, shared by variants (their run over the window or
# a fold's in-sample part) and folds (the chosen variant's out-of-sample run).
ResultMetrics = type(
    "ResultMetrics",
    (models.Model,),
    {
        "__module__": __name__,
        "Meta": type("Meta", (), {"abstract": True}),
        **_result_metric_fields(),
    },
)


class OptimisationStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Optimisation(models.Model):
    Status = OptimisationStatus

    FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    strategy = models.ForeignKey(
        Strategy, on_delete=models.CASCADE, related_name="optimisations", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="optimisations",
        db_index=False,
    )

    start_date = models.DateField()
    end_date = models.DateField()
    initial_capital = models.DecimalField(
        max_digits=15, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    commission_pct = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0010"),
        db_default=Decimal("0.0010"),
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("0.5"))],
    )
    slippage_pct = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0005"),
        db_default=Decimal("0.0005"),
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("0.5"))],
    )
    strategy_snapshot = models.JSONField()

    parameter_space = models.JSONField()
    search_method = models.CharField(max_length=10, choices=[(m, m) for m in METHODS])
    random_seed = models.BigIntegerField(null=True, blank=True)
    max_variants = models.IntegerField(validators=[MinValueValidator(1)])
    objective = models.CharField(max_length=20, choices=[(o, o) for o in OBJECTIVES])
    constraints = models.JSONField(default=dict, db_default={}, blank=True)

    walk_forward_folds = models.SmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_FOLDS), MaxValueValidator(MAX_FOLDS)],
    )
    walk_forward_mode = models.CharField(
        max_length=10, null=True, blank=True, choices=[(m, m) for m in MODES]
    )
    in_sample_ratio = models.SmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_RATIO), MaxValueValidator(MAX_RATIO)],
    )
    chunk_size = models.IntegerField(validators=[MinValueValidator(1)])

    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_default=Status.PENDING
    )
    variants_total = models.IntegerField(default=0, db_default=0)
    variants_done = models.IntegerField(default=0, db_default=0)
    error_message = models.TextField(null=True, blank=True)

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "optimisations"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OptimisationStatus.values),
                name="valid_optimisation_status",
            ),
            models.CheckConstraint(
                condition=Q(end_date__gt=F("start_date")), name="valid_optimisation_dates"
            ),
            models.CheckConstraint(
                condition=Q(initial_capital__gt=0), name="valid_optimisation_capital"
            ),
            models.CheckConstraint(
                condition=Q(commission_pct__gte=0, commission_pct__lte=Decimal("0.5"))
                & Q(slippage_pct__gte=0, slippage_pct__lte=Decimal("0.5")),
                name="valid_optimisation_costs",
            ),
            models.CheckConstraint(
                condition=Q(search_method__in=METHODS), name="valid_search_method"
            ),
            models.CheckConstraint(
                condition=~Q(search_method="random") | Q(random_seed__isnull=False),
                name="random_search_has_seed",
            ),
            models.CheckConstraint(
                condition=Q(objective__in=list(OBJECTIVES)), name="valid_objective"
            ),
            models.CheckConstraint(
                condition=Q(max_variants__gt=0, chunk_size__gt=0), name="valid_variant_limits"
            ),
            models.CheckConstraint(
                condition=Q(variants_done__gte=0, variants_done__lte=F("variants_total")),
                name="valid_variant_progress",
            ),
            models.CheckConstraint(
                condition=Q(
                    walk_forward_folds__isnull=True,
                    walk_forward_mode__isnull=True,
                    in_sample_ratio__isnull=True,
                )
                | Q(
                    walk_forward_folds__gte=MIN_FOLDS,
                    walk_forward_folds__lte=MAX_FOLDS,
                    walk_forward_mode__in=MODES,
                    in_sample_ratio__gte=MIN_RATIO,
                    in_sample_ratio__lte=MAX_RATIO,
                ),
                name="valid_walk_forward",
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_optimisations_user"),
            models.Index(fields=["strategy"], name="idx_optimisations_strategy"),
            models.Index(
                "user", "status", F("created_at").desc(), name="idx_optimisations_user_status"
            ),
            models.Index(
                fields=["status"],
                name="idx_optimisations_active",
                condition=Q(status__in=["pending", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Optimisation {self.start_date}→{self.end_date} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def is_walk_forward(self) -> bool:
        return self.walk_forward_folds is not None

    @property
    def progress_pct(self) -> int:
        if not self.variants_total:
            return 100 if self.status == self.Status.COMPLETED else 0
        return self.variants_done * 100 // self.variants_total


class OptimisationVariant(ResultMetrics):
    """One variant's run: fold 0 is the whole window, fold k (1..K) fold k's in-sample part. The
    unique (optimisation, fold, variant_number) is what makes a redelivered chunk harmless."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    optimisation = models.ForeignKey(
        Optimisation, on_delete=models.CASCADE, related_name="variants", db_index=False
    )
    fold = models.SmallIntegerField(default=0, db_default=0)
    variant_number = models.IntegerField()
    parameters = models.JSONField()
    objective_value = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    meets_constraints = models.BooleanField()
    error_message = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "optimisation_variants"
        constraints = [
            models.UniqueConstraint(
                fields=["optimisation", "fold", "variant_number"],
                name="uq_optimisation_variants_number",
            ),
            models.CheckConstraint(
                condition=Q(fold__gte=0, variant_number__gte=0), name="valid_variant_position"
            ),
            models.CheckConstraint(
                condition=Q(error_message__isnull=True) | Q(meets_constraints=False),
                name="failed_variant_never_qualifies",
            ),
        ]
        indexes = [
            models.Index(
                F("optimisation"),
                F("fold"),
                F("objective_value").desc(nulls_last=True),
                name="idx_optimisation_variants_rank",
                condition=Q(meets_constraints=True),
            ),
        ]

    def __str__(self) -> str:
        return f"Variant {self.fold}/{self.variant_number}"


class OptimisationFold(ResultMetrics):
    """A walk-forward fold: its windows (open times of their first and last bars), the in-sample
    winner, and that winner's out-of-sample run (the result columns and its equity curve)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    optimisation = models.ForeignKey(
        Optimisation, on_delete=models.CASCADE, related_name="folds", db_index=False
    )
    fold_number = models.SmallIntegerField()
    in_sample_start = models.DateTimeField()
    in_sample_end = models.DateTimeField()
    out_of_sample_start = models.DateTimeField()
    out_of_sample_end = models.DateTimeField()
    best_variant = models.ForeignKey(
        OptimisationVariant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    parameters = models.JSONField(null=True, blank=True)
    in_sample_objective = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    out_of_sample_objective = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    out_of_sample_equity = models.JSONField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "optimisation_folds"
        ordering = ["optimisation", "fold_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["optimisation", "fold_number"], name="uq_optimisation_folds_number"
            ),
            models.CheckConstraint(condition=Q(fold_number__gte=1), name="valid_fold_number"),
            models.CheckConstraint(
                condition=Q(in_sample_start__lte=F("in_sample_end"))
                & Q(in_sample_end__lt=F("out_of_sample_start"))
                & Q(out_of_sample_start__lte=F("out_of_sample_end")),
                name="valid_fold_windows",
            ),
        ]
        indexes = [
            models.Index(fields=["best_variant"], name="idx_optimisation_folds_variant"),
        ]

    def __str__(self) -> str:
        return f"Fold {self.fold_number}"
