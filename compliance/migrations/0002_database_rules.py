"""Spec §3.10, §5.2 in the database: audit_logs.user_id ON DELETE SET NULL."""

from django.db import migrations

from apextrade.schema_sql import foreign_key_on_delete


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial"), ("accounts", "0002_database_rules")]

    operations = [foreign_key_on_delete("audit_logs", "user_id", "users", "SET NULL")]
