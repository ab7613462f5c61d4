"""GET /api/v1/: what a client can reach, how to sign in, and where the docs are."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

RESOURCES = {
    "profile": "profile",
    "export": "me-export",
    "strategies": "strategy-list",
    "backtests": "backtest-list",
    "optimisations": "optimisation-list",
    "portfolios": "portfolio-list",
    "positions": "position-list",
    "trades": "trade-list",
    "api_keys": "api-key-list",
    "alerts": "alert-list",
    "candles": "marketdata-candles",
    "access_tokens": "access-token-list",
}
SIGN_IN = {
    "register": "auth-register",
    "login": "rest_framework:login",
    "logout": "rest_framework:logout",
    "password_reset": "auth-password-reset",
    "two_factor": "auth-mfa",
}


class ApiRootView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The API's resources, how to sign in, and the docs",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        def links(names: dict[str, str]) -> dict[str, str]:
            return {key: reverse(name, request=request) for key, name in names.items()}

        return Response(
            {
                "resources": links(RESOURCES),
                "auth": links(SIGN_IN),
                "authentication": "Programs: `Authorization: Bearer <personal access token>`; "
                "browsers: a session from the login. See docs/signing-in.md.",
                "docs": reverse("api-docs", request=request),
                "schema": reverse("api-schema", request=request),
            }
        )
