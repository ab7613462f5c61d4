"""Django's sign-in and sign-out signals, passed to the accounts services that audit them."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from accounts.services import record_sign_in, record_sign_out
from compliance.audit import AuditContext


def _context(request: Any) -> AuditContext | None:
    return AuditContext.from_request(request, channel="session") if request is not None else None


@receiver(user_logged_in, dispatch_uid="accounts.audit_sign_in")
def audit_sign_in(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    record_sign_in(user=user, context=_context(request))


@receiver(user_logged_out, dispatch_uid="accounts.audit_sign_out")
def audit_sign_out(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and user.is_authenticated:
        record_sign_out(user=user, context=_context(request))
