"""Errors outside DRF's views answered in the API's one error shape, `{"detail": "..."}` (see
docs/api.md): unknown URLs under /api/, methods a plain view does not take, bodies over the size
limit (413), errors raised by middleware, and Redis or PostgreSQL out of reach (503, with an error
page outside the API, e.g. the admin).

`handler404`/`handler500`/... are wired in apextrade/urls.py; ApiErrorMiddleware sits near the top
of settings.MIDDLEWARE so that it sees every /api/ answer."""

import logging
import sys
from collections.abc import Callable, Iterator
from http import HTTPStatus

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.views import defaults

from core.errors import REDIS_UNREACHABLE, ServiceUnavailable

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
RETRY_AFTER_UNAVAILABLE = 30  # seconds: what a client waits before trying again
# PostgreSQL errors that mean "cannot reach the server", not "the query went wrong": class 08
# (connection exception) and the server shutting down or starting (57P01-57P03).
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def unavailable_service(error: BaseException | None) -> str | None:
    """ "Redis" or "PostgreSQL" when the error (or one it was raised from) says that service
    cannot be reached; None for any other error."""
    for link in _chain(error):
        if isinstance(link, ServiceUnavailable):
            return link.service
        if isinstance(link, REDIS_UNREACHABLE):
            return "Redis"
        if isinstance(link, OperationalError | InterfaceError):
            cause = link.__cause__
            sqlstate = getattr(cause, "sqlstate", None)
            if sqlstate is None or sqlstate.startswith(_UNREACHABLE_SQLSTATES):
                return "PostgreSQL"
    return None


def unavailable_message(service: str) -> str:
    return (
        f"ApexTrade is temporarily unavailable: {service} cannot be reached. Nothing was "
        f"changed; try again in {RETRY_AFTER_UNAVAILABLE} seconds."
    )


def error_response(status: int, detail: str, **headers: str) -> JsonResponse:
    """The API's error shape."""
    response = JsonResponse({"detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def service_unavailable_response(request: HttpRequest, service: str) -> HttpResponse:
    retry = str(RETRY_AFTER_UNAVAILABLE)
    if is_api_request(request):
        return error_response(503, unavailable_message(service), Retry_After=retry)
    page = format_html(
        "<!doctype html><html><head><title>Service unavailable</title></head><body>"
        "<h1>Service unavailable</h1><p>{}</p></body></html>",
        unavailable_message(service),
    )
    return HttpResponse(page, status=503, headers={"Retry-After": retry})


# --- Django's error views (apextrade/urls.py) ---------------------------------------------------


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(
            404, "Not found: no such API route (the routes are listed at /api/v1/schema/)."
        )
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(403, "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Called by Django inside its `except` block, so the error is sys.exc_info()'s."""
    service = unavailable_service(sys.exc_info()[1])
    if service is not None:
        return service_unavailable_response(request, service)
    if is_api_request(request):
        return error_response(500, "Internal server error; it has been logged.")
    return defaults.server_error(request)


# --- Middleware -----------------------------------------------------------------------------------


class ApiErrorMiddleware:
    """For /api/ requests: a body larger than settings.API_MAX_BODY_BYTES is a 413 before anything
    reads it (DRF's parsers read a JSON body whatever its size); an error raised by a view that
    says Redis or PostgreSQL is out of reach is a 503 (also with DEBUG on); and any error answer
    that is not JSON (Django's 404 and 405 pages, the CSRF page ...) is given the error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            refused = self._refuse_large_body(request)
            if refused is not None:
                return refused
        response = self.get_response(request)
        if is_api_request(request):
            return self._as_error_shape(response)
        return response

    @staticmethod
    def _refuse_large_body(request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "The Content-Length header is not a number.")
        limit = settings.API_MAX_BODY_BYTES
        if length > limit:
            return error_response(
                413, f"The request body is {length} bytes; the API takes at most {limit}."
            )
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        service = unavailable_service(exception)
        if service is None:
            return None
        logger.error("%s unreachable during %s %s", service, request.method, request.path)
        return service_unavailable_response(request, service)

    @staticmethod
    def _as_error_shape(response: HttpResponse) -> HttpResponse:
        if (
            response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
            or hasattr(response, "accepted_renderer")  # DRF's, rendered as the client asked
        ):
            return response
        status = response.status_code
        detail = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        shaped = error_response(status, f"{detail}.")
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                shaped[header] = response[header]
        return shaped
