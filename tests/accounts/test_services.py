import io

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from accounts.models import ApiKey, User
from accounts.services import (
    create_api_key,
    create_operator,
    delete_api_key,
    register_user,
    update_profile,
)
from apextrade.settings import base as base_settings
from compliance.audit import AuditContext
from compliance.models import AuditLog

pytestmark = pytest.mark.django_db


@override_settings(PASSWORD_HASHERS=base_settings.PASSWORD_HASHERS)
def test_register_user_stores_an_argon2_hash_in_password_hash_column():
    user = register_user(email="Ada@Example.COM", password="a long passphrase 42")

    with connection.cursor() as cursor:
        cursor.execute("SELECT password_hash FROM users WHERE id = %s", [user.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("argon2$")
    assert check_password("a long passphrase 42", stored)
    assert user.email == "ada@example.com"


def test_register_user_writes_a_register_audit_row_with_request_context():
    context = AuditContext(ip_address="203.0.113.9", user_agent="pytest", channel="api")
    user = register_user(email="bob@example.com", password="pw-0123456789", context=context)

    row = AuditLog.objects.get(resource_id=user.pk)
    assert row.action == "register"
    assert row.user == user
    assert row.ip_address == "203.0.113.9"
    assert row.new_values == {"email": "bob@example.com", "first_name": None, "last_name": None}
    assert "password" not in str(row.new_values)


def test_register_user_rejects_a_bad_email_as_a_field_error_and_writes_nothing():
    with pytest.raises(ValidationError) as excinfo:
        register_user(email="not-an-email", password="pw-0123456789")

    assert "email" in excinfo.value.message_dict
    assert not User.objects.exists()
    assert not AuditLog.objects.exists()


def test_register_user_refuses_a_duplicate_email():
    register_user(email="carol@example.com", password="pw-0123456789")
    with pytest.raises(ValidationError) as excinfo:
        register_user(email="carol@example.com", password="pw-0123456789")
    assert "email" in excinfo.value.message_dict


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Xy7!q", "too short"),
        ("password123", "too common"),
        ("8402719365", "entirely numeric"),
        ("carolbishop!", "too similar"),
    ],
)
def test_register_user_refuses_a_weak_password_and_writes_nothing(password, reason):
    with pytest.raises(ValidationError) as excinfo:
        register_user(
            email="carolbishop@example.com",
            password=password,
            first_name="Carol",
            last_name="Bishop",
        )

    assert list(excinfo.value.message_dict) == ["password"]
    assert reason in " ".join(excinfo.value.message_dict["password"])
    assert not User.objects.exists()
    assert not AuditLog.objects.exists()


def test_register_user_reports_a_weak_password_and_a_bad_email_together():
    with pytest.raises(ValidationError) as excinfo:
        register_user(email="not-an-email", password="123")

    assert {"email", "password"} <= set(excinfo.value.message_dict)


def test_create_operator_refuses_a_weak_password_and_writes_nothing():
    with pytest.raises(ValidationError) as excinfo:
        create_operator(email="ops@example.com", password="qwerty")

    assert "password" in excinfo.value.message_dict
    assert not User.objects.exists()
    assert not AuditLog.objects.exists()


def test_register_user_refuses_an_address_that_differs_only_in_case():
    register_user(email="Carol@example.com", password="pw-0123456789")

    with pytest.raises(ValidationError) as excinfo:
        register_user(email=" carol@EXAMPLE.com", password="pw-0123456789")

    assert list(excinfo.value.message_dict) == ["email"]
    assert list(User.objects.values_list("email", flat=True)) == ["carol@example.com"]
    assert AuditLog.objects.count() == 1


def test_sign_in_ignores_the_case_of_the_address():
    user = register_user(email="Carol@example.com", password="a long passphrase 42")
    # An address is verified before it signs in (tests/accounts/test_registration.py).
    assert authenticate(email="carol@example.com", password="a long passphrase 42") is None
    User.objects.filter(pk=user.pk).update(is_verified=True)

    assert authenticate(email="CAROL@example.com", password="a long passphrase 42") == user
    assert authenticate(username="carol@Example.COM ", password="a long passphrase 42") == user
    assert authenticate(email="CAROL@example.com", password="wrong passphrase 42") is None


def test_create_operator_makes_a_staff_superuser():
    operator = create_operator(email="ops@example.com", password="pw-0123456789")
    assert operator.is_staff and operator.is_superuser
    row = AuditLog.objects.get(resource_id=operator.pk)
    assert row.metadata == {"channel": "operator_setup"}
    assert (row.action, row.resource_type, row.user_id) == ("create", "user", None)
    assert row.new_values == {
        "email": "ops@example.com",
        "first_name": None,
        "last_name": None,
        "is_active": True,
        "is_verified": True,
        "is_staff": True,
        "is_superuser": True,
    }


def test_the_create_operator_command_goes_through_the_service(monkeypatch):
    monkeypatch.setenv("APEXTRADE_OPERATOR_PASSWORD", "a long passphrase 42")
    out = io.StringIO()
    call_command("create_operator", "Ops@Example.com", stdout=out)

    operator = User.objects.get()
    assert (operator.email, operator.is_superuser) == ("ops@example.com", True)
    assert operator.check_password("a long passphrase 42")
    row = AuditLog.objects.get(resource_id=operator.pk)
    assert row.metadata == {"channel": "command:create_operator"}


def test_the_create_operator_command_refuses_a_weak_password_and_makes_nothing(monkeypatch):
    monkeypatch.setenv("APEXTRADE_OPERATOR_PASSWORD", "qwerty")
    with pytest.raises(CommandError, match="password"):
        call_command("create_operator", "ops@example.com")
    assert not User.objects.exists()
    assert not AuditLog.objects.exists()


def test_update_profile_records_only_what_changed():
    user = register_user(email="dan@example.com", password="pw-0123456789")
    updated = update_profile(
        user=user, actor=user, changes={"timezone": "America/New_York", "first_name": None}
    )

    assert updated.timezone == "America/New_York"
    row = AuditLog.objects.get(action="settings_changed")
    assert row.old_values == {"timezone": "Europe/Paris"}
    assert row.new_values == {"timezone": "America/New_York"}


def test_update_profile_rejects_an_unknown_time_zone_as_a_field_error():
    user = register_user(email="erin@example.com", password="pw-0123456789")
    with pytest.raises(ValidationError) as excinfo:
        update_profile(user=user, actor=user, changes={"timezone": "Mars/Olympus_Mons"})
    assert "timezone" in excinfo.value.message_dict
    user.refresh_from_db()
    assert user.timezone == "Europe/Paris"


def test_update_profile_refuses_fields_that_are_not_profile_fields():
    user = register_user(email="fay@example.com", password="pw-0123456789")
    with pytest.raises(ValueError, match="is_staff"):
        update_profile(user=user, actor=user, changes={"is_staff": True})


def test_create_api_key_encrypts_credentials_and_never_audits_them():
    user = register_user(email="gus@example.com", password="pw-0123456789")
    key = create_api_key(
        user=user,
        name="Main",
        exchange="binance",
        api_key="AKIA-PUBLIC-123",
        api_secret="very-secret-value",
        permissions=["read", "trade"],
    )

    stored = ApiKey.objects.get(pk=key.pk)
    assert b"very-secret-value" not in bytes(stored.api_secret_encrypted)
    assert b"AKIA-PUBLIC-123" not in bytes(stored.api_key_encrypted)
    assert stored.passphrase_encrypted is None
    row = AuditLog.objects.get(action="api_key_created")
    assert row.new_values == {
        "name": "Main",
        "exchange": "binance",
        "is_testnet": True,
        "permissions": ["read", "trade"],
    }
    assert "secret" not in str(row.new_values)


def test_create_api_key_rejects_an_unknown_exchange_and_permission():
    user = register_user(email="hal@example.com", password="pw-0123456789")
    with pytest.raises(ValidationError) as excinfo:
        create_api_key(
            user=user,
            name="X",
            exchange="mtgox",
            api_key="k",
            api_secret="s",
            permissions=["read", "launch"],
        )
    assert {"exchange", "permissions"} <= set(excinfo.value.message_dict)
    assert not ApiKey.objects.exists()


def test_delete_api_key_leaves_an_audit_row():
    user = register_user(email="ivy@example.com", password="pw-0123456789")
    key = create_api_key(user=user, name="K", exchange="kraken", api_key="k", api_secret="s")
    delete_api_key(api_key=key, actor=user)

    assert not ApiKey.objects.exists()
    assert AuditLog.objects.get(action="api_key_deleted").old_values["exchange"] == "kraken"
