"""Pages outside the API (the operator console's login) answer a throttled sign-in with 429 and
Retry-After, like the API does (there, core.api_errors maps the same exception)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.security.login_throttle import LoginThrottled


class SignInThrottleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, LoginThrottled):
            return None
        response = HttpResponse(str(exception), status=429, content_type="text/plain")
        response["Retry-After"] = str(exception.retry_after)
        return response
