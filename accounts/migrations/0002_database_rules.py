"""Spec §3.1, §3.8, §3.9, §5.2 in the database: updated_at triggers, ON DELETE CASCADE."""

from django.db import migrations

from apextrade.schema_sql import (
    create_updated_at_function,
    foreign_key_on_delete,
    updated_at_trigger,
)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        create_updated_at_function(),
        updated_at_trigger("users"),
        updated_at_trigger("api_keys"),
        foreign_key_on_delete("api_keys", "user_id", "users", "CASCADE"),
        foreign_key_on_delete("alerts", "user_id", "users", "CASCADE"),
    ]
