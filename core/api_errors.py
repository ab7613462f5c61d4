"""The project-wide DRF exception handler: service errors become 400/404/409/429 here, once, so
views call services without wrapping each call (HackSoft's api/exception_handlers.py); a body over
the size limit is a 413 and Redis or PostgreSQL out of reach a 503, in the same error shape."""

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

from core.api_failures import RETRY_AFTER_UNAVAILABLE, unavailable_message, unavailable_service
from core.errors import LimitExceeded, StateConflict


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the object's current state."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the API needs is unavailable; try again shortly."
    default_code = "service_unavailable"


def as_drf_validation_error(error: DjangoValidationError) -> exceptions.ValidationError:
    """A Django ValidationError keyed by field as the service keyed it (rule errors keep their
    paths); one without fields, or a model's errors about no one field (a unique constraint over
    several), goes under non_field_errors."""
    if hasattr(error, "error_dict"):
        return exceptions.ValidationError(
            {
                "non_field_errors" if field == NON_FIELD_ERRORS else field: messages
                for field, messages in error.message_dict.items()
            }
        )
    return exceptions.ValidationError({"non_field_errors": error.messages})


def api_exception_handler(exc: Exception, context: dict):
    if isinstance(exc, DjangoValidationError):
        exc = as_drf_validation_error(exc)
    elif isinstance(exc, StateConflict):
        exc = Conflict(str(exc))
    elif isinstance(exc, LimitExceeded):
        exc = exceptions.Throttled(wait=exc.retry_after, detail=str(exc))
    elif isinstance(exc, ObjectDoesNotExist):
        exc = Http404(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif service := unavailable_service(exc):
        # core.errors.ServiceUnavailable, or Redis's or PostgreSQL's own connection errors
        response = exception_handler(Unavailable(unavailable_message(service)), context)
        response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
        return response
    return exception_handler(exc, context)
