"""Permissions for requests made with personal access tokens.

- `TokenHasScope` (in REST_FRAMEWORK's DEFAULT_PERMISSION_CLASSES, so every view has it unless
  it sets its own permission_classes; a view that does should list it too): a token request with
  a safe method (GET, HEAD, OPTIONS) needs the `read` or `trade` scope, any other method needs
  `trade`. Session requests (a signed-in browser) are not limited by it.
- `SessionOnly`: for managing credentials (tokens, two-factor, the password): a token cannot
  make another token or change how its owner signs in.
"""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import AccessToken, AccessTokenScope


def token_of(request: Request) -> AccessToken | None:
    return request.auth if isinstance(request.auth, AccessToken) else None


class TokenHasScope(BasePermission):
    message = "This token's scopes do not allow this: reading needs `read`, writing `trade`."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = token_of(request)
        if token is None:
            return True
        scopes = set(token.scopes)
        if request.method in SAFE_METHODS:
            return bool(scopes & {AccessTokenScope.READ, AccessTokenScope.TRADE})
        return AccessTokenScope.TRADE in scopes


class SessionOnly(BasePermission):
    message = (
        "Sign in with your password to manage tokens, two-factor and your password; a token cannot."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated) and token_of(request) is None
