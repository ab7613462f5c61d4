"""Rule evaluation: one boolean per bar at its close, False wherever an operand is undefined."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.engine import Candles
from strategies.rules import evaluate_rules, operand_values, required_warmup
from strategies.rules.schema import INDICATORS

MINUTE = 60_000_000_000


def candles_from_closes(closes, volume=None) -> Candles:
    close = np.asarray(closes, dtype=float)
    n = close.shape[0]
    return Candles.from_arrays(
        np.arange(n) * MINUTE,
        close,
        close + 1,
        close - 0.5,
        close,
        np.ones(n) if volume is None else volume,
    )


def test_comparisons_against_a_number():
    candles = candles_from_closes([1, 2, 3, 2])
    assert evaluate_rules({"left": "close", "op": ">", "right": 2}, candles).tolist() == [
        False,
        False,
        True,
        False,
    ]
    assert evaluate_rules({"left": "close", "op": ">=", "right": 2}, candles).tolist() == [
        False,
        True,
        True,
        True,
    ]
    assert evaluate_rules({"left": 2, "op": "<", "right": "close"}, candles).tolist() == [
        False,
        False,
        True,
        False,
    ]


def test_crosses_above_fires_only_on_the_bar_of_the_cross():
    candles = candles_from_closes([1, 3, 3, 1, 2, 5])
    rule = {"left": "close", "op": "crosses_above", "right": 2}
    # bar 1: 1 <= 2 then 3 > 2; bar 5: 2 <= 2 then 5 > 2 (touching counts as "not above")
    assert evaluate_rules(rule, candles).tolist() == [False, True, False, False, False, True]
    below = {"left": "close", "op": "crosses_below", "right": 2}
    assert evaluate_rules(below, candles).tolist() == [False, False, False, True, False, False]


def test_offset_reads_the_value_k_bars_ago():
    candles = candles_from_closes([5, 6, 7, 8])
    values = operand_values({"field": "close", "offset": 2}, candles)
    assert np.isnan(values[:2]).all() and values[2:].tolist() == [5.0, 6.0]
    rule = {"left": "close", "op": ">", "right": {"field": "close", "offset": 1}}
    assert evaluate_rules(rule, candles).tolist() == [False, True, True, True]


def test_logic_nodes_combine_bar_by_bar():
    candles = candles_from_closes([1, 2, 3, 4])
    above_1 = {"left": "close", "op": ">", "right": 1}
    below_4 = {"left": "close", "op": "<", "right": 4}
    assert evaluate_rules({"all": [above_1, below_4]}, candles).tolist() == [0, 1, 1, 0]
    assert evaluate_rules({"any": [above_1, below_4]}, candles).tolist() == [1, 1, 1, 1]
    assert evaluate_rules({"not": above_1}, candles).tolist() == [1, 0, 0, 0]


def test_not_and_any_never_fire_while_an_indicator_warms_up():
    candles = candles_from_closes([10, 9, 8, 7, 6, 5])
    sma3_above = {"left": "close", "op": ">", "right": {"indicator": "sma", "period": 3}}
    assert evaluate_rules({"not": sma3_above}, candles).tolist() == [0, 0, 1, 1, 1, 1]
    rule = {"any": [{"left": "close", "op": ">", "right": 0}, sma3_above]}
    assert evaluate_rules(rule, candles).tolist() == [0, 0, 1, 1, 1, 1]


def test_direction_key_is_ignored_by_evaluation_and_empty_rules_never_hold():
    candles = candles_from_closes([1, 2, 3])
    rule = {"direction": "short", "left": "close", "op": ">", "right": 1}
    assert evaluate_rules(rule, candles).tolist() == [False, True, True]
    assert evaluate_rules({}, candles).tolist() == [False, False, False]


def test_shared_cache_computes_an_indicator_once():
    candles = candles_from_closes(np.arange(1.0, 30.0))
    cache = {}
    sma = {"indicator": "sma", "period": 5}
    evaluate_rules({"left": "close", "op": ">", "right": sma}, candles, cache)
    evaluate_rules({"left": {**sma, "offset": 3}, "op": "<", "right": "close"}, candles, cache)
    assert list(cache) == [("sma", (("period", 5),), "close", None)]


def test_indicator_parameters_take_their_defaults():
    candles = candles_from_closes(np.linspace(10, 20, 40))
    explicit = operand_values({"indicator": "rsi", "period": 14, "source": "close"}, candles)
    default = operand_values({"indicator": "rsi"}, candles)
    np.testing.assert_array_equal(explicit, default)


def test_required_warmup_counts_the_longest_operand_offset_and_cross():
    rule = {
        "all": [
            {
                "left": {"indicator": "sma", "period": 20},
                "op": "crosses_above",
                "right": {"indicator": "sma", "period": 50},
            },
            {"left": {"indicator": "rsi", "period": 14, "offset": 40}, "op": "<", "right": 70},
        ]
    }
    assert required_warmup(rule) == 54  # rsi: 14 + offset 40 beats sma50: 49 + 1 for the cross
    macd_signal = {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9, "output": "signal"}
    assert required_warmup({"left": macd_signal, "op": ">", "right": 0}) == 33
    assert required_warmup({}) == 0


OPERANDS = [
    {"indicator": "sma", "period": 7},
    {"indicator": "ema", "period": 5},
    {"indicator": "wma", "period": 4},
    {"indicator": "rsi", "period": 6},
    {"indicator": "roc", "period": 3},
    {"indicator": "atr", "period": 5},
    {"indicator": "obv"},
    {"indicator": "vwap"},
    {"indicator": "stoch", "k_period": 5, "d_period": 3, "output": "k"},
    {"indicator": "stoch", "k_period": 5, "d_period": 3, "output": "d"},
    {"indicator": "bbands", "period": 6, "stddev": 2, "output": "lower"},
    {"indicator": "macd", "fast": 3, "slow": 6, "signal": 4, "output": "line"},
    {"indicator": "macd", "fast": 3, "slow": 6, "signal": 4, "output": "histogram"},
    {"indicator": "sma", "period": 3, "offset": 4},
    {"field": "high", "offset": 2},
]


def test_every_indicator_has_a_warmup_case():
    assert {op.get("indicator") for op in OPERANDS} - {None} == set(INDICATORS)


@pytest.mark.parametrize("operand", OPERANDS, ids=lambda op: str(op))
def test_warmup_is_exactly_the_undefined_prefix(operand):
    closes = 100 + np.cumsum(np.random.default_rng(3).normal(size=60))
    values = operand_values(operand, candles_from_closes(closes, np.full(60, 2.0)))
    warmup = required_warmup({"left": operand, "op": ">", "right": 0})
    assert np.isnan(values[:warmup]).all()
    assert not np.isnan(values[warmup:]).any()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(1.0, 100.0), min_size=5, max_size=80),
    st.integers(min_value=1, max_value=79),
)
def test_values_at_a_bar_do_not_depend_on_later_bars(closes, cut):
    cut = min(cut, len(closes) - 1)
    full = candles_from_closes(closes)
    prefix = full.slice(0, cut + 1)
    for operand in OPERANDS:
        np.testing.assert_array_equal(
            operand_values(operand, full)[: cut + 1], operand_values(operand, prefix)
        )
