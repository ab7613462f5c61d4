"""Changing a password (signed in, the current one checked like a sign-in) and resetting a
forgotten one by a signed, expiring, single-use token sent by email (Django's
PasswordResetTokenGenerator: its signature covers the password hash and the last sign-in, so a
token stops working once used, and after settings.PASSWORD_RESET_TIMEOUT)."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from accounts.security.account_emails import send_account_email
from accounts.security.sign_in import confirm_identity
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import audited_update

INVALID_RESET = "The reset link is not valid or has expired; ask for a new one."


def set_password(
    *,
    user: User,
    new_password: str | None,
    actor: User | None,
    how: str,
    context: AuditContext | None = None,
) -> User:
    """Set the user's password (through the password validators), or with None take password
    sign-in away, with its audit row: settings_changed, the password REDACTED, `how` in the
    metadata ("changed", "reset", "set_by_operator"). The caller has checked who may."""
    if new_password is not None:
        try:
            validate_password(new_password, user)
        except ValidationError as error:
            raise ValidationError({"new_password": list(error.messages)}) from error
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        probe = User(password=locked.password)
        if new_password is None:
            probe.set_unusable_password()
        else:
            probe.set_password(new_password)
        audited_update(
            instance=locked,
            changes={"password": probe.password},
            actor=actor,
            action=AuditLog.Action.SETTINGS_CHANGED,
            metadata={"password_set": how},
            context=context,
        )
    user.password = locked.password
    return locked


def _set_password(*, user: User, new_password: str, how: str, context: AuditContext | None) -> User:
    return set_password(user=user, new_password=new_password, actor=user, how=how, context=context)


def change_password(
    *,
    user: User,
    current_password: str,
    new_password: str,
    otp_code: str | None = None,
    context: AuditContext | None = None,
) -> User:
    """The signed-in user's new password. The current one (and a code when two-factor is on) is
    checked like a sign-in: throttled, audited when wrong."""
    confirm_identity(user=user, password=current_password, otp_code=otp_code, context=context)
    return _set_password(user=user, new_password=new_password, how="changed", context=context)


def reset_link(user: User) -> str:
    query = urlencode(
        {
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        }
    )
    return f"{settings.PUBLIC_BASE_URL}{reverse('auth-password-reset-confirm')}?{query}"


def request_password_reset(*, email: str) -> None:
    """Email a reset link when an active account has this address; says nothing either way."""
    user = User.objects.filter(email=User.objects.normalize_email(email), is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    send_account_email(
        to=user.email,
        subject="Reset your ApexTrade password",
        body=(
            "Someone (we hope you) asked to reset your ApexTrade password. Open this link and "
            f"send your new password (it works for {minutes} minutes, once):\n\n"
            f"{reset_link(user)}\n\nIf it was not you, ignore this email."
        ),
    )


def reset_password(
    *, uid: str, token: str, new_password: str, context: AuditContext | None = None
) -> User:
    """Set a new password with a reset token; a wrong, used or expired token is refused before
    anything is hashed."""
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uid)), is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist, ValidationError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError({"token": [INVALID_RESET]}, code="invalid")
    return _set_password(user=user, new_password=new_password, how="reset", context=context)
