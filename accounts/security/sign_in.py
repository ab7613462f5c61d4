"""Signing in with a password: the one path behind the API login, the admin login and Django's
`authenticate()` (accounts.backends), so that each is throttled, audited and asks for the second
factor alike.

Order matters: the attempt is reserved in Redis (accounts.security.login_throttle) before the
password is hashed, so a refused attempt costs no hash; every refusal is audited (action `login`,
the spec's only sign-in action, with metadata outcome "failed" and the reason), and the caller
starts the session, whose `login` row Django's signal records.
"""

from django.contrib.auth.hashers import make_password

from accounts.models import User
from accounts.security import login_throttle
from accounts.security.two_factor import second_factor_matches
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import record_audit_event


class SignInRefused(Exception):
    """The sign-in did not succeed; `reason` is what the audit row records."""

    reason = "refused"


class InvalidCredentials(SignInRefused):
    reason = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The email address or the password is wrong.")


class EmailNotVerified(SignInRefused):
    reason = "email_not_verified"

    def __init__(self) -> None:
        super().__init__(
            "Verify your email address first: follow the link we sent "
            "(POST /api/v1/auth/verify-email/resend/ sends a new one)."
        )


class SecondFactorRequired(SignInRefused):
    reason = "second_factor_required"

    def __init__(self) -> None:
        super().__init__(
            "Two-factor authentication is on: send a code from your authenticator app "
            "(otp_code) or a recovery code (recovery_code)."
        )


class InvalidSecondFactor(SignInRefused):
    reason = "invalid_second_factor"

    def __init__(self) -> None:
        super().__init__("The two-factor code is wrong, expired or already used.")


def record_failed_sign_in(
    *, reason: str, context: AuditContext | None, user: User | None = None
) -> None:
    """One audit row for a refused sign-in: about the account when it exists (the person who
    tried is not known to be its owner, so no acting user), with the client's address."""
    record_audit_event(
        actor=None,
        action=AuditLog.Action.LOGIN,
        resource_type="user",
        resource_id=user.pk if user is not None else None,
        metadata={"outcome": "failed", "reason": reason},
        context=context,
    )


def _account(email: str) -> User | None:
    try:
        return User.objects.get_by_natural_key(email)
    except User.DoesNotExist:
        return None


def _password_matches(user: User | None, password: str) -> bool:
    """Like Django's ModelBackend: an unknown address costs a hash too, so the answer's timing
    does not tell whether an account exists."""
    if user is None:
        make_password(password)
        return False
    return user.check_password(password) and bool(user.is_active)


def sign_in(
    *,
    email: str,
    password: str,
    otp_code: str | None = None,
    recovery_code: str | None = None,
    context: AuditContext | None = None,
) -> User:
    """The user whose email, password and (when two-factor is on) code are right; raises
    LoginThrottled before hashing anything when the account or the address is out of attempts,
    or a SignInRefused. The caller starts the session."""
    context = context or AuditContext()
    keys = login_throttle.attempt_keys(email=email, address=context.ip_address)
    try:
        login_throttle.reserve_attempt(keys)
    except login_throttle.LoginThrottled:
        record_failed_sign_in(reason="throttled", context=context, user=_account(email))
        raise
    user = _account(email)
    try:
        if not _password_matches(user, password):
            raise InvalidCredentials()
        if not user.is_verified:
            login_throttle.give_back(keys)
            raise EmailNotVerified()
        if user.mfa_enabled:
            if not otp_code and not recovery_code:
                login_throttle.give_back(keys)
                raise SecondFactorRequired()
            if not second_factor_matches(user=user, otp_code=otp_code, recovery_code=recovery_code):
                raise InvalidSecondFactor()
    except SignInRefused as refusal:
        record_failed_sign_in(reason=refusal.reason, context=context, user=user)
        raise
    login_throttle.succeeded(keys)
    return user


def confirm_identity(
    *,
    user: User,
    password: str,
    otp_code: str | None = None,
    recovery_code: str | None = None,
    context: AuditContext | None = None,
) -> None:
    """A signed-in user proves it is them again before a sensitive change (turning two-factor
    off, changing the password): the same throttled check as signing in, for their own
    account."""
    sign_in(
        email=user.email,
        password=password,
        otp_code=otp_code,
        recovery_code=recovery_code,
        context=context,
    )
