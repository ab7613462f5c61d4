"""Optimisations over HTTP: the input serializer validates the request's shape; the service checks
the parameter space against the strategy's rules. Output serializers shape the answers."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api_serializers import StrictFieldsMixin
from strategies.api.serializers import BacktestInputSerializer
from strategies.models import BACKTEST_RESULT_FIELDS, Optimisation, OptimisationVariant
from strategies.optimisation import METHODS, MODES, OBJECTIVES
from strategies.optimisation.walkforward import MAX_FOLDS, MAX_RATIO, MIN_FOLDS, MIN_RATIO


class OptimisationInputSerializer(BacktestInputSerializer):
    """A backtest's window, capital and costs, plus the space, the search and the objective."""

    parameter_space = serializers.JSONField(
        help_text=(
            'By path: {"entry_rules.all[0].left.period": {"values": [10, 20]}, '
            '"stop_loss_pct": {"start": 1, "stop": 3, "step": 0.5}, '
            '"take_profit_pct": {"low": 2, "high": 8}} (low/high: random search only).'
        )
    )
    search_method = serializers.ChoiceField(choices=METHODS, default="grid")
    max_variants = serializers.IntegerField(min_value=1, required=False)
    random_seed = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**63 - 1
    )
    objective = serializers.ChoiceField(choices=list(OBJECTIVES))
    constraints = serializers.JSONField(
        required=False,
        help_text='{"min_trades": 10, "max_drawdown_pct": 20, "min_win_rate_pct": 40, ...}',
    )
    walk_forward_folds = serializers.IntegerField(
        required=False, allow_null=True, min_value=MIN_FOLDS, max_value=MAX_FOLDS
    )
    walk_forward_mode = serializers.ChoiceField(choices=MODES, required=False, allow_null=True)
    in_sample_ratio = serializers.IntegerField(
        required=False, allow_null=True, min_value=MIN_RATIO, max_value=MAX_RATIO
    )


class OptimisationSerializer(serializers.ModelSerializer):
    progress_pct = serializers.IntegerField(read_only=True)

    class Meta:
        model = Optimisation
        fields = [
            "id",
            "strategy",
            "start_date",
            "end_date",
            "initial_capital",
            "commission_pct",
            "slippage_pct",
            "parameter_space",
            "search_method",
            "random_seed",
            "max_variants",
            "objective",
            "constraints",
            "walk_forward_folds",
            "walk_forward_mode",
            "in_sample_ratio",
            "status",
            "variants_done",
            "variants_total",
            "progress_pct",
            "error_message",
            "created_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields


class OptimisationVariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = OptimisationVariant
        fields = [
            "id",
            "fold",
            "variant_number",
            "parameters",
            "objective_value",
            "meets_constraints",
            "error_message",
            *BACKTEST_RESULT_FIELDS,
        ]
        read_only_fields = fields


class WalkForwardFoldSerializer(serializers.Serializer):
    fold = serializers.IntegerField()
    in_sample_start = serializers.DateTimeField()
    in_sample_end = serializers.DateTimeField()
    out_of_sample_start = serializers.DateTimeField()
    out_of_sample_end = serializers.DateTimeField()
    parameters = serializers.JSONField(allow_null=True)
    in_sample_objective = serializers.DecimalField(10, 4, allow_null=True)
    out_of_sample_objective = serializers.DecimalField(10, 4, allow_null=True)
    out_of_sample_return_pct = serializers.DecimalField(10, 4, allow_null=True)
    out_of_sample_trades = serializers.IntegerField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)


class WalkForwardReportSerializer(serializers.Serializer):
    folds = WalkForwardFoldSerializer(many=True)
    folds_expected = serializers.IntegerField()
    stitched_equity = serializers.JSONField(help_text='[{"time": ISO 8601, "equity": 10012.5}]')
    parameter_stability = serializers.JSONField(
        help_text="Per parameter: values chosen by the folds, mean, std, "
        "coefficient_of_variation, distinct."
    )
    efficiency = serializers.FloatField(
        allow_null=True, help_text="Mean out-of-sample objective / mean in-sample objective."
    )


class OptimisationDetailSerializer(OptimisationSerializer):
    """The status with progress, the best variant of the whole window, and the walk-forward
    report (null for a plain optimisation)."""

    best_variant = serializers.SerializerMethodField()
    walk_forward = serializers.SerializerMethodField()

    class Meta(OptimisationSerializer.Meta):
        fields = [*OptimisationSerializer.Meta.fields, "best_variant", "walk_forward"]
        read_only_fields = fields

    @extend_schema_field(OptimisationVariantSerializer(allow_null=True))
    def get_best_variant(self, optimisation: Optimisation) -> dict[str, Any] | None:
        from strategies.optimisation_selectors import best_variant

        best = best_variant(optimisation)
        return None if best is None else OptimisationVariantSerializer(best).data

    @extend_schema_field(WalkForwardReportSerializer(allow_null=True))
    def get_walk_forward(self, optimisation: Optimisation) -> dict[str, Any] | None:
        from strategies.optimisation_selectors import walk_forward_report

        report = walk_forward_report(optimisation)
        return None if report is None else WalkForwardReportSerializer(report).data


class ApplyVariantSerializer(StrictFieldsMixin, serializers.Serializer):
    variant = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A variant of the whole window; default: the best.",
    )
