"""`Authorization: Bearer <token>` with a personal access token (accounts.models.AccessToken).

Listed first in REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES: DRF answers an unauthenticated
request with 401 and the first class's WWW-Authenticate challenge, `Bearer realm="api"`."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import AccessToken, User
from accounts.security.access_tokens import token_in_force

REALM = "api"


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[User, AccessToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as `Authorization: Bearer <token>`."
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not valid.") from exc
        token = token_in_force(secret)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, revoked or expired.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{REALM}"'
