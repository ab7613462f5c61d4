"""The rule language's JSON Schema as OpenAPI components, so the API docs describe entry_rules and
exit_rules in full. The schema's `$defs` become components of their own (StrategyRulesNode, ...)
and its `#/$defs/...` references are rewritten to point at them.

The document is OpenAPI 3.0, whose schema dialect predates draft 2020-12, so the few newer keywords
are written the 3.0 way (`const` as a one-value `enum`, a numeric `exclusiveMinimum` as `minimum`
plus `exclusiveMinimum: true`, `$ref` with siblings inside `allOf`) and `unevaluatedProperties`
is dropped. The exact schema is served at /api/v1/strategies/rules-schema."""

import copy
import re
from typing import Any

from strategies.rules.schema import RULES_JSON_SCHEMA

RULES_COMPONENT = "StrategyRules"
RULES_REF = {"$ref": f"#/components/schemas/{RULES_COMPONENT}"}
# The two places rules go differ at the root: entry rules must hold a condition and may carry
# `direction`; exit rules may be {} (stops and targets only) and never carry `direction`.
ENTRY_RULES_COMPONENT = "StrategyEntryRules"
EXIT_RULES_COMPONENT = "StrategyExitRules"
ENTRY_RULES_REF = {"$ref": f"#/components/schemas/{ENTRY_RULES_COMPONENT}"}
EXIT_RULES_REF = {"$ref": f"#/components/schemas/{EXIT_RULES_COMPONENT}"}
ROOT_COMPONENTS = {
    ENTRY_RULES_COMPONENT: {
        "allOf": [RULES_REF],
        "minProperties": 1,
        "description": "When to enter: a condition, and optionally direction (long or short).",
    },
    EXIT_RULES_COMPONENT: {
        "allOf": [RULES_REF],
        "not": {"required": ["direction"]},
        "description": "When to exit on a signal; {} for none (stops and targets only).",
    },
}


def _component_name(definition: str) -> str:
    return RULES_COMPONENT + "".join(part.title() for part in re.split(r"[_\W]+", definition))


def _as_openapi_30(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
            name = _component_name(value.removeprefix("#/$defs/"))
            out[key] = f"#/components/schemas/{name}"
        elif key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "unevaluatedProperties":
            continue
        else:
            out[key] = _as_openapi_30(value)
    if "$ref" in out and len(out) > 1:
        reference = {"$ref": out.pop("$ref")}
        out["allOf"] = [reference, *out.get("allOf", [])]
    return out


def rules_schema_components() -> dict[str, Any]:
    """{component name: schema} for the rules root and each of its definitions."""
    schema = copy.deepcopy(RULES_JSON_SCHEMA)
    definitions = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema.pop("$id", None)
    components = {RULES_COMPONENT: _as_openapi_30(schema)}
    for name, definition in definitions.items():
        components[_component_name(name)] = _as_openapi_30(definition)
    components.update(copy.deepcopy(ROOT_COMPONENTS))
    return components


def add_rules_schema(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(rules_schema_components())
    return result
