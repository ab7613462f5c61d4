"""Broker keys in use (services): each call the exchange adapter makes with a key moves its
`last_used_at` and `request_count`; a key the exchange refuses is marked invalid (`is_valid`
false, `validation_error`), with an audit row. Called by exchanges.connections' clients."""

from uuid import UUID

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import ApiKey
from compliance.audit import AuditContext
from compliance.services import audited_update


def record_api_key_use(*, api_key_id: UUID, requests: int = 1) -> None:
    """One UPDATE, no lock held beyond it: concurrent clients of one key all count."""
    ApiKey.objects.filter(pk=api_key_id).update(
        last_used_at=timezone.now(),
        request_count=Coalesce(F("request_count"), Value(0)) + requests,
    )


def mark_api_key_refused(*, api_key_id: UUID, reason: str) -> bool:
    """The exchange refused the key: mark it invalid with `reason` (already free of secrets) and
    audit it. Returns False when it was already marked invalid for the same reason."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
        if key is None or (key.is_valid is False and key.validation_error == reason):
            return False
        audited_update(
            instance=key,
            changes={
                "is_valid": False,
                "validation_error": reason,
                "last_validated_at": timezone.now(),
            },
            actor=None,
            metadata={"user_id": str(key.user_id), "exchange": key.exchange, "reason": reason},
            context=AuditContext.system("exchanges"),
        )
    return True
