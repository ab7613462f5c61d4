import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.services import register_user
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import (
    ERASED,
    anonymise_audit_rows,
    audit_snapshot,
    changed_values,
    record_audit_event,
)
from tests.factories import OperatorFactory, UserFactory

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


# --- Erasing a person from the audit trail

PERSONAL_FIELDS = ["email", "first_name", "last_name"]


def test_anonymise_audit_rows_erases_a_registered_users_email_and_names():
    context = AuditContext(ip_address="203.0.113.9", user_agent="Firefox", channel="api")
    user = register_user(
        email="carol@example.com",
        password="a long passphrase 42",
        first_name="Carol",
        context=context,
    )

    touched = anonymise_audit_rows(user_id=user.pk, fields=PERSONAL_FIELDS)

    row = AuditLog.objects.get(action="register")
    assert touched == 1
    assert row.new_values == {"email": ERASED, "first_name": ERASED, "last_name": None}
    assert (row.user_id, row.ip_address, row.user_agent) == (None, None, None)
    # Which account it was is gone too; what happened stays.
    assert (row.resource_type, row.resource_id) == ("user", None)
    assert row.metadata == {"channel": "api"}


def test_anonymise_audit_rows_keeps_other_peoples_data_and_what_happened():
    user = UserFactory(email="carol@example.com")
    operator = OperatorFactory()
    bystander = UserFactory(email="dave@example.com")
    operator_context = AuditContext(ip_address="192.0.2.10", user_agent="ops", channel="admin")
    user_context = AuditContext(ip_address="203.0.113.9", user_agent="Firefox")
    about_them = record_audit_event(
        actor=operator,
        action="update",
        resource_type="user",
        resource_id=user.pk,
        old_values={"email": "carol@example.com", "is_active": True},
        new_values={"email": "carol@example.org", "is_active": False},
        context=operator_context,
    )
    by_them = record_audit_event(
        actor=user,
        action="create",
        resource_type="strategy",
        resource_id=uuid.uuid4(),
        new_values={"name": "SMA cross"},
        context=user_context,
    )
    operator_on_bystander = record_audit_event(
        actor=operator,
        action="update",
        resource_type="user",
        resource_id=bystander.pk,
        old_values={"email": "dave@example.com"},
        context=operator_context,
    )

    touched = anonymise_audit_rows(user_id=user.pk, fields=PERSONAL_FIELDS)

    assert touched == 2
    for row in (about_them, by_them, operator_on_bystander):
        row.refresh_from_db()
    assert (about_them.user, about_them.ip_address) == (operator, "192.0.2.10")
    assert about_them.old_values == {"email": ERASED, "is_active": True}
    assert about_them.new_values == {"email": ERASED, "is_active": False}
    assert (by_them.user_id, by_them.ip_address, by_them.user_agent) == (None, None, None)
    assert by_them.new_values == {"name": "SMA cross"}
    assert operator_on_bystander.old_values == {"email": "dave@example.com"}
    assert operator_on_bystander.user == operator


def test_anonymising_twice_changes_nothing_more():
    user = register_user(email="erin@example.com", password="a long passphrase 42")
    anonymise_audit_rows(user_id=user.pk, fields=PERSONAL_FIELDS)
    before = list(AuditLog.objects.values())

    anonymise_audit_rows(user_id=user.pk, fields=PERSONAL_FIELDS)

    assert list(AuditLog.objects.values()) == before
