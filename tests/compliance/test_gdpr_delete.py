"""GDPR Article 17 erasure: nothing left that names the person in either database or Redis,
their trades kept ten years but detached, the audit trail anonymised and still verifiable."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connections

from compliance.audit_chain import verify_audit_chain
from compliance.models import AuditLog
from tests.compliance.conftest import EMAIL, FIRST_NAME, IP, LAST_NAME
from trading.models import Portfolio, Trade

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

SEARCHED_TYPES = ("text", "character varying", "jsonb", "json", "uuid", "inet", "ARRAY")


def columns_holding(alias: str, needle: str) -> list[str]:
    """Every text, JSON, uuid and inet column of database `alias` whose value contains needle."""
    hits = []
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "AND c.data_type = ANY(%s)",
            [list(SEARCHED_TYPES)],
        )
        for table, column in cursor.fetchall():
            cursor.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',
                [f"%{needle}%"],
            )
            if cursor.fetchone()[0]:
                hits.append(f"{alias}.{table}.{column}")
    return hits


def redis_holding(needle: str) -> list[str]:
    client = cache.client.get_client()
    found = []
    for key in client.scan_iter(match=cache.make_key("*")):
        value = client.get(key) if client.type(key) == b"string" else b""
        if needle.encode() in key or needle.encode() in (value or b""):
            found.append(key.decode())
    return found


def test_nothing_names_the_person_afterwards_in_either_database_or_redis(person):
    needles = [EMAIL, FIRST_NAME, LAST_NAME, IP, str(person.user.pk)]
    before = {needle: columns_holding("default", needle) for needle in needles}
    assert before[EMAIL] and before[IP] and before[str(person.user.pk)]
    assert columns_holding("timeseries", str(person.portfolio.pk))
    assert redis_holding(EMAIL) and redis_holding(str(person.user.pk))

    call_command("gdpr_delete", EMAIL, "--yes")

    for needle in needles:
        assert columns_holding("default", needle) == [], needle
        assert columns_holding("timeseries", needle) == [], needle
        assert redis_holding(needle) == [], needle
    assert columns_holding("timeseries", str(person.portfolio.pk)) == []
    assert verify_audit_chain().intact


def test_trades_inside_their_retention_are_kept_detached_and_the_rest_goes(person, capsys):
    trade = Trade.objects.get(portfolio=person.portfolio)

    call_command("gdpr_delete", str(person.user.pk), "--yes")

    kept = Trade.objects.get(pk=trade.pk)
    placeholder = kept.user
    assert placeholder.pk != person.user.pk
    assert placeholder.email.endswith("@erased.invalid")
    assert (placeholder.first_name, placeholder.last_name, placeholder.is_active) == (
        None,
        None,
        False,
    )
    assert not placeholder.has_usable_password()
    portfolio = Portfolio.objects.get(pk=person.portfolio.pk)
    assert (portfolio.user, portfolio.name, portfolio.description) == (placeholder, "erased", None)
    # The portfolio whose only trade was past ten years went, with that trade.
    assert not Portfolio.objects.filter(pk=person.old_portfolio.pk).exists()
    assert Trade.objects.count() == 1
    out = capsys.readouterr().out
    assert "trading.Trade: 1 row(s) kept, detached" in out
    assert "MiFID II" in out
    assert "trading.Trade: 1 row(s) deleted (past their retention)" in out


def test_the_erasure_is_recorded_without_naming_the_person(person):
    call_command("gdpr_delete", EMAIL, "--yes")
    row = AuditLog.objects.get(metadata__purpose="gdpr_erasure")
    assert row.action == "delete"
    assert row.metadata["channel"] == "command:gdpr_delete"
    assert str(person.user.pk) not in str(row.metadata)
    assert {line["table"] for line in row.metadata["plan"]} >= {"trading.Trade", "accounts.User"}


def test_a_dry_run_shows_the_plan_and_changes_nothing(person, capsys):
    call_command("gdpr_delete", EMAIL, "--dry-run")
    assert "Dry run" in capsys.readouterr().out
    person.user.refresh_from_db()
    assert cache.get(f"rate_limit:{person.user.pk}") == 42


def test_without_yes_it_asks_and_a_no_changes_nothing(person, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("gdpr_delete", EMAIL)
    person.user.refresh_from_db()
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    call_command("gdpr_delete", EMAIL)
    assert not type(person.user).objects.filter(pk=person.user.pk).exists()


def test_running_it_again_is_harmless_and_clears_leftover_sessions(person, capsys):
    call_command("gdpr_delete", str(person.user.pk), "--yes")
    rows = AuditLog.objects.count()
    # A crash between the database and Redis would leave this behind.
    cache.set(f"rate_limit:{person.user.pk}", 1)
    call_command("gdpr_delete", str(person.user.pk), "--yes")
    assert "already erased; removed 1 leftover" in capsys.readouterr().out
    call_command("gdpr_delete", EMAIL, "--yes")
    assert "nothing to erase" in capsys.readouterr().out
    assert AuditLog.objects.count() == rows
