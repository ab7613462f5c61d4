"""audit_logs' hash chain: computed by the database whoever writes, verified end to end, and
broken visibly by any change that is not one of the two sanctioned ones."""

import datetime as dt
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from compliance.audit import AuditContext
from compliance.audit_chain import GENESIS, verify_audit_chain
from compliance.models import AuditChainAnchor, AuditLog
from compliance.services import anonymise_audit_rows, record_audit_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def write_rows(count: int, user=None) -> list[AuditLog]:
    return [
        AuditLog.objects.get(
            pk=record_audit_event(
                actor=user,
                action="update",
                resource_type="strategy",
                new_values={"n": n},
                context=AuditContext(ip_address="192.0.2.7", user_agent="ua"),
            ).pk
        )
        for n in range(count)
    ]


def tamper(sql: str, params: list | None = None) -> None:
    """What someone with the database's keys could do: write with the triggers switched off."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])
        cursor.execute("SET LOCAL session_replication_role = origin")


def test_each_row_is_chained_to_the_one_before_by_the_database():
    first, second, third = write_rows(3)
    assert (first.chain_seq, second.chain_seq, third.chain_seq) == (1, 2, 3)
    assert bytes(first.prev_hash) == GENESIS
    assert bytes(second.prev_hash) == bytes(first.row_hash)
    assert bytes(third.prev_hash) == bytes(second.row_hash)
    assert verify_audit_chain().intact
    assert verify_audit_chain().rows == 3


def test_what_a_writer_sends_for_the_chain_columns_is_ignored():
    forged = AuditLog.objects.create(
        action="login", resource_type="user", chain_seq=99, row_hash=b"x" * 32, salt=b"s"
    )
    forged.refresh_from_db()
    assert forged.chain_seq == 1
    assert bytes(forged.row_hash) != b"x" * 32
    assert verify_audit_chain().intact


def test_an_edited_row_is_caught_at_that_row():
    rows = write_rows(5)
    tamper("UPDATE audit_logs SET new_values = '{\"n\": 99}' WHERE id = %s", [rows[2].pk])
    report = verify_audit_chain()
    assert report.first_break.audit_log_id == rows[2].pk
    assert report.first_break.problem == "its content was changed"


def test_an_edited_row_with_its_hashes_recomputed_breaks_the_next_link():
    rows = write_rows(4)
    tamper(
        "UPDATE audit_logs SET new_values = '{\"n\": 99}' WHERE id = %(id)s;"
        "UPDATE audit_logs SET content_hash = sha256(audit_log_content(audit_logs)) "
        "WHERE id = %(id)s;"
        "UPDATE audit_logs SET row_hash = sha256(prev_hash || content_hash) WHERE id = %(id)s",
        {"id": rows[1].pk},
    )
    report = verify_audit_chain()
    assert report.first_break.audit_log_id == rows[2].pk
    assert report.first_break.problem == "its link to the row before does not match"


def test_a_deleted_row_is_caught_at_the_row_after_it():
    rows = write_rows(4)
    tamper("DELETE FROM audit_logs WHERE id = %s", [rows[1].pk])
    report = verify_audit_chain()
    assert report.first_break.audit_log_id == rows[2].pk
    assert report.first_break.problem == "rows missing before this one"


def test_deleting_the_last_rows_is_caught_against_the_head():
    rows = write_rows(3)
    tamper("DELETE FROM audit_logs WHERE id = %s", [rows[2].pk])
    report = verify_audit_chain()
    assert report.first_break.problem.startswith("rows missing at the end")


def test_an_inserted_row_is_caught():
    rows = write_rows(3)
    tamper(
        "INSERT INTO audit_logs (action, resource_type, created_at) VALUES ('login', 'user', %s)",
        [rows[1].created_at],
    )
    report = verify_audit_chain()
    assert report.first_break.problem.startswith("a row outside the chain")


def test_an_inserted_row_given_a_place_in_the_chain_is_caught():
    rows = write_rows(3)
    # Squeezed in after row 2 with a plausible link, the rows after it renumbered.
    tamper("UPDATE audit_logs SET chain_seq = chain_seq + 1 WHERE chain_seq >= 3")
    tamper(
        "INSERT INTO audit_logs (action, resource_type, chain_seq, prev_hash, content_hash, "
        "row_hash, salt) SELECT 'login', 'user', 3, row_hash, sha256('x'), "
        "sha256(row_hash || sha256('x')), NULL FROM audit_logs WHERE id = %s",
        [rows[1].pk],
    )
    report = verify_audit_chain()
    assert report.first_break.chain_seq == 3
    assert not report.intact


def test_anonymisation_is_anchored_and_the_chain_still_verifies():
    user = UserFactory()
    rows = write_rows(3, user=user)
    anonymise_audit_rows(user_id=user.pk)
    assert AuditLog.objects.filter(user=user).count() == 0
    anchored = set(AuditChainAnchor.objects.values_list("audit_log_id", flat=True))
    assert anchored == {row.pk for row in rows}
    assert verify_audit_chain().intact
    # An anonymised row edited afterwards is caught all the same.
    tamper("UPDATE audit_logs SET action = 'delete' WHERE id = %s", [rows[0].pk])
    assert verify_audit_chain().first_break.audit_log_id == rows[0].pk


def test_the_foreign_keys_set_null_is_anchored_too():
    user = UserFactory()
    write_rows(2, user=user)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM users WHERE id = %s", [user.pk])
    assert AuditChainAnchor.objects.filter(kind="user_deleted").count() == 2
    assert verify_audit_chain().intact


def test_verify_audit_log_command_reports_the_first_broken_link(capsys):
    rows = write_rows(3)
    call_command("verify_audit_log")
    assert "intact: 3 rows" in capsys.readouterr().out
    tamper("UPDATE audit_logs SET user_agent = 'forged' WHERE id = %s", [rows[1].pk])
    with pytest.raises(CommandError, match=f"broken at row {rows[1].pk} "):
        call_command("verify_audit_log")


def test_rows_inserted_with_an_old_date_are_chained_in_insertion_order():
    old = record_audit_event(actor=None, action="login", resource_type="user")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_logs (action, resource_type, created_at) "
            "VALUES ('login', 'user', %s) RETURNING chain_seq",
            [timezone.now() - dt.timedelta(days=3000)],
        )
        (seq,) = cursor.fetchone()
    assert seq == AuditLog.objects.get(pk=old.pk).chain_seq + 1
    assert verify_audit_chain().intact


@pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])
def test_concurrent_writers_do_not_fork_the_chain():
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(15):
                record_audit_event(actor=None, action="login", resource_type="user")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuditLog.objects.order_by("chain_seq").values_list("chain_seq", flat=True))
    assert seqs == list(range(1, 61))
    assert verify_audit_chain().intact


def test_a_forged_row_hash_is_caught_at_that_row_before_the_link_after_it():
    rows = write_rows(4)
    tamper("UPDATE audit_logs SET row_hash = sha256('forged') WHERE id = %s", [rows[1].pk])
    report = verify_audit_chain()
    # Row 3's link no longer matches either; the first break in chain order is row 2's.
    assert report.first_break.audit_log_id == rows[1].pk
    assert report.first_break.chain_seq == 2
    assert report.first_break.problem == "its row hash does not match its link and content hash"


def test_the_earliest_of_several_breaks_is_reported():
    rows = write_rows(6)
    tamper("UPDATE audit_logs SET action = 'delete' WHERE id = %s", [rows[4].pk])
    tamper("DELETE FROM audit_logs WHERE id = %s", [rows[3].pk])
    tamper("UPDATE audit_logs SET row_hash = sha256('forged') WHERE id = %s", [rows[2].pk])
    report = verify_audit_chain()
    assert (report.first_break.audit_log_id, report.first_break.chain_seq) == (rows[2].pk, 3)
    assert report.rows == 5


def test_a_row_anonymised_twice_is_checked_against_its_latest_anchor():
    actor, subject = UserFactory(), UserFactory()
    [row] = write_rows(1, user=actor)
    tamper("UPDATE audit_logs SET resource_id = %s WHERE id = %s", [subject.pk, row.pk])
    tamper("UPDATE audit_logs SET content_hash = sha256(audit_log_content(audit_logs))")
    tamper("UPDATE audit_logs SET row_hash = sha256(prev_hash || content_hash)")
    tamper("UPDATE audit_chain_head SET row_hash = (SELECT row_hash FROM audit_logs)")
    assert verify_audit_chain().intact  # (the row as if written about the subject)

    anonymise_audit_rows(user_id=actor.pk)  # loses its actor, IP and agent
    anonymise_audit_rows(user_id=subject.pk)  # then its resource id
    assert AuditChainAnchor.objects.filter(audit_log_id=row.pk).count() == 2
    assert verify_audit_chain().intact

    # Put back as the first anonymisation left it: its first anchor's content, no longer valid.
    tamper("UPDATE audit_logs SET resource_id = %s WHERE id = %s", [subject.pk, row.pk])
    report = verify_audit_chain()
    assert report.first_break.audit_log_id == row.pk
    assert report.first_break.problem == "its content was changed"


def test_verification_is_the_same_when_postgresql_splits_it_among_parallel_workers():
    from compliance import audit_chain

    user = UserFactory()
    rows = write_rows(30, user=user)
    anonymise_audit_rows(user_id=user.pk)
    with connection.cursor() as cursor:
        # Parallel workers even for a table this small.
        for setting in (
            "parallel_setup_cost",
            "parallel_tuple_cost",
            "min_parallel_table_scan_size",
        ):
            cursor.execute(f"SET LOCAL {setting} = 0")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 2")
        cursor.execute("EXPLAIN " + audit_chain._EACH_ROW)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "Workers Planned" in plan and "Parallel Seq Scan on audit_logs" in plan
    assert verify_audit_chain().intact
    tamper("UPDATE audit_logs SET new_values = '{\"n\": 99}' WHERE id = %s", [rows[17].pk])
    tamper("UPDATE audit_logs SET user_agent = 'forged' WHERE id = %s", [rows[23].pk])
    report = verify_audit_chain()
    assert (report.first_break.audit_log_id, report.first_break.problem) == (
        rows[17].pk,
        "its content was changed",
    )
