import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.services import register_user
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import audit_snapshot, changed_values, record_audit_event

pytestmark = pytest.mark.django_db


def test_record_audit_event_stores_actor_context_and_channel():
    user = register_user(email="a@example.com", password="pw-0123456789")
    resource = uuid.uuid4()
    row = record_audit_event(
        actor=user,
        action="update",
        resource_type="strategy",
        resource_id=resource,
        old_values={"name": "old"},
        new_values={"name": "new"},
        metadata={"reason": "test"},
        context=AuditContext(ip_address="2001:db8::1", user_agent="ua", channel="admin"),
    )
    row.refresh_from_db()
    assert (row.user, row.action, row.resource_id) == (user, "update", resource)
    assert row.ip_address == "2001:db8::1"
    assert row.metadata == {"channel": "admin", "reason": "test"}


def test_a_system_event_has_no_user():
    row = record_audit_event(actor=None, action="delete", resource_type="backtest")
    assert row.user_id is None
    assert row.metadata == {"channel": "service"}


def test_audit_rows_roll_back_with_the_action_that_failed():
    with pytest.raises(RuntimeError), transaction.atomic():
        record_audit_event(actor=None, action="create", resource_type="strategy")
        raise RuntimeError("the business action failed after auditing")
    assert not AuditLog.objects.exists()


def test_audit_snapshot_drops_secrets_and_makes_values_json_safe():
    user = register_user(email="b@example.com", password="pw-0123456789")
    user.mfa_secret = "TOTPSECRET"
    snapshot = audit_snapshot(user)

    assert "password" not in snapshot
    assert "mfa_secret" not in snapshot
    assert snapshot["id"] == str(user.pk)
    assert isinstance(snapshot["created_at"], str)


def test_changed_values_keeps_only_differences():
    before = {"a": Decimal("1"), "b": 2, "c": datetime.date(2026, 1, 1)}
    after = {"a": Decimal("1"), "b": 3, "c": datetime.date(2026, 1, 1)}
    assert changed_values(before, after) == ({"b": 2}, {"b": 3})
