from decimal import Decimal

import pytest

from strategies.optimisation.objective import (
    ObjectiveError,
    Scored,
    meets_constraints,
    objective_value,
    parse_constraints,
    rank,
)


def test_constraints_bound_the_result_columns():
    constraints = parse_constraints({"min_trades": 3, "max_drawdown_pct": "12.5"})
    result = {"total_trades": 3, "max_drawdown_pct": Decimal("12.5000")}
    assert meets_constraints(result, constraints)
    assert not meets_constraints({**result, "total_trades": 2}, constraints)
    assert not meets_constraints({**result, "max_drawdown_pct": Decimal("12.5001")}, constraints)


def test_a_constraint_on_an_undefined_metric_is_not_met():
    assert not meets_constraints({"win_rate_pct": None}, parse_constraints({"min_win_rate_pct": 0}))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"min_sharpe": 1}, "constraints.min_sharpe: unknown"),
        ({"min_trades": 2.5}, "constraints.min_trades: must be a whole number >= 0"),
        ({"max_drawdown_pct": 150}, "constraints.max_drawdown_pct: must be between 0 and 100"),
        ({"min_trades": True}, "constraints.min_trades: must be a number"),
        ([], "constraints: must be an object"),
    ],
)
def test_bad_constraints_are_named(raw, message):
    with pytest.raises(ObjectiveError) as caught:
        parse_constraints(raw)
    assert caught.value.errors[0].startswith(message)


def test_each_objective_reads_its_column():
    columns = {
        "sharpe_ratio": Decimal("1.5"),
        "sortino_ratio": Decimal("2"),
        "calmar_ratio": None,
        "total_return_pct": Decimal("-3.25"),
        "profit_factor": Decimal("1.1"),
    }
    assert objective_value(columns, "sharpe") == Decimal("1.5")
    assert objective_value(columns, "sortino") == Decimal("2")
    assert objective_value(columns, "calmar") is None
    assert objective_value(columns, "total_return") == Decimal("-3.25")
    assert objective_value(columns, "profit_factor") == Decimal("1.1")


def test_ranking_is_best_first_without_disqualified_or_undefined_variants_ties_to_the_earlier():
    ranked = rank(
        [
            Scored(0, Decimal("1.0"), True),
            Scored(1, Decimal("2.0"), False),  # fails a constraint
            Scored(2, None, True),  # no trades, no Sharpe
            Scored(3, Decimal("1.5"), True),
            Scored(4, Decimal("1.0"), True),
            Scored(5, Decimal("-0.5"), True),
        ]
    )
    assert [s.number for s in ranked] == [3, 0, 4, 5]
