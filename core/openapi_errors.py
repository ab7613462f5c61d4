"""The API's error answers in its OpenAPI document, for every operation that can give them, so
that clients (and schema-driven tests) know them: drf-spectacular documents only the successful
answer unless a view says more.

- 400 `ValidationErrors`: for operations that take a body or query parameters; DRF's shape, each
  field (or `non_field_errors`, or `detail` for a body that is not JSON) with its messages.
- 401 `Error`: every operation but the two open documents (the OpenAPI schema and the rules'
  JSON Schema) needs a signed-in client (a session, or `Authorization: Bearer` with a personal
  access token); a missing or bad one answers 401 with `WWW-Authenticate: Bearer realm="api"`.
- 403 `Error`: signed in but not allowed (a token's scopes, a missing CSRF token).
- 404 `Error`: an id or symbol in the path that is not the client's, or a malformed `cursor`.
- 415 `Error`: a body in a media type the operation does not take (or that cannot be parsed as
  one), for operations that take a body.
- 429 `Error` (with Retry-After): past the client's request limit, on every operation that needs
  a signed-in client (docs/api.md, "Limits").
- 503 `Error` (with Retry-After): Redis or PostgreSQL cannot be reached, on every operation.
A view's own description of one of these codes is kept.
"""

from typing import Any

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERRORS = {
    "type": "object",
    "description": "Field name (or non_field_errors, or detail) to its messages; a nested "
    "field's errors nest the same way.",
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object"},
            {"type": "string"},
        ]
    },
}
PUBLIC_PATHS = ("/api/v1/schema/", "/api/v1/strategies/rules-schema")  # open documents
OPERATIONS = ("get", "post", "put", "patch", "delete")


def _response(description: str, component: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }


def add_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("ValidationErrors", VALIDATION_ERRORS)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in OPERATIONS:
                continue
            operation.setdefault("responses", {}).setdefault(
                "503",
                _response("Redis or PostgreSQL cannot be reached; see Retry-After.", "Error"),
            )
            if path in PUBLIC_PATHS:
                continue
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
                responses.setdefault("400", _response("Invalid input.", "ValidationErrors"))
            if "requestBody" in operation:
                responses.setdefault(
                    "415", _response("A body in a media type the operation does not take.", "Error")
                )
            responses.setdefault("401", _response("Not signed in, or a bad token.", "Error"))
            responses.setdefault("403", _response("Not allowed.", "Error"))
            responses.setdefault(
                "429", _response("Past a limit of yours; see the Retry-After header.", "Error")
            )
            if "{" in path or any(p["name"] == "cursor" for p in parameters):
                responses.setdefault(
                    "404", _response("No such object of yours, or an invalid cursor.", "Error")
                )
    return result
