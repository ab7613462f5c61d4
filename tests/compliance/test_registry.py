"""Every model of both databases has declared its compliance story, in the app that owns it."""

import ast
import pathlib

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from compliance.registry import (
    AuditEvents,
    ComplianceRegistry,
    Erasure,
    ModelPolicy,
    Retention,
    registry,
)

DOMAIN_APPS = ("accounts", "strategies", "trading", "marketdata")


def test_every_model_of_both_databases_is_declared():
    undeclared = [
        model._meta.label
        for model in apps.get_models()
        if not model._meta.auto_created and registry.policy(model._meta.label) is None
    ]
    assert undeclared == []


def test_the_declarations_name_only_models_that_exist():
    labels = {model._meta.label for model in apps.get_models(include_auto_created=True)}
    assert {policy.label for policy in registry.policies()} - labels == set()


def test_each_app_declares_its_own_models_and_apextrade_the_third_party_ones():
    project_apps = {*DOMAIN_APPS, "compliance"}
    wrong = []
    for policy in registry.policies():
        app_label = policy.label.split(".")[0]
        expected = app_label if app_label in project_apps else "apextrade"
        if registry.declaring_app(policy.label) != expected:
            wrong.append(policy.label)
    assert wrong == []


def test_a_model_or_resource_type_declared_twice_is_refused():
    fresh = ComplianceRegistry()
    fresh.register("one", models=[ModelPolicy("one.Thing", Erasure.NO_PERSONAL_DATA)])
    with pytest.raises(ImproperlyConfigured, match="declared twice"):
        fresh.register("two", models=[ModelPolicy("one.Thing", Erasure.ERASED)])
    with pytest.raises(ImproperlyConfigured, match="already declared"):
        fresh.register("one", models=[])
    fresh.register("three", models=[], audit_events=[AuditEvents("thing", ("create",))])
    with pytest.raises(ImproperlyConfigured, match="declared twice"):
        fresh.register("four", models=[], audit_events=[AuditEvents("thing", ("update",))])
    # The refused declarations left nothing behind.
    assert [policy.label for policy in fresh.policies()] == ["one.Thing"]
    assert fresh.app_labels() == ["one", "three"]


def test_an_exported_model_must_name_its_owner_and_a_legal_hold_its_period():
    fresh = ComplianceRegistry()
    with pytest.raises(ImproperlyConfigured, match="no owner"):
        fresh.register("one", models=[ModelPolicy("one.A", Erasure.ERASED, exported=True)])
    with pytest.raises(ImproperlyConfigured, match="no period"):
        fresh.register(
            "one",
            models=[ModelPolicy("one.B", Erasure.RETAINED_BY_LAW, retention=Retention(None, "x"))],
        )


def test_secrets_are_never_exported_and_trades_are_kept_ten_years():
    assert {"password", "mfa_secret", "api_key_encrypted", "api_secret_encrypted"} <= (
        registry.secret_fields()
    )
    trade = registry.policy("trading.Trade")
    assert trade.erasure is Erasure.RETAINED_BY_LAW
    assert trade.retention.period.days >= 3650
    assert trade.detach is not None


def test_compliance_imports_no_domain_app():
    root = pathlib.Path(apps.get_app_config("compliance").path)
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {name}" for name in names if name.split(".")[0] in DOMAIN_APPS
            ]
    assert offenders == []
