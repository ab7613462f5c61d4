"""What an operator changes in the console lands in the audit log, with the operator as actor."""

from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.test import Client, RequestFactory
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.models import Alert, ApiKey, User
from compliance.models import AuditLog
from strategies.models import Strategy
from strategies.tasks import fail_stale_backtests
from tests.console_forms import user_change_form
from tests.factories import (
    AlertFactory,
    ApiKeyFactory,
    OperatorFactory,
    StrategyFactory,
    UserFactory,
)

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


# --- Many-to-many fields, groups and Celery beat's schedule


def admin_url(model: type[models.Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


@pytest.fixture
def operator_client() -> Client:
    client = Client(REMOTE_ADDR="192.0.2.10")
    client.force_login(OperatorFactory())
    return client


def test_changing_only_a_users_groups_and_permissions_is_recorded(operator_client):
    user = UserFactory()
    desk = Group.objects.create(name="Desk")
    view_trade = Permission.objects.get(codename="view_trade")

    response = operator_client.post(
        admin_url(User, "change", user.pk),
        user_change_form(user, groups=[desk.pk], user_permissions=[view_trade.pk]),
    )

    assert response.status_code == 302
    row = AuditLog.objects.get(action="update", resource_id=user.pk)
    assert row.old_values == {"groups": [], "user_permissions": []}
    assert row.new_values == {"groups": ["Desk"], "user_permissions": [str(view_trade)]}
    assert row.metadata["channel"] == "admin"


def test_removing_a_user_from_a_group_is_recorded(operator_client):
    user = UserFactory()
    desk, risk = Group.objects.create(name="Desk"), Group.objects.create(name="Risk")
    user.groups.add(desk, risk)

    operator_client.post(
        admin_url(User, "change", user.pk), user_change_form(user, groups=[risk.pk])
    )

    row = AuditLog.objects.get(action="update", resource_id=user.pk)
    assert (row.old_values, row.new_values) == ({"groups": ["Desk", "Risk"]}, {"groups": ["Risk"]})


def test_a_save_that_leaves_the_groups_as_they_were_records_nothing(operator_client):
    user = UserFactory()
    user.groups.add(Group.objects.create(name="Desk"))

    operator_client.post(admin_url(User, "change", user.pk), user_change_form(user))

    assert not AuditLog.objects.filter(action="update").exists()


def test_groups_are_audited_with_their_permissions(operator_client):
    view_trade = Permission.objects.get(codename="view_trade")
    view_user = Permission.objects.get(codename="view_user")

    operator_client.post(admin_url(Group, "add"), {"name": "Desk", "permissions": [view_trade.pk]})
    group = Group.objects.get(name="Desk")
    operator_client.post(
        admin_url(Group, "change", group.pk), {"name": "Desk", "permissions": [view_user.pk]}
    )

    rows = list(AuditLog.objects.filter(resource_type="group").order_by("id"))
    assert [row.action for row in rows] == ["create", "update", "update"]
    assert all(row.metadata == {"channel": "admin", "pk": str(group.pk)} for row in rows)
    assert rows[0].new_values == {"id": group.pk, "name": "Desk"}
    assert (rows[1].old_values, rows[1].new_values) == (None, {"permissions": [str(view_trade)]})
    assert (rows[2].old_values, rows[2].new_values) == (
        {"permissions": [str(view_trade)]},
        {"permissions": [str(view_user)]},
    )


def test_editing_a_beat_schedule_is_recorded(operator_client):
    schedule = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)

    response = operator_client.post(
        admin_url(IntervalSchedule, "change", schedule.pk),
        {
            "every": 15,
            "period": IntervalSchedule.MINUTES,
            # The page's (read-only) inline of the tasks on this schedule.
            "periodictask_set-TOTAL_FORMS": 0,
            "periodictask_set-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 302
    row = AuditLog.objects.get(resource_type="interval_schedule")
    assert (row.action, row.old_values, row.new_values) == ("update", {"every": 10}, {"every": 15})
    assert row.metadata["pk"] == str(schedule.pk)


@pytest.fixture
def periodic_tasks() -> list[PeriodicTask]:
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    return [
        PeriodicTask.objects.create(
            name=name, task=TASK_NAME, interval=every_minute, enabled=enabled
        )
        for name, enabled in (("on", True), ("off", False))
    ]


TASK_NAME = fail_stale_backtests.name


@pytest.mark.parametrize(
    ("action", "changes"),
    [
        ("enable_tasks", {"off": {"enabled": True}}),
        ("disable_tasks", {"on": {"enabled": False}}),
        ("toggle_tasks", {"on": {"enabled": False}, "off": {"enabled": True}}),
    ],
)
def test_bulk_actions_on_periodic_tasks_record_a_row_per_task_changed(
    action, changes, periodic_tasks, operator_client
):
    response = operator_client.post(
        admin_url(PeriodicTask, "changelist"),
        {"action": action, "_selected_action": [task.pk for task in periodic_tasks]},
    )

    assert response.status_code == 302
    rows = AuditLog.objects.filter(resource_type="periodic_task", action="update")
    recorded = {
        PeriodicTask.objects.get(pk=int(row.metadata["pk"])).name: row.new_values for row in rows
    }
    assert recorded == changes
    assert all(row.metadata["channel"] == "admin" for row in rows)


def test_running_periodic_tasks_from_the_console_is_recorded(
    periodic_tasks, operator_client, monkeypatch
):
    sent = []
    monkeypatch.setattr(fail_stale_backtests, "apply_async", lambda **options: sent.append(options))

    operator_client.post(
        admin_url(PeriodicTask, "changelist"),
        {"action": "run_tasks", "_selected_action": [periodic_tasks[0].pk]},
    )

    assert len(sent) == 1
    row = AuditLog.objects.get(resource_type="periodic_task")
    assert row.action == "activate"
    assert row.new_values == {"run": "started by an operator", "task": TASK_NAME}
    assert row.metadata["pk"] == str(periodic_tasks[0].pk)
