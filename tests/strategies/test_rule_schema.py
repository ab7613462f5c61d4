"""Validation of rule trees: every error names its path and reason; the JSON Schema agrees."""

import copy

import pytest

from strategies.rules import (
    RULES_JSON_SCHEMA,
    RuleValidationError,
    ensure_valid_rules,
    rule_direction,
    validate_rules,
)
from strategies.rules.examples import EXAMPLE_STRATEGIES
from strategies.rules.schema import MAX_DEPTH, MAX_NODES

jsonschema = pytest.importorskip("jsonschema")

SMA20 = {"indicator": "sma", "period": 20}
CROSS = {"left": SMA20, "op": "crosses_above", "right": {"indicator": "sma", "period": 50}}


def schema_accepts(rules) -> bool:
    return jsonschema.Draft202012Validator(RULES_JSON_SCHEMA).is_valid(rules)


@pytest.mark.parametrize("example", EXAMPLE_STRATEGIES, ids=lambda e: e["name"])
def test_example_strategies_validate(example):
    assert validate_rules(example["entry_rules"], path="entry_rules") == []
    assert validate_rules(example["exit_rules"], path="exit_rules") == []
    assert schema_accepts(example["entry_rules"])
    assert schema_accepts(example["exit_rules"])
    assert example["asset_symbol"] == "BTC/USDT" and example["timeframe"] == "1h"


def test_schema_is_draft_2020_12_and_itself_valid():
    assert RULES_JSON_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(RULES_JSON_SCHEMA)


@pytest.mark.parametrize(
    "operand",
    [
        "close",
        {"field": "close", "offset": 1},
        3.5,
        {"indicator": "ema", "period": 9, "source": "high", "offset": 2},
        {"indicator": "rsi"},
        {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9, "output": "histogram"},
        {"indicator": "bbands", "period": 20, "stddev": 2, "output": "upper"},
        {"indicator": "atr", "period": 14},
        {"indicator": "stoch", "k_period": 14, "d_period": 3, "output": "d"},
        {"indicator": "roc", "period": 10},
        {"indicator": "obv"},
        {"indicator": "vwap"},
        {"indicator": "wma", "period": 5},
    ],
)
def test_every_operand_form_is_accepted(operand):
    rules = {"left": operand, "op": ">", "right": "open"}
    assert validate_rules(rules) == []
    assert schema_accepts(rules)


def test_error_names_the_path_of_a_bad_period():
    rules = {
        "all": [CROSS, {"left": "close", "op": ">", "right": {"indicator": "sma", "period": 0}}]
    }
    assert validate_rules(rules) == ["entry_rules.all[1].right.period: must be an integer >= 1"]
    assert not schema_accepts(rules)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], "entry_rules: must be an object"),
        ({"left": "close", "op": "=>", "right": 1}, "entry_rules.op: must be one of"),
        ({"left": "price", "op": ">", "right": 1}, "entry_rules.left: must be one of open"),
        (
            {"left": {"indicator": "kama", "period": 3}, "op": ">", "right": 1},
            "entry_rules.left.indicator: unknown indicator",
        ),
        (
            {"left": {"indicator": "sma", "period": 3, "lenght": 2}, "op": ">", "right": 1},
            "entry_rules.left.lenght: unknown key for indicator 'sma'",
        ),
        (
            {"left": {"indicator": "sma"}, "op": ">", "right": 1},
            "entry_rules.left.period: is required",
        ),
        (
            {"left": {"indicator": "sma", "period": 2.5}, "op": ">", "right": 1},
            "entry_rules.left.period: must be an integer >= 1",
        ),
        (
            {"left": {"indicator": "sma", "period": True}, "op": ">", "right": 1},
            "entry_rules.left.period: must be an integer >= 1",
        ),
        (
            {"left": {"indicator": "macd", "output": "hist"}, "op": ">", "right": 0},
            "entry_rules.left.output: must be one of line, signal, histogram",
        ),
        (
            {"left": {"indicator": "bbands"}, "op": ">", "right": "close"},
            "entry_rules.left.output: is required",
        ),
        (
            {"left": {"indicator": "macd", "fast": 30, "output": "line"}, "op": ">", "right": 0},
            "entry_rules.left.fast: must be smaller than slow",
        ),
        (
            {
                "left": {"indicator": "bbands", "stddev": 0, "output": "upper"},
                "op": ">",
                "right": 0,
            },
            "entry_rules.left.stddev: must be a number > 0",
        ),
        (
            {"left": {"indicator": "atr", "source": "close"}, "op": ">", "right": 1},
            "entry_rules.left.source: unknown key for indicator 'atr'",
        ),
        (
            {"left": {"field": "close", "offset": -1}, "op": ">", "right": 1},
            "entry_rules.left.offset: must be an integer between 0 and 1000",
        ),
        ({"left": 1, "op": ">", "right": 2}, "entry_rules: compares two numbers"),
        ({"left": "close", "op": ">"}, "entry_rules.right: is required"),
        ({"all": []}, "entry_rules.all: must be a non-empty list"),
        ({"all": [CROSS], "any": [CROSS]}, "entry_rules: must be exactly one of"),
        ({"not": CROSS, "extra": 1}, "entry_rules.extra: unknown key"),
        ({"when": CROSS}, "entry_rules: must be one of all, any, not or a comparison"),
        ({"direction": "sideways", **CROSS}, "entry_rules.direction: must be 'long' or 'short'"),
        ({}, "entry_rules: must contain a condition"),
        ({"direction": "short"}, "entry_rules: must contain a condition"),
        (
            {"left": "close", "op": ">", "right": float("nan")},
            "entry_rules.right: must be finite",
        ),
    ],
)
def test_invalid_rules_are_reported_with_path_and_reason(rules, expected):
    errors = validate_rules(rules)
    assert any(error.startswith(expected) for error in errors), errors


def test_direction_is_only_allowed_on_entry_rules():
    rules = {"direction": "short", **CROSS}
    assert validate_rules(rules, path="entry_rules") == []
    assert validate_rules(rules, path="exit_rules") == [
        "exit_rules.direction: only allowed at the root of entry_rules"
    ]
    assert rule_direction(rules) == "short"
    assert rule_direction(CROSS) == "long"


def test_empty_exit_rules_mean_no_rule_based_exit():
    assert validate_rules({}, path="exit_rules") == []
    assert schema_accepts({})


def test_depth_is_bounded():
    rules = CROSS
    for _ in range(MAX_DEPTH):
        rules = {"not": rules}
    errors = validate_rules(rules)
    assert any("nested deeper than 10 levels" in error for error in errors)
    shallow = CROSS
    for _ in range(MAX_DEPTH - 1):
        shallow = {"not": shallow}
    assert validate_rules(shallow) == []


def test_size_is_bounded():
    rules = {"any": [copy.deepcopy(CROSS) for _ in range(MAX_NODES)]}
    assert validate_rules(rules) == [f"entry_rules: has {MAX_NODES + 1} nodes; at most 200 allowed"]
    assert validate_rules({"any": [CROSS] * (MAX_NODES - 1)}) == []


def test_several_errors_are_all_reported():
    rules = {
        "all": [
            {"left": "close", "op": "?", "right": {"indicator": "rsi", "period": -3}},
            {"left": 1, "op": ">", "right": 2},
        ]
    }
    assert validate_rules(rules) == [
        "entry_rules.all[0].op: must be one of >, <, >=, <=, crosses_above, crosses_below",
        "entry_rules.all[0].right.period: must be an integer >= 1",
        "entry_rules.all[1]: compares two numbers; one side must be a field or an indicator",
    ]


def test_ensure_valid_rules_raises_with_the_errors():
    with pytest.raises(RuleValidationError) as raised:
        ensure_valid_rules({"left": 1, "op": ">", "right": 2}, path="exit_rules")
    assert raised.value.errors == [
        "exit_rules: compares two numbers; one side must be a field or an indicator"
    ]
    ensure_valid_rules(CROSS)


@pytest.mark.parametrize(
    "rules",
    [
        {"left": 1, "op": ">", "right": 2},
        {"left": "close", "op": "==", "right": 2},
        {"all": []},
        {"left": {"indicator": "sma", "period": 3, "extra": 1}, "op": ">", "right": 1},
        {"direction": "up", **CROSS},
        {"all": [CROSS], "left": "close"},
    ],
)
def test_json_schema_rejects_what_validation_rejects(rules):
    assert validate_rules(rules) != []
    assert not schema_accepts(rules)


def test_an_integer_too_large_for_a_float_is_an_error_not_a_crash():
    rules = {"left": "close", "op": ">", "right": 10**400}
    assert validate_rules(rules, path="entry_rules") == ["entry_rules.right: must be finite"]
    bands = {
        "left": "close",
        "op": ">",
        "right": {"indicator": "bbands", "period": 20, "stddev": 10**400, "output": "upper"},
    }
    assert validate_rules(bands, path="entry_rules") == [
        "entry_rules.right.stddev: must be a number > 0 and <= 10"
    ]
