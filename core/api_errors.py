"""The project-wide DRF exception handler: service errors become 400/404/409/429 here, once, so
views call services without wrapping each call (HackSoft's api/exception_handlers.py)."""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

from core.errors import LimitExceeded, ServiceUnavailable, StateConflict


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the object's current state."
    default_code = "conflict"


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the API needs is unavailable; try again shortly."
    default_code = "service_unavailable"


def as_drf_validation_error(error: DjangoValidationError) -> exceptions.ValidationError:
    """A Django ValidationError keyed by field as the service keyed it (rule errors keep their
    paths); one without fields goes under non_field_errors."""
    if hasattr(error, "error_dict"):
        return exceptions.ValidationError(error.message_dict)
    return exceptions.ValidationError({"non_field_errors": error.messages})


def api_exception_handler(exc: Exception, context: dict):
    if isinstance(exc, DjangoValidationError):
        exc = as_drf_validation_error(exc)
    elif isinstance(exc, StateConflict):
        exc = Conflict(str(exc))
    elif isinstance(exc, LimitExceeded):
        exc = exceptions.Throttled(wait=exc.retry_after, detail=str(exc))
    elif isinstance(exc, ServiceUnavailable):
        exc = Unavailable(f"{exc} Try again shortly.")
    elif isinstance(exc, ObjectDoesNotExist):
        exc = Http404(str(exc))
    return exception_handler(exc, context)
