"""GDPR Article 15 export: every section of everything held about the person, from both
databases, schema-versioned, without secrets, audited each time."""

import json
import uuid

import pytest
from django.core.management import CommandError, call_command

from compliance.gdpr.export import EXPORT_SCHEMA_VERSION, export_sections
from compliance.models import AuditLog
from tests.compliance.conftest import EMAIL, IP, make_person
from tests.factories import OperatorFactory, StrategyFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def export_via_command(tmp_path, identifier: str) -> dict:
    out = tmp_path / "export.json"
    call_command("gdpr_export", identifier, "--out", str(out))
    return json.loads(out.read_text())


def test_a_person_with_data_in_every_table_appears_in_every_section(person, tmp_path):
    StrategyFactory()  # someone else's, not exported
    document = export_via_command(tmp_path, EMAIL.upper())

    assert document["schema_version"] == EXPORT_SCHEMA_VERSION
    assert document["user_id"] == str(person.user.pk)
    assert "exported_at" in document
    sections = [section for section, _ in export_sections()]
    assert set(sections) == {
        "profile",
        "broker_keys",
        "alerts",
        "strategies",
        "backtests",
        "backtest_trades",
        "portfolios",
        "positions",
        "trades",
        "equity_history",
        "audit_entries",
        "access_tokens",
        "strategy_deployments",
        "balance_discrepancies",
        "optimisations",
        "optimisation_variants",
        "optimisation_folds",
    }
    empty = [section for section in sections if not document[section]]
    assert empty == []
    assert len(document["strategies"]) == 1
    assert len(document["portfolios"]) == 2
    assert len(document["trades"]) == 2
    assert len(document["equity_history"]) == 3
    assert document["profile"][0]["email"] == EMAIL
    assert {entry["ip_address"] for entry in document["audit_entries"]} >= {IP}


def test_secrets_are_never_exported(person, tmp_path):
    document = export_via_command(tmp_path, str(person.user.pk))
    assert "password" not in document["profile"][0]
    assert "mfa_secret" not in document["profile"][0]
    key = document["broker_keys"][0]
    assert {"name", "exchange", "permissions"} <= set(key)
    assert not {"api_key_encrypted", "api_secret_encrypted", "passphrase_encrypted"} & set(key)
    token = document["access_tokens"][0]
    assert "token_hash" not in token
    assert {"name", "prefix", "scopes"} <= set(token)


def test_each_export_is_audited_before_the_data_leaves(person, tmp_path):
    export_via_command(tmp_path, EMAIL)
    row = AuditLog.objects.get(action="read", metadata__purpose="gdpr_export")
    assert (row.resource_type, row.resource_id) == ("user", person.user.pk)
    assert row.metadata["channel"] == "command:gdpr_export"
    document = export_via_command(tmp_path, EMAIL)
    assert any(
        entry["metadata"].get("purpose") == "gdpr_export" for entry in document["audit_entries"]
    )


def test_an_unknown_user_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No user"):
        call_command("gdpr_export", "nobody@example.com")
    with pytest.raises(CommandError, match="No user"):
        call_command("gdpr_export", str(uuid.uuid4()))
    assert not AuditLog.objects.exists()


def test_the_api_streams_the_signed_in_users_own_export(client):
    person = make_person()
    client.force_login(person.user)
    response = client.get("/api/v1/me/export", HTTP_USER_AGENT="pytest", REMOTE_ADDR="192.0.2.50")
    assert response.status_code == 200
    assert response.streaming
    document = json.loads(b"".join(response.streaming_content))
    assert document["user_id"] == str(person.user.pk)
    assert len(document["trades"]) == 2
    row = AuditLog.objects.get(action="read", metadata__purpose="gdpr_export")
    assert (row.user_id, row.ip_address, row.user_agent) == (person.user.pk, "192.0.2.50", "pytest")


def test_the_api_refuses_an_anonymous_caller(client):
    assert client.get("/api/v1/me/export").status_code in (401, 403)
    assert not AuditLog.objects.exists()


def test_an_operator_exports_a_user_from_the_console(client, person):
    operator = OperatorFactory()
    client.force_login(operator)
    response = client.post(
        "/admin/accounts/user/",
        {"action": "export_personal_data", "_selected_action": [str(person.user.pk)]},
    )
    assert response.status_code == 200
    document = json.loads(b"".join(response.streaming_content))
    assert document["profile"][0]["email"] == EMAIL
    row = AuditLog.objects.get(action="read", metadata__purpose="gdpr_export")
    assert (row.user_id, row.metadata["channel"]) == (operator.pk, "admin")
