"""trades.user_id as the spec writes it: a plain REFERENCES users(id), NO ACTION, checked at once.

Django creates foreign keys DEFERRABLE INITIALLY DEFERRED. Deferred, the check ran only after the
cascade users -> portfolios -> trades had removed the user's trades, so deleting a user with
trade history succeeded. Immediate, PostgreSQL refuses it, which keeps trades for their ten years.
"""

from django.db import migrations

from apextrade.schema_sql import foreign_key_on_delete


class Migration(migrations.Migration):
    dependencies = [("trading", "0002_database_rules")]

    operations = [
        foreign_key_on_delete("trades", "user_id", "users", "NO ACTION", deferrable=False),
    ]
