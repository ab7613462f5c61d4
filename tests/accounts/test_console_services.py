"""The console writes accounts' rows through the services the API calls: the same rules and the
same audit row (action, resource type, values), with the operator as actor and the request's
address, agent and channel "admin"; a console edit a service refuses is shown back with the
reason and writes nothing."""

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccessToken, Alert, ApiKey, User
from compliance.models import AuditLog
from tests.console_forms import user_change_form
from tests.factories import (
    AccessTokenFactory,
    AlertFactory,
    ApiKeyFactory,
    OperatorFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CONSOLE_ADDRESS = "192.0.2.10"


def admin_url(model, page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


@pytest.fixture
def operator() -> User:
    return OperatorFactory()


@pytest.fixture
def console(operator: User) -> Client:
    client = Client(REMOTE_ADDR=CONSOLE_ADDRESS, HTTP_USER_AGENT="console-browser")
    client.force_login(operator)
    return client


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def row_about(resource_id, **filters) -> AuditLog:
    """The one audit row about `resource_id` (sign-ins excluded)."""
    return AuditLog.objects.exclude(action="login").get(resource_id=resource_id, **filters)


def shape(row: AuditLog) -> tuple:
    """What a console row must share with the API's: everything but who, where and the channel."""
    return (row.action, row.resource_type, row.old_values, row.new_values)


def assert_console_row(row: AuditLog, operator: User) -> None:
    assert row.user_id == operator.pk
    assert (row.ip_address, row.user_agent) == (CONSOLE_ADDRESS, "console-browser")
    assert row.metadata["channel"] == "admin"


# --- The same row as the API


def test_a_profile_edit_in_the_console_writes_the_apis_settings_changed_row(console, operator):
    by_api, by_console = UserFactory(first_name="Ada"), UserFactory(first_name="Ada")
    response = signed_in(by_api).patch(
        "/api/v1/me",
        {"first_name": "Grace", "timezone": "America/New_York"},
        content_type="application/json",
    )
    assert response.status_code == 200
    page = console.post(
        admin_url(User, "change", by_console.pk),
        user_change_form(by_console, first_name="Grace", timezone="America/New_York"),
    )
    assert page.status_code == 302

    api_row, console_row = row_about(by_api.pk), row_about(by_console.pk)
    assert shape(console_row) == shape(api_row)
    assert shape(console_row) == (
        "settings_changed",
        "user",
        {"first_name": "Ada", "timezone": "Europe/Paris"},
        {"first_name": "Grace", "timezone": "America/New_York"},
    )
    assert_console_row(console_row, operator)
    by_console.refresh_from_db()
    assert (by_console.first_name, by_console.timezone) == ("Grace", "America/New_York")


ALERT = {"symbol": "ETH/USDT", "alert_type": "price", "condition": "above", "threshold": "2500"}


def alert_add_form(user: User, **changes: object) -> dict[str, object]:
    """The console's add-alert form as a browser posts it."""
    return {
        "user": str(user.pk),
        **ALERT,
        "indicator": "",
        "indicator_params": "null",
        "notify_email": "true",
        "notify_push": "true",
        "message": "",
        "is_active": "true",
        "is_recurring": "false",
        "expires_at_0": "",
        "expires_at_1": "",
        **changes,
    }


def alert_change_form(alert: Alert, **changes: object) -> dict[str, object]:
    form = alert_add_form(alert.user, symbol=alert.symbol, threshold=str(alert.threshold))
    del form["user"]  # an alert keeps its owner
    return {**form, **changes}


def test_an_alert_made_changed_and_deleted_in_the_console_writes_the_apis_rows(console, operator):
    owner = UserFactory()
    api = signed_in(owner)
    made = api.post("/api/v1/alerts", ALERT, content_type="application/json")
    assert made.status_code == 201, made.content
    api_alert = made.json()["id"]
    assert (
        api.patch(
            f"/api/v1/alerts/{api_alert}", {"threshold": "2600"}, content_type="application/json"
        ).status_code
        == 200
    )
    assert api.delete(f"/api/v1/alerts/{api_alert}").status_code == 204

    assert console.post(admin_url(Alert, "add"), alert_add_form(owner)).status_code == 302
    alert = Alert.objects.get()
    changed = console.post(
        admin_url(Alert, "change", alert.pk), alert_change_form(alert, threshold="2600")
    )
    assert changed.status_code == 302
    deleted = console.post(admin_url(Alert, "delete", alert.pk), {"post": "yes"})
    assert deleted.status_code == 302
    assert not Alert.objects.exists()

    api_rows = list(AuditLog.objects.filter(resource_id=api_alert).order_by("chain_seq"))
    console_rows = list(AuditLog.objects.filter(resource_id=alert.pk).order_by("chain_seq"))
    assert [shape(row) for row in console_rows] == [shape(row) for row in api_rows]
    assert [row.action for row in console_rows] == ["create", "update", "delete"]
    assert console_rows[1].new_values == {"threshold": "2600.00000000"}  # Decimal as text
    for row in console_rows:
        assert_console_row(row, operator)


def test_revoking_an_access_token_in_the_console_writes_the_apis_row(console, operator):
    owner = UserFactory()
    by_api = AccessTokenFactory(user=owner, name="script", prefix="apx_same1234")
    response = signed_in(owner).delete(f"/api/v1/auth/tokens/{by_api.pk}/")
    assert response.status_code == 204
    by_console = AccessTokenFactory(user=owner, name="script", prefix="apx_same1234")

    assert (
        console.post(admin_url(AccessToken, "delete", by_console.pk), {"post": "yes"}).status_code
        == 302
    )

    api_row, console_row = row_about(by_api.pk), row_about(by_console.pk)
    assert shape(console_row) == shape(api_row)
    assert console_row.action == "delete" and console_row.resource_type == "access_token"
    assert set(console_row.old_values) == {"name", "prefix", "scopes", "expires_at"}
    assert_console_row(console_row, operator)
    assert not AccessToken.objects.filter(pk=by_console.pk).exists()


def test_deleting_a_broker_key_in_the_console_writes_the_apis_row(console, operator):
    owner = UserFactory()
    by_api = ApiKeyFactory(user=owner, name="main")
    assert signed_in(owner).delete(f"/api/v1/api_keys/{by_api.pk}").status_code == 204
    by_console = ApiKeyFactory(user=owner, name="main")

    response = console.post(
        admin_url(ApiKey, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(by_console.pk)], "post": "yes"},
    )

    assert response.status_code == 302
    api_row, console_row = row_about(by_api.pk), row_about(by_console.pk)
    assert shape(console_row) == shape(api_row)
    assert shape(console_row) == (
        "api_key_deleted",
        "api_key",
        {"name": "main", "exchange": "binance", "is_testnet": True, "permissions": ["read"]},
        None,
    )
    assert_console_row(console_row, operator)


def test_renaming_a_broker_key_in_the_console_is_an_audited_update(console, operator):
    key = ApiKeyFactory(name="old", is_valid=False, validation_error="refused by the exchange")
    response = console.post(
        admin_url(ApiKey, "change", key.pk), {"name": "new", "is_valid": "true"}
    )

    assert response.status_code == 302
    row = row_about(key.pk)
    assert shape(row) == (
        "update",
        "api_key",
        {"name": "old", "is_valid": False, "validation_error": "refused by the exchange"},
        {"name": "new", "is_valid": True, "validation_error": None},
    )
    assert_console_row(row, operator)


def test_an_account_added_in_the_console_goes_through_the_accounts_service(console, operator):
    response = console.post(
        admin_url(User, "add"),
        {
            "email": "New.Client@Example.com",
            "usable_password": "true",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.client@example.com")
    assert user.check_password("a long passphrase 42")
    row = row_about(user.pk)
    assert shape(row) == (
        "create",
        "user",
        None,
        {
            "email": "new.client@example.com",
            "first_name": None,
            "last_name": None,
            "is_active": True,
            "is_verified": False,
            "is_staff": False,
            "is_superuser": False,
        },
    )
    assert_console_row(row, operator)


def test_an_operators_account_change_is_an_update_row(console, operator):
    user = UserFactory(is_verified=False)
    response = console.post(
        admin_url(User, "change", user.pk),
        user_change_form(user, is_verified="true", email="Moved@Example.com"),
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.email, user.is_verified, user.verified_at is not None) == (
        "moved@example.com",
        True,
        True,
    )
    row = row_about(user.pk)
    assert row.action == "update" and row.resource_type == "user"
    assert row.new_values == {
        "email": "moved@example.com",
        "is_verified": True,
        "verified_at": user.verified_at.isoformat(),
    }
    assert_console_row(row, operator)


# --- Refused by the service: shown back, nothing written


def test_an_alert_the_service_refuses_is_shown_back_and_nothing_is_written(console):
    alert = AlertFactory(threshold=Decimal("10"))
    response = console.post(
        admin_url(Alert, "change", alert.pk), alert_change_form(alert, threshold="-5")
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["threshold"] == ["A price threshold must be above zero."]
    alert.refresh_from_db()
    assert alert.threshold == Decimal("10")
    assert not AuditLog.objects.filter(resource_id=alert.pk).exists()


def test_an_indicator_alert_without_an_indicator_is_refused_on_add(console):
    owner = UserFactory()
    response = console.post(admin_url(Alert, "add"), alert_add_form(owner, alert_type="indicator"))

    assert response.status_code == 200
    assert "indicator" in response.context["adminform"].form.errors
    assert not Alert.objects.exists()
    assert not AuditLog.objects.filter(resource_type="alert").exists()


def test_unknown_notification_preferences_are_refused_as_in_the_api(console):
    user = UserFactory()
    response = console.post(
        admin_url(User, "change", user.pk),
        user_change_form(
            user,
            first_name="Changed",
            notification_preferences=json.dumps({"sms_everything": True}),
        ),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "unknown preference" in errors["notification_preferences"][0]
    user.refresh_from_db()
    # The whole edit is refused: the valid name change did not land either.
    assert user.first_name == "Ada"
    assert not AuditLog.objects.filter(resource_id=user.pk).exists()


def test_an_operator_cannot_deactivate_their_own_account(console, operator):
    response = console.post(
        admin_url(User, "change", operator.pk), user_change_form(operator, is_active="false")
    )

    assert response.status_code == 200
    assert "your own account" in response.context["adminform"].form.errors["is_active"][0]
    operator.refresh_from_db()
    assert operator.is_active
    assert not AuditLog.objects.filter(resource_id=operator.pk).exclude(action="login").exists()


def test_a_bulk_delete_the_service_refuses_deletes_nothing_and_says_why(console, operator):
    other = UserFactory()
    response = console.post(
        admin_url(User, "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(other.pk), str(operator.pk)],
            "post": "yes",
        },
        follow=True,
    )

    messages = [str(message) for message in response.context["messages"]]
    assert any("cannot delete your own account" in message for message in messages)
    # The other account, deleted before the refusal, is back: one transaction.
    assert User.objects.filter(pk__in=[other.pk, operator.pk]).count() == 2
    assert not AuditLog.objects.filter(action="delete").exists()
