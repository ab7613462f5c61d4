"""The audit trail cannot be rewritten or shortened, by any path, except as the spec allows."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compliance.models import AuditLog
from compliance.services import record_audit_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_row(**overrides) -> AuditLog:
    user = overrides.pop("user", None) or UserFactory()
    return record_audit_event(actor=user, action="login", resource_type="user", **overrides)


@pytest.mark.parametrize(
    "change",
    [
        {"action": "logout"},
        {"new_values": {"forged": True}},
        {"created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
        {"resource_type": "strategy"},
    ],
)
def test_an_audit_row_cannot_be_edited_through_the_orm(change):
    row = make_row()
    with pytest.raises(IntegrityError, match="only anonymised"), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk).update(**change)


def test_an_audit_row_cannot_be_edited_or_deleted_with_raw_sql():
    row = make_row()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_logs SET user_agent = 'x' WHERE id = %s", [row.pk])
    with (
        pytest.raises(IntegrityError, match="seven years"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_logs WHERE id = %s", [row.pk])
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_anonymising_a_row_is_allowed():
    row = make_row()
    AuditLog.objects.filter(pk=row.pk).update(user=None, ip_address=None)
    row.refresh_from_db()
    assert row.user_id is None


def test_erasing_a_user_nulls_their_audit_rows_through_on_delete_set_null():
    user = UserFactory()
    row = make_row(user=user)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM users WHERE id = %s", [user.pk])
    row.refresh_from_db()
    assert row.user_id is None
    assert row.action == "login"


def test_rows_past_seven_years_of_retention_can_be_deleted():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_logs (action, resource_type, created_at) "
            "VALUES ('login', 'user', %s), ('login', 'user', %s) RETURNING id",
            [timezone.now() - dt.timedelta(days=7 * 366), timezone.now()],
        )
        old_id, recent_id = (row[0] for row in cursor.fetchall())
        cursor.execute("DELETE FROM audit_logs WHERE id = %s", [old_id])
    assert not AuditLog.objects.filter(pk=old_id).exists()
    assert AuditLog.objects.filter(pk=recent_id).exists()
