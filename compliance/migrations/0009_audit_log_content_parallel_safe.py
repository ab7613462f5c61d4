"""audit_log_content() is declared PARALLEL SAFE (it is: a pure function of the row), so that
verify_audit_log can hash the rows in PostgreSQL's parallel workers. A function declared without
it is PARALLEL UNSAFE, which keeps every query that names it in one process. Its body is
unchanged (migration 0006); a later CREATE OR REPLACE of it must say PARALLEL SAFE again."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0008_retention_beat_schedules"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER FUNCTION audit_log_content(audit_logs) PARALLEL SAFE",
            reverse_sql="ALTER FUNCTION audit_log_content(audit_logs) PARALLEL UNSAFE",
        ),
    ]
