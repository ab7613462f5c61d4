"""The audit trail cannot be rewritten or shortened, by any path, except as the spec allows."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compliance.audit import AuditContext
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


@pytest.mark.parametrize(
    ("age", "deletable"),
    [
        ("INTERVAL '7 years' - INTERVAL '1 minute'", False),  # a minute inside retention
        ("INTERVAL '7 years' + INTERVAL '1 minute'", True),  # a minute past it
    ],
    ids=["just-inside-seven-years", "just-past-seven-years"],
)
def test_the_seven_year_retention_boundary_decides_whether_a_row_can_be_deleted(age, deletable):
    """Ages are computed by the database from the same NOW() as the trigger's, so the boundary is
    exact: a shorter or longer retention interval in the trigger fails one of the two cases."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_logs (action, resource_type, created_at) "
            f"VALUES ('login', 'user', NOW() - ({age})) RETURNING id"
        )
        [(row_id,)] = cursor.fetchall()
    if deletable:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_logs WHERE id = %s", [row_id])
    else:
        with (
            pytest.raises(IntegrityError, match="seven years"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM audit_logs WHERE id = %s", [row_id])
    assert AuditLog.objects.filter(pk=row_id).exists() is not deletable


# --- Erasing personal values (compliance migration 0005)


def personal_row() -> AuditLog:
    """A row holding personal values, as register_user and the console's delete write them."""
    return make_row(
        old_values={"email": "carol@example.com", "first_name": "Carol", "is_active": True},
        new_values={"email": "carol@example.org"},
        context=AuditContext(ip_address="203.0.113.5", user_agent="Firefox", channel="admin"),
    )


def update_with_sql(row: AuditLog, assignments: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE audit_logs SET {assignments} WHERE id = %s", [row.pk])


def test_personal_values_can_be_erased_with_raw_sql():
    row = personal_row()

    update_with_sql(
        row,
        "user_id = NULL, ip_address = NULL, user_agent = NULL, "
        'old_values = old_values || \'{"email": "[erased]", "first_name": "[erased]"}\', '
        "new_values = NULL",
    )

    row.refresh_from_db()
    assert (row.user_id, row.ip_address, row.user_agent, row.new_values) == (None,) * 4
    assert row.old_values == {"email": "[erased]", "first_name": "[erased]", "is_active": True}
    assert (row.action, row.metadata) == ("login", {"channel": "admin"})


def test_a_personal_key_can_be_dropped_and_the_rest_kept():
    row = personal_row()

    update_with_sql(row, "old_values = old_values - 'first_name'")

    row.refresh_from_db()
    assert row.old_values == {"email": "carol@example.com", "is_active": True}


@pytest.mark.parametrize(
    "assignments",
    [
        "old_values = jsonb_set(old_values, '{email}', '\"mallory@example.com\"')",
        "old_values = jsonb_set(old_values, '{is_active}', 'false')",
        "new_values = new_values || '{\"is_staff\": true}'",
        'new_values = \'{"email": "[erased]", "forged": "[erased]"}\'',
        "old_values = '[\"email\"]'",
        "user_agent = 'curl'",
        "action = 'logout'",
        "resource_type = 'strategy'",
        "resource_id = gen_random_uuid()",
        'metadata = \'{"channel": "api"}\'',
        "metadata = NULL",
        "created_at = created_at - INTERVAL '1 day'",
    ],
)
def test_anything_but_erasure_is_still_refused_with_raw_sql(assignments):
    row = personal_row()

    with pytest.raises(IntegrityError, match="only anonymised"), transaction.atomic():
        update_with_sql(row, assignments)

    stored = AuditLog.objects.get(pk=row.pk)
    assert (stored.old_values, stored.new_values) == (row.old_values, row.new_values)


def test_values_that_were_empty_cannot_be_filled_in():
    row = make_row()  # no old or new values

    with pytest.raises(IntegrityError, match="only anonymised"), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk).update(new_values={})


@pytest.mark.parametrize(
    "change",
    [
        {"old_values": {"email": "[erased]", "first_name": "Caroline", "is_active": True}},
        {"new_values": {"email": "[erased]", "password": "[erased]"}},
        {"user_agent": "Chrome"},
        {"metadata": {"channel": "api"}},
    ],
)
def test_anything_but_erasure_is_still_refused_through_the_orm(change):
    row = personal_row()
    with pytest.raises(IntegrityError, match="only anonymised"), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk).update(**change)


def test_erasing_through_the_orm_is_allowed():
    row = personal_row()

    AuditLog.objects.filter(pk=row.pk).update(
        user_agent=None, new_values={"email": "[erased]"}, old_values=None
    )

    row.refresh_from_db()
    assert (row.user_agent, row.old_values, row.new_values) == (None, None, {"email": "[erased]"})
