import pytest

from strategies.optimisation.space import (
    ParameterSpaceError,
    apply_parameters,
    leaf_domain,
    parse_space,
    space_size,
)

ENTRY = {
    "all": [
        {
            "left": {"indicator": "sma", "period": 20},
            "op": "crosses_above",
            "right": {"indicator": "sma", "period": 50},
        },
        {"left": {"indicator": "rsi"}, "op": "<", "right": 70},
        {
            "left": {"indicator": "bbands", "period": 20, "output": "lower"},
            "op": "<",
            "right": "close",
        },
    ]
}
EXIT = {"left": {"indicator": "sma", "period": 20}, "op": "crosses_below", "right": 5}
TREES = {"entry_rules": ENTRY, "exit_rules": EXIT}


def errors_of(raw):
    with pytest.raises(ParameterSpaceError) as caught:
        parse_space(raw, trees=TREES)
    return caught.value.errors


def test_a_list_a_range_and_bounds_each_become_a_parameter():
    space = parse_space(
        {
            "entry_rules.all[0].left.period": {"values": [10, 20, 20, 30]},
            "entry_rules.all[1].right": {"start": 60, "stop": 80, "step": 5},
            "stop_loss_pct": {"low": 1, "high": 3},
        },
        trees=TREES,
    )
    assert [p.path for p in space] == [
        "entry_rules.all[0].left.period",
        "entry_rules.all[1].right",
        "stop_loss_pct",
    ]
    assert space[0].values == (10, 20, 30)  # duplicates dropped, order kept
    assert space[1].values == (60.0, 65.0, 70.0, 75.0, 80.0)
    assert space[2].is_bounds and (space[2].low, space[2].high) == (1.0, 3.0)
    assert space_size(space) is None
    assert space_size(space[:2]) == 15


def test_a_decimal_step_lands_on_its_stop_without_float_drift():
    [parameter] = parse_space(
        {"take_profit_pct": {"start": 0.1, "stop": 0.3, "step": 0.1}}, trees=TREES
    )
    assert parameter.values == (0.1, 0.2, 0.3)


def test_an_indicator_parameter_left_at_its_default_can_vary():
    [parameter] = parse_space({"entry_rules.all[1].left.period": {"values": [7, 21]}}, trees=TREES)
    assert parameter.domain.integer


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("entry_rules.all[3].left.period", "entry_rules.all has 3 elements; there is no [3]"),
        ("entry_rules.any[0].left.period", "entry_rules has no 'any'"),
        (
            "entry_rules.all[0].left.length",
            "sma has no numeric parameter 'length' (period, offset)",
        ),
        ("entry_rules.all[0].op", "entry_rules.all[0].op is 'crosses_above', not a number"),
        ("entry_rules.all[0].left", "entry_rules.all[0].left is an object, not a number"),
        ("entry_rules", "entry_rules is a rule tree, not a number"),
        ("stop_loss_pct.x", "stop_loss_pct is a number; it has no .x"),
        ("profit", "must start with one of entry_rules, exit_rules, stop_loss_pct"),
        ("entry_rules.all[0]..period", "cannot read the path from '..period'"),
    ],
)
def test_a_path_that_does_not_name_a_numeric_leaf_is_refused_with_where_it_leaves_the_tree(
    path, reason
):
    [error] = errors_of({path: {"values": [1]}})
    assert error.startswith(f"parameters.{path}: ")
    assert reason in error


def test_values_outside_the_leafs_domain_are_refused_by_index():
    errors = errors_of(
        {
            "entry_rules.all[0].left.period": {"values": [10, 0, 2.5]},
            "entry_rules.all[2].left.stddev": {"values": [0]},
            "max_position_size_pct": {"values": [None]},
            "stop_loss_pct": {"start": 90, "stop": 110, "step": 10},
        }
    )
    assert errors == [
        "parameters.entry_rules.all[0].left.period.values[1]: must be >= 1",
        "parameters.entry_rules.all[0].left.period.values[2]: must be an integer",
        "parameters.entry_rules.all[2].left.stddev.values[0]: must be > 0",
        "parameters.max_position_size_pct.values[0]: must be a number, not null",
        "parameters.stop_loss_pct.stop: must be <= 100",
    ]


def test_a_stop_may_be_switched_off_with_null():
    [parameter] = parse_space({"stop_loss_pct": {"values": [None, 2]}}, trees=TREES)
    assert parameter.values == (None, 2.0)


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({}, "give exactly one form"),
        ({"values": []}, "values: must be a non-empty list"),
        ({"start": 10, "stop": 5, "step": 1}, "stop: must be >= start"),
        ({"start": 10, "stop": 20, "step": 0}, "step: must be > 0"),
        ({"start": 10, "stop": 20, "step": 0.5}, "must be integers"),
        ({"start": 1, "stop": 10_000_000, "step": 1}, "at most 100000"),
        ({"low": 30, "high": 10}, "high: must be >= low"),
        ({"values": [10], "low": 1, "high": 2}, "give exactly one form"),
    ],
)
def test_malformed_forms_are_refused(form, reason):
    [error] = errors_of({"entry_rules.all[0].left.period": form})
    assert reason in error


def test_an_empty_space_is_refused():
    assert errors_of({}) == ["parameters: must be an object of at least one parameter"]


def test_apply_writes_values_at_their_paths_and_leaves_the_inputs_alone():
    trees, risk = apply_parameters(
        trees=TREES,
        risk={"stop_loss_pct": 2.0},
        parameters={
            "entry_rules.all[0].left.period": 12,
            "entry_rules.all[1].left.period": 9,
            "exit_rules.right": 7.5,
            "stop_loss_pct": None,
        },
    )
    assert trees["entry_rules"]["all"][0]["left"]["period"] == 12
    assert trees["entry_rules"]["all"][1]["left"] == {"indicator": "rsi", "period": 9}
    assert trees["exit_rules"]["right"] == 7.5
    assert risk == {"stop_loss_pct": None}
    assert ENTRY["all"][0]["left"]["period"] == 20 and "period" not in ENTRY["all"][1]["left"]


def test_leaf_domain_of_a_constant_is_any_finite_number():
    domain = leaf_domain("exit_rules.right", TREES)
    assert domain.check(-3.5) is None
    assert domain.check(float("inf")) == "must be finite"
