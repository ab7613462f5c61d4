"""An audit row names a resource type and action that an app declared (`AuditEvents` in its
`<app>/compliance.py`); anything else is refused before anything is written. Values go through
the one encoder and secrets are redacted, whoever builds the row."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts.models import Alert, User
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.registry import AuditEvents, UndeclaredAuditEvent, registry
from compliance.services import (
    REDACTED,
    audited_create,
    audited_delete,
    audited_update,
    record_audit_event,
)
from core.admin_console import AuditedModelAdmin
from tests.factories import AlertFactory, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_an_undeclared_resource_type_is_refused_and_nothing_is_written():
    with pytest.raises(UndeclaredAuditEvent, match="'widget' is not declared by any app"):
        record_audit_event(actor=None, action="create", resource_type="widget")
    assert not AuditLog.objects.exists()


def test_an_undeclared_action_on_a_declared_type_is_refused():
    with pytest.raises(UndeclaredAuditEvent, match=r"'order_filled' is not declared for .*'alert'"):
        record_audit_event(actor=None, action="order_filled", resource_type="alert")
    assert not AuditLog.objects.exists()


def test_the_helpers_refuse_before_writing_the_model():
    user = UserFactory()
    alert = Alert(
        user=user, symbol="BTC/USDT", alert_type="price", condition="above", threshold=Decimal(1)
    )
    with pytest.raises(UndeclaredAuditEvent):
        audited_create(instance=alert, actor=user, resource_type="widget")
    assert not Alert.objects.exists()

    stored = AlertFactory(user=user)
    with pytest.raises(UndeclaredAuditEvent):
        audited_update(instance=stored, changes={"symbol": "ETH/USDT"}, actor=user, action="x")
    with pytest.raises(UndeclaredAuditEvent):
        audited_delete(instance=stored, actor=user, action="api_key_deleted")
    stored.refresh_from_db()
    assert stored.symbol == "BTC/USDT"
    assert not AuditLog.objects.exists()


@pytest.fixture
def widget_events():
    registry.register(
        "test_widgets", models=[], audit_events=[AuditEvents("widget", ("create", "update"))]
    )
    yield
    registry.unregister("test_widgets")


def test_a_declared_event_is_written(widget_events):
    row = record_audit_event(actor=None, action="create", resource_type="widget")
    assert (row.resource_type, row.action) == ("widget", "create")
    with pytest.raises(UndeclaredAuditEvent):
        record_audit_event(actor=None, action="delete", resource_type="widget")


def test_every_audit_event_the_apps_declare_names_known_actions():
    known = set(AuditLog.Action.values)
    for events in registry.audit_events():
        assert set(events.actions) <= known, events


# --- Values: one encoder, secrets redacted


def test_event_values_and_metadata_are_encoded_and_secrets_redacted():
    resource = uuid.uuid4()
    row = record_audit_event(
        actor=None,
        action="update",
        resource_type="user",
        new_values={
            "amount": Decimal("0.10"),
            "day": dt.date(2026, 3, 1),
            "password": "argon2$hash",
            "nested": {"token_hash": "abc", "mfa_secret": None, "ids": [resource]},
        },
        metadata={"api_secret_encrypted": b"\x01", "at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)},
        context=AuditContext.system("tests"),
    )
    row.refresh_from_db()
    assert row.new_values == {
        "amount": "0.10",
        "day": "2026-03-01",
        "password": REDACTED,
        "nested": {"token_hash": REDACTED, "mfa_secret": None, "ids": [str(resource)]},
    }
    assert row.metadata == {
        "channel": "tests",
        "api_secret_encrypted": REDACTED,
        "at": "2026-03-01T00:00:00+00:00",
    }


def test_a_changed_secret_shows_as_changed_never_its_value():
    user = UserFactory()
    audited_update(instance=user, changes={"mfa_secret": "encrypted-totp"}, actor=user)
    row = AuditLog.objects.get(resource_id=user.pk)
    assert (row.old_values, row.new_values) == ({"mfa_secret": None}, {"mfa_secret": REDACTED})


def test_decimals_are_written_at_their_columns_scale_whoever_passes_them():
    user = UserFactory()
    alert = audited_create(
        instance=Alert(
            user=user,
            symbol="BTC/USDT",
            alert_type="price",
            condition="above",
            threshold=Decimal(1),
        ),
        actor=user,
    )
    audited_update(instance=alert, changes={"threshold": Decimal("2.5")}, actor=user)
    rows = list(AuditLog.objects.order_by("chain_seq"))
    assert rows[0].new_values["threshold"] == "1.00000000"
    assert (rows[1].old_values, rows[1].new_values) == (
        {"threshold": "1.00000000"},
        {"threshold": "2.50000000"},
    )


# --- The console offers only declared writes


def superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = OperatorFactory()
    return request


def test_every_console_page_offers_only_writes_its_app_declared():
    request = superuser_request()
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, AuditedModelAdmin):
            continue
        resource = model_admin.audit_type()
        offered = {
            "create": model_admin.has_add_permission(request),
            "update": model_admin.has_change_permission(request),
            model_admin.audit_delete_action: model_admin.has_delete_permission(request),
        }
        for action, allowed in offered.items():
            if allowed:
                assert registry.is_declared(resource, action), (model._meta.label, action)


def test_a_console_page_over_an_undeclared_type_offers_no_write():
    class UndeclaredAdmin(AuditedModelAdmin):
        audit_resource_type = "nobody_declared_this"

    page = UndeclaredAdmin(User, admin.site)
    request = superuser_request()
    assert not page.has_add_permission(request)
    assert not page.has_change_permission(request)
    assert not page.has_delete_permission(request)
    assert page.has_view_permission(request)
