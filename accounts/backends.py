"""The authentication backend: Django's `authenticate()` (and so every form built on it) signs
in through accounts.security.sign_in, throttled, audited and with the second factor, never
around it."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.models import User
from accounts.security.sign_in import SignInRefused, sign_in
from compliance.audit import AuditContext


class EmailSignInBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        otp_code: str | None = None,
        recovery_code: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        """The user, or None when refused; LoginThrottled (a 429) passes through."""
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        context = (
            AuditContext.from_request(request, channel="session") if request is not None else None
        )
        try:
            return sign_in(
                email=username,
                password=password,
                otp_code=otp_code,
                recovery_code=recovery_code,
                context=context,
            )
        except SignInRefused:
            return None
