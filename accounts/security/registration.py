"""Registration and email verification: a new account is unverified until its owner follows the
signed, expiring link we email (django.core.signing; the link names the account and the address,
so it stops working if the address changes)."""

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.security.account_emails import send_account_email
from accounts.services import register_user
from compliance.audit import AuditContext
from compliance.services import audited_update

VERIFICATION_SALT = "accounts.email-verification"


def register_account(
    *,
    email: str,
    password: str,
    first_name: str | None = None,
    last_name: str | None = None,
    context: AuditContext | None = None,
) -> User:
    """A new, unverified client account (password through the validators; see
    accounts.services.register_user) and the email with its verification link."""
    user = register_user(
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        context=context,
    )
    send_verification_email(user=user)
    return user


def verification_token(user: User) -> str:
    return signing.dumps({"user": str(user.pk), "email": user.email}, salt=VERIFICATION_SALT)


def verification_link(user: User) -> str:
    query = urlencode({"token": verification_token(user)})
    return f"{settings.PUBLIC_BASE_URL}{reverse('auth-verify-email')}?{query}"


def send_verification_email(*, user: User) -> None:
    hours = settings.EMAIL_VERIFICATION_MAX_AGE // 3600
    send_account_email(
        to=user.email,
        subject="Verify your ApexTrade email address",
        body=(
            f"Welcome to ApexTrade.\n\nOpen this link to verify your email address (it works "
            f"for {hours} hours):\n\n{verification_link(user)}\n\n"
            "If you did not register, ignore this email."
        ),
    )


def resend_verification(*, email: str) -> None:
    """A new link for an unverified account; says nothing about whether the address has one."""
    user = User.objects.filter(
        email=User.objects.normalize_email(email), is_active=True, is_verified=False
    ).first()
    if user is not None:
        send_verification_email(user=user)


def verify_email(*, token: str, context: AuditContext | None = None) -> User:
    """Mark the account the link names as verified; a link that is forged, expired, or for an
    address the account no longer has is a ValidationError. Following it twice is harmless."""
    try:
        claim = signing.loads(
            token, salt=VERIFICATION_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE
        )
    except signing.SignatureExpired as exc:
        raise ValidationError(
            {"token": ["The link has expired; ask for a new one."]}, code="expired"
        ) from exc
    except signing.BadSignature as exc:
        raise ValidationError({"token": ["The link is not valid."]}, code="invalid") from exc
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=claim["user"]).first()
        if user is None or user.email != claim["email"]:
            raise ValidationError({"token": ["The link is not valid."]}, code="invalid")
        if not user.is_verified:
            audited_update(
                instance=user,
                changes={"is_verified": True, "verified_at": timezone.now()},
                actor=user,
                context=context,
            )
    return user
