"""The strategy rule language: validation, indicators and evaluation (pure Python/NumPy)."""

from strategies.rules.evaluate import evaluate_rules, operand_values, required_warmup
from strategies.rules.schema import (
    INDICATORS,
    RULES_JSON_SCHEMA,
    RuleValidationError,
    ensure_valid_rules,
    rule_direction,
    validate_rules,
)

__all__ = [
    "INDICATORS",
    "RULES_JSON_SCHEMA",
    "RuleValidationError",
    "ensure_valid_rules",
    "evaluate_rules",
    "operand_values",
    "required_warmup",
    "rule_direction",
    "validate_rules",
]
