"""How deep a JSON document nests, measured without recursion, so that a hostile document can be
refused before anything that does recurse (json.dumps, repr, the ORM's lookups) walks into it."""

from typing import Any

# Far above what any ApexTrade document needs (a rule tree at the rule language's 10 levels is
# about 25 deep) and far below the interpreter's recursion limit of 1,000.
MAX_JSON_DEPTH = 64


def nesting_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when objects and arrays inside `value` nest more than `limit` levels deep; the
    outermost object or array is level 1, a scalar is level 0."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
