"""The OpenAPI document's security scheme for personal access tokens (drf-spectacular finds
this extension once the module is imported: accounts.apps)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (POST /api/v1/auth/tokens/ while signed in): "
            "scope `read` for GET/HEAD/OPTIONS, `trade` for every method.",
        }
