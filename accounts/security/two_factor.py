"""TOTP two-factor authentication (RFC 6238, pyotp): enrolment with a provisioning URI, confirmed
by a first code; then every password sign-in needs a current code or one of ten single-use
recovery codes.

The TOTP secret is kept encrypted in users.mfa_secret (accounts.credential_encryption), never in
the clear and never audited. A code signs in once: the time step it belongs to is marked in Redis
(`totp_used:{user_id}:{step}`) with SET NX, so a code seen over a shoulder or replayed from a log
is refused. Recovery codes have 80 random bits and are stored as SHA-256 digests; a code is spent
by a conditional UPDATE, so two requests cannot both use it.
"""

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection

from accounts.credential_encryption import decrypt_text_secret, encrypt_text_secret
from accounts.models import MfaRecoveryCode, User
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import audited_update, record_audit_event
from core.cache_keys import totp_used_key
from core.errors import REDIS_UNREACHABLE, ServiceUnavailable, StateConflict

RECOVERY_CODE_COUNT = 10
# Codes of the step before and after the current one are accepted too (clock drift).
VALID_WINDOW = 1
TOTP_STEP_SECONDS = 30


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS)


def _change(locked: User, changes: dict, context: AuditContext | None, **metadata: str) -> None:
    """Save the user's two-factor columns with their audit row (settings_changed; the secret
    shows only as set or cleared, compliance.services.REDACTED)."""
    audited_update(
        instance=locked,
        changes=changes,
        actor=locked,
        action=AuditLog.Action.SETTINGS_CHANGED,
        metadata=metadata or None,
        context=context,
    )


def start_enrolment(*, user: User, context: AuditContext | None = None) -> Enrolment:
    """A new TOTP secret for the user (stored encrypted, not yet in force) and the
    `otpauth://` URI an authenticator app reads (as a QR code or typed in). Starting again
    before confirming replaces the secret."""
    secret = pyotp.random_base32()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.mfa_enabled:
            raise StateConflict("Two-factor authentication is already on; turn it off first.")
        _change(locked, {"mfa_secret": encrypt_text_secret(secret)}, context, mfa="enrolment")
    uri = _totp(secret).provisioning_uri(name=user.email, issuer_name=settings.MFA_ISSUER)
    return Enrolment(secret=secret, provisioning_uri=uri)


def confirm_enrolment(*, user: User, code: str, context: AuditContext | None = None) -> list[str]:
    """Turn two-factor on once a code from the new secret proves the app has it; returns the ten
    recovery codes, shown this once."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.mfa_enabled:
            raise StateConflict("Two-factor authentication is already on.")
        if not locked.mfa_secret:
            raise StateConflict("Start the enrolment first (POST /api/v1/auth/mfa/enroll/).")
        if not _totp_code_matches(locked, code):
            raise ValidationError({"code": ["The code is wrong or expired."]})
        codes = _replace_recovery_codes(locked)
        _change(locked, {"mfa_enabled": True}, context, mfa_recovery_codes="renewed")
    user.refresh_from_db(fields=["mfa_enabled", "mfa_secret"])
    return codes


def turn_off(*, user: User, context: AuditContext | None = None) -> None:
    """Two-factor off: the secret and every recovery code are deleted. The caller has checked
    the password and a code (accounts.security.sign_in.confirm_identity)."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.mfa_enabled and not locked.mfa_secret:
            raise StateConflict("Two-factor authentication is not on.")
        MfaRecoveryCode.objects.filter(user=locked).delete()
        _change(locked, {"mfa_enabled": False, "mfa_secret": None}, context)
    user.refresh_from_db(fields=["mfa_enabled", "mfa_secret"])


def renew_recovery_codes(*, user: User, context: AuditContext | None = None) -> list[str]:
    """Ten new recovery codes replace the old ones (used or not); the caller has checked a
    code."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.mfa_enabled:
            raise StateConflict("Two-factor authentication is not on.")
        codes = _replace_recovery_codes(locked)
        # Not a change of the user's columns: an event (the codes' digests are never audited).
        record_audit_event(
            actor=locked,
            action=AuditLog.Action.SETTINGS_CHANGED,
            resource_type="user",
            resource_id=locked.pk,
            metadata={"mfa_recovery_codes": "renewed"},
            context=context,
        )
    return codes


def recovery_codes_left(user: User) -> int:
    return MfaRecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def second_factor_matches(
    *, user: User, otp_code: str | None = None, recovery_code: str | None = None
) -> bool:
    """Whether the current TOTP code or an unused recovery code (which is then spent) is
    right. A code that has signed in once does not again."""
    if otp_code:
        return _totp_code_matches(user, otp_code)
    if recovery_code:
        return _spend_recovery_code(user, recovery_code)
    return False


def _totp_code_matches(user: User, code: str) -> bool:
    code = (code or "").strip().replace(" ", "")
    if not user.mfa_secret or not code.isdigit():
        return False
    totp = _totp(decrypt_text_secret(user.mfa_secret))
    now_step = int(time.time()) // TOTP_STEP_SECONDS
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return _first_use_of_step(user, step)
    return False


def _first_use_of_step(user: User, step: int) -> bool:
    key = cache.make_key(totp_used_key(user.pk, step))
    ttl = TOTP_STEP_SECONDS * (2 * VALID_WINDOW + 2)
    try:
        return bool(get_redis_connection("default").set(key, 1, nx=True, ex=ttl))
    except REDIS_UNREACHABLE as exc:
        raise ServiceUnavailable("Redis") from exc


def _normalise_recovery_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _recovery_code_digest(code: str) -> str:
    return hashlib.sha256(_normalise_recovery_code(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _replace_recovery_codes(user: User) -> list[str]:
    MfaRecoveryCode.objects.filter(user=user).delete()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    MfaRecoveryCode.objects.bulk_create(
        MfaRecoveryCode(user=user, code_hash=_recovery_code_digest(code)) for code in codes
    )
    return codes


def _spend_recovery_code(user: User, code: str) -> bool:
    spent = MfaRecoveryCode.objects.filter(
        user=user, code_hash=_recovery_code_digest(code), used_at__isnull=True
    ).update(used_at=timezone.now())
    return spent == 1
