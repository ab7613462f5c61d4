"""Pages outside the API (the operator console's login) answer a throttled sign-in with 429 and
Retry-After, and an unreachable Redis (sessions, sign-in attempts) with 503, as the API does
(there, core.api_errors maps the same exceptions), instead of a server error."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.security.login_throttle import LoginThrottled
from core.errors import ServiceUnavailable


class SignInErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, LoginThrottled):
            response = HttpResponse(str(exception), status=429, content_type="text/plain")
            response["Retry-After"] = str(exception.retry_after)
            return response
        if isinstance(exception, ServiceUnavailable):
            response = HttpResponse(
                f"{exception} The console cannot be used until it is back.",
                status=503,
                content_type="text/plain",
            )
            response["Retry-After"] = "30"
            return response
        return None
