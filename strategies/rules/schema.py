"""The strategy rule language: its vocabulary, validation and JSON Schema.

A rule tree is plain JSON (it lives in the strategies.entry_rules / exit_rules JSONB columns), so it
is validated here before it is stored or run; docs/rule-language.md is the user-facing reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
COMPARISON_OPS: tuple[str, ...] = (">", "<", ">=", "<=", "crosses_above", "crosses_below")
CROSS_OPS: frozenset[str] = frozenset({"crosses_above", "crosses_below"})
LOGICAL_KEYS: tuple[str, ...] = ("all", "any", "not")
DIRECTIONS: tuple[str, ...] = ("long", "short")

MAX_DEPTH = 10
MAX_NODES = 200
MAX_PERIOD = 10_000
MAX_OFFSET = 1_000
MAX_STDDEV = 10.0


@dataclass(frozen=True)
class IntParam:
    """An integer indicator parameter; `default` None means the parameter is required."""

    default: int | None
    minimum: int = 1
    maximum: int = MAX_PERIOD


@dataclass(frozen=True)
class NumberParam:
    """A positive real indicator parameter."""

    default: float
    maximum: float = MAX_STDDEV


@dataclass(frozen=True)
class IndicatorSpec:
    """What an indicator operand accepts: parameters, whether it has a source field, outputs."""

    params: dict[str, IntParam | NumberParam] = field(default_factory=dict)
    has_source: bool = True
    outputs: tuple[str, ...] = ()
    description: str = ""


INDICATORS: dict[str, IndicatorSpec] = {
    "sma": IndicatorSpec({"period": IntParam(None)}, description="Simple moving average"),
    "ema": IndicatorSpec(
        {"period": IntParam(None)}, description="Exponential moving average, seeded with the SMA"
    ),
    "wma": IndicatorSpec({"period": IntParam(None)}, description="Linearly weighted average"),
    "rsi": IndicatorSpec(
        {"period": IntParam(14)}, description="Relative Strength Index, Wilder smoothing"
    ),
    "macd": IndicatorSpec(
        {"fast": IntParam(12), "slow": IntParam(26), "signal": IntParam(9)},
        outputs=("line", "signal", "histogram"),
        description="MACD line, signal line and histogram",
    ),
    "bbands": IndicatorSpec(
        {"period": IntParam(20), "stddev": NumberParam(2.0)},
        outputs=("upper", "middle", "lower"),
        description="Bollinger bands (population standard deviation)",
    ),
    "atr": IndicatorSpec(
        {"period": IntParam(14)}, has_source=False, description="Average true range, Wilder"
    ),
    "stoch": IndicatorSpec(
        {"k_period": IntParam(14), "d_period": IntParam(3)},
        has_source=False,
        outputs=("k", "d"),
        description="Fast stochastic oscillator %K and %D",
    ),
    "roc": IndicatorSpec({"period": IntParam(None)}, description="Rate of change in percent"),
    "obv": IndicatorSpec(has_source=False, description="On-balance volume"),
    "vwap": IndicatorSpec(has_source=False, description="Session VWAP, restarting 00:00 UTC"),
}


class RuleValidationError(ValueError):
    """Raised by ensure_valid_rules; `errors` holds one 'path: reason' string per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def validate_rules(rules: Any, *, path: str = "entry_rules") -> list[str]:
    """Return every problem in a rule tree as 'path: reason'; an empty list means valid.

    A root whose path ends in 'entry_rules' may carry "direction" ("long" or "short") and must hold
    a condition; any other root (exit rules) may be the empty object {}, meaning no rule-based exit.
    """
    errors: list[str] = []
    if not isinstance(rules, dict):
        return [f"{path}: must be an object"]
    is_entry = path.endswith("entry_rules")
    body = rules
    if "direction" in rules:
        if not is_entry:
            errors.append(f"{path}.direction: only allowed at the root of entry_rules")
        elif rules["direction"] not in DIRECTIONS:
            errors.append(f"{path}.direction: must be 'long' or 'short'")
        body = {k: v for k, v in rules.items() if k != "direction"}
    if not body:
        if is_entry or "direction" in rules:
            errors.append(f"{path}: must contain a condition")
        return errors
    counter = [0]
    _validate_node(body, path, 1, counter, errors)
    if counter[0] > MAX_NODES:
        errors.append(f"{path}: has {counter[0]} nodes; at most {MAX_NODES} allowed")
    return errors


def ensure_valid_rules(rules: Any, *, path: str = "entry_rules") -> None:
    """Raise RuleValidationError when validate_rules finds any problem."""
    errors = validate_rules(rules, path=path)
    if errors:
        raise RuleValidationError(errors)


def rule_direction(entry_rules: dict[str, Any]) -> str:
    """The side entries open: "long" unless the entry root says "direction": "short"."""
    return str(entry_rules.get("direction", "long")) if isinstance(entry_rules, dict) else "long"


def _validate_node(node: Any, path: str, depth: int, counter: list[int], errors: list[str]) -> None:
    if depth > MAX_DEPTH:
        errors.append(f"{path}: nested deeper than {MAX_DEPTH} levels")
        return
    if not isinstance(node, dict):
        errors.append(f"{path}: must be an object")
        return
    counter[0] += 1
    logical = [key for key in LOGICAL_KEYS if key in node]
    if len(logical) > 1 or (logical and ("op" in node or "left" in node or "right" in node)):
        errors.append(f"{path}: must be exactly one of all, any, not or a comparison")
        return
    if logical:
        key = logical[0]
        for extra in node:
            if extra != key:
                errors.append(f"{path}.{extra}: unknown key")
        child = node[key]
        if key == "not":
            _validate_node(child, f"{path}.not", depth + 1, counter, errors)
        elif not isinstance(child, list) or not child:
            errors.append(f"{path}.{key}: must be a non-empty list of conditions")
        else:
            for i, item in enumerate(child):
                _validate_node(item, f"{path}.{key}[{i}]", depth + 1, counter, errors)
        return
    if "op" not in node and "left" not in node and "right" not in node:
        keys = ", ".join(sorted(map(str, node))) or "none"
        errors.append(
            f"{path}: must be one of all, any, not or a comparison (left, op, right); got {keys}"
        )
        return
    _validate_comparison(node, path, errors)


def _validate_comparison(node: dict[str, Any], path: str, errors: list[str]) -> None:
    for key in node:
        if key not in ("left", "op", "right"):
            errors.append(f"{path}.{key}: unknown key")
    for key in ("left", "op", "right"):
        if key not in node:
            errors.append(f"{path}.{key}: is required")
    if "op" in node and node["op"] not in COMPARISON_OPS:
        errors.append(f"{path}.op: must be one of {', '.join(COMPARISON_OPS)}")
    for side in ("left", "right"):
        if side in node:
            _validate_operand(node[side], f"{path}.{side}", errors)
    if _is_number(node.get("left")) and _is_number(node.get("right")):
        errors.append(f"{path}: compares two numbers; one side must be a field or an indicator")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite(value: int | float) -> bool:
    """math.isfinite, without its OverflowError on integers beyond a float (JSON allows them)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_offset(operand: dict[str, Any], path: str, errors: list[str]) -> None:
    if "offset" in operand:
        offset = operand["offset"]
        if not _is_int(offset) or not 0 <= offset <= MAX_OFFSET:
            errors.append(f"{path}.offset: must be an integer between 0 and {MAX_OFFSET}")


def _validate_field_name(value: Any, path: str, errors: list[str]) -> None:
    if value not in FIELDS:
        errors.append(f"{path}: must be one of {', '.join(FIELDS)}")


def _validate_operand(operand: Any, path: str, errors: list[str]) -> None:
    if isinstance(operand, str):
        _validate_field_name(operand, path, errors)
        return
    if _is_number(operand):
        if not _is_finite(operand):
            errors.append(f"{path}: must be finite")
        return
    if not isinstance(operand, dict):
        errors.append(f"{path}: must be a field name, a number, a field object or an indicator")
        return
    if "field" in operand and "indicator" in operand:
        errors.append(f"{path}: must have either 'field' or 'indicator', not both")
        return
    if "field" in operand:
        for key in operand:
            if key not in ("field", "offset"):
                errors.append(f"{path}.{key}: unknown key")
        _validate_field_name(operand["field"], f"{path}.field", errors)
        _validate_offset(operand, path, errors)
        return
    if "indicator" not in operand:
        errors.append(f"{path}: an operand object needs 'field' or 'indicator'")
        return
    _validate_indicator(operand, path, errors)


def _validate_indicator(operand: dict[str, Any], path: str, errors: list[str]) -> None:
    name = operand["indicator"]
    spec = INDICATORS.get(name) if isinstance(name, str) else None
    if spec is None:
        errors.append(
            f"{path}.indicator: unknown indicator; expected one of {', '.join(INDICATORS)}"
        )
        return
    allowed = {"indicator", "offset", *spec.params}
    if spec.has_source:
        allowed.add("source")
    if spec.outputs:
        allowed.add("output")
    for key in operand:
        if key not in allowed:
            errors.append(f"{path}.{key}: unknown key for indicator '{name}'")
    for param_name, param in spec.params.items():
        param_path = f"{path}.{param_name}"
        if param_name not in operand:
            if param.default is None:
                errors.append(f"{param_path}: is required")
            continue
        value = operand[param_name]
        if isinstance(param, IntParam):
            if not _is_int(value) or value < param.minimum:
                errors.append(f"{param_path}: must be an integer >= {param.minimum}")
            elif value > param.maximum:
                errors.append(f"{param_path}: must be an integer <= {param.maximum}")
        elif not _is_number(value) or not _is_finite(value) or not 0 < value <= param.maximum:
            errors.append(f"{param_path}: must be a number > 0 and <= {param.maximum:g}")
    if name == "macd":
        fast = operand.get("fast", 12)
        slow = operand.get("slow", 26)
        if _is_int(fast) and _is_int(slow) and fast >= slow:
            errors.append(f"{path}.fast: must be smaller than slow")
    if spec.has_source and "source" in operand:
        _validate_field_name(operand["source"], f"{path}.source", errors)
    if spec.outputs:
        if "output" not in operand:
            errors.append(f"{path}.output: is required; one of {', '.join(spec.outputs)}")
        elif operand["output"] not in spec.outputs:
            errors.append(f"{path}.output: must be one of {', '.join(spec.outputs)}")
    _validate_offset(operand, path, errors)


def _json_schema() -> dict[str, Any]:
    offset = {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
    field_name = {"enum": list(FIELDS)}
    indicator_variants = []
    for name, spec in INDICATORS.items():
        properties: dict[str, Any] = {"indicator": {"const": name}, "offset": offset}
        required = ["indicator"]
        for param_name, param in spec.params.items():
            if isinstance(param, IntParam):
                schema: dict[str, Any] = {
                    "type": "integer",
                    "minimum": param.minimum,
                    "maximum": param.maximum,
                }
                if param.default is None:
                    required.append(param_name)
                else:
                    schema["default"] = param.default
            else:
                schema = {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": param.maximum,
                    "default": param.default,
                }
            properties[param_name] = schema
        if spec.has_source:
            properties["source"] = {**field_name, "default": "close"}
        if spec.outputs:
            properties["output"] = {"enum": list(spec.outputs)}
            required.append("output")
        indicator_variants.append(
            {
                "title": name,
                "description": spec.description,
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            }
        )
    node_body = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}}
                },
                "required": ["all"],
            },
            {
                "type": "object",
                "properties": {
                    "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}}
                },
                "required": ["any"],
            },
            {
                "type": "object",
                "properties": {"not": {"$ref": "#/$defs/node"}},
                "required": ["not"],
            },
            {"$ref": "#/$defs/comparison"},
        ]
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://apextrade.example/schemas/strategy-rules.json",
        "title": "ApexTrade strategy rules",
        "description": (
            "A tree of all/any/not nodes over comparisons of candle fields, numbers and "
            f"indicators. At most {MAX_DEPTH} levels and {MAX_NODES} nodes. The entry_rules root "
            "may carry direction; exit_rules may be the empty object (no rule-based exit)."
        ),
        "anyOf": [
            {"type": "object", "maxProperties": 0},
            {
                "$ref": "#/$defs/node_body",
                "properties": {"direction": {"enum": list(DIRECTIONS), "default": "long"}},
                "unevaluatedProperties": False,
            },
        ],
        "$defs": {
            "node_body": node_body,
            "node": {"$ref": "#/$defs/node_body", "unevaluatedProperties": False},
            "comparison": {
                "type": "object",
                "properties": {
                    "left": {"$ref": "#/$defs/operand"},
                    "op": {"enum": list(COMPARISON_OPS)},
                    "right": {"$ref": "#/$defs/operand"},
                },
                "required": ["left", "op", "right"],
                "not": {
                    "properties": {"left": {"type": "number"}, "right": {"type": "number"}},
                    "required": ["left", "right"],
                },
            },
            "operand": {
                "oneOf": [
                    {"type": "number"},
                    field_name,
                    {
                        "type": "object",
                        "properties": {"field": field_name, "offset": offset},
                        "required": ["field"],
                        "additionalProperties": False,
                    },
                    {"$ref": "#/$defs/indicator"},
                ]
            },
            "indicator": {"oneOf": indicator_variants},
        },
    }


RULES_JSON_SCHEMA: dict[str, Any] = _json_schema()
