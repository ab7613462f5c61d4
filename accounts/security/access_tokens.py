"""Personal access tokens: made, listed and revoked by their owner, shown once, stored as a
SHA-256 digest (accounts.models.AccessToken)."""

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AccessToken, User
from compliance.audit import AuditContext
from compliance.services import audited_create, audited_delete

TOKEN_PREFIX = "apx_"
# The prefix plus this many characters of the secret are kept to tell tokens apart.
SHOWN_CHARACTERS = 8
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
AUDITED_FIELDS = ["name", "prefix", "scopes", "expires_at"]


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_access_token(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: dt.datetime | None = None,
    context: AuditContext | None = None,
) -> tuple[AccessToken, str]:
    """A new token and its secret; the secret exists nowhere else afterwards."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Give a moment in the future, or none."]})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = AccessToken(
            user=user,
            name=name,
            prefix=secret[: len(TOKEN_PREFIX) + SHOWN_CHARACTERS],
            token_hash=token_digest(secret),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        audited_create(instance=token, actor=user, fields=AUDITED_FIELDS, context=context)
    return token, secret


def revoke_access_token(
    *, token: AccessToken, actor: User, context: AuditContext | None = None
) -> None:
    """The token stops working at once (its row is deleted; the audit trail keeps it)."""
    audited_delete(instance=token, actor=actor, fields=AUDITED_FIELDS, context=context)


def token_in_force(secret: str) -> AccessToken | None:
    """The unexpired token of an active user whose secret this is, or None. Notes when it was
    last used (at most once a minute per token)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    token = (
        AccessToken.objects.select_related("user")
        .filter(token_hash=token_digest(secret), user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        AccessToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
