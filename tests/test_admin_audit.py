"""What an operator changes in the console lands in the audit log, with the operator as actor."""

from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts.models import Alert, ApiKey
from compliance.models import AuditLog
from strategies.models import Strategy
from tests.factories import AlertFactory, ApiKeyFactory, OperatorFactory, StrategyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_request():
    request = RequestFactory().post("/admin/", REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT="ops")
    request.user = OperatorFactory()
    return request


def model_admin(model):
    return admin.site._registry[model]


def test_a_change_records_old_and_new_values_of_what_changed(operator_request):
    strategy = StrategyFactory(name="Before")
    strategy.name = "After"
    form = SimpleNamespace(changed_data=["name"])

    model_admin(Strategy).save_model(operator_request, strategy, form, change=True)

    row = AuditLog.objects.get(action="update")
    assert (row.user, row.resource_type, row.resource_id) == (
        operator_request.user,
        "strategy",
        strategy.pk,
    )
    assert (row.old_values, row.new_values) == ({"name": "Before"}, {"name": "After"})
    assert row.metadata["channel"] == "admin"
    assert row.ip_address == "192.0.2.10"


def test_a_save_that_changes_nothing_records_nothing(operator_request):
    strategy = StrategyFactory()
    model_admin(Strategy).save_model(
        operator_request, strategy, SimpleNamespace(changed_data=[]), change=True
    )
    assert not AuditLog.objects.filter(action="update").exists()


def test_an_addition_records_the_new_row(operator_request):
    alert = AlertFactory.build(user=OperatorFactory())
    model_admin(Alert).save_model(
        operator_request, alert, SimpleNamespace(changed_data=["symbol"]), change=False
    )
    row = AuditLog.objects.get(action="create", resource_type="alert")
    assert row.resource_id == alert.pk
    assert row.new_values["symbol"] == alert.symbol


def test_deleting_an_api_key_is_recorded_without_its_secrets(operator_request):
    key = ApiKeyFactory()
    model_admin(ApiKey).delete_queryset(operator_request, ApiKey.objects.filter(pk=key.pk))

    row = AuditLog.objects.get(action="api_key_deleted")
    assert row.resource_type == "api_key"
    assert row.resource_id == key.pk
    assert "api_secret_encrypted" not in row.old_values
    assert not ApiKey.objects.exists()
