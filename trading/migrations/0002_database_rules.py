"""Spec §3.5–3.7, §5.2 in the database: updated_at triggers, ON DELETE CASCADE / SET NULL.

trades.user_id keeps the spec's plain REFERENCES (NO ACTION): trade history is kept ten years.
"""

from django.db import migrations

from apextrade.schema_sql import foreign_key_on_delete, updated_at_trigger


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0001_initial"),
        ("accounts", "0002_database_rules"),
        ("strategies", "0002_database_rules"),
    ]

    operations = [
        updated_at_trigger("portfolios"),
        updated_at_trigger("positions"),
        foreign_key_on_delete("portfolios", "user_id", "users", "CASCADE"),
        foreign_key_on_delete("positions", "portfolio_id", "portfolios", "CASCADE"),
        foreign_key_on_delete("trades", "portfolio_id", "portfolios", "CASCADE"),
        foreign_key_on_delete("trades", "strategy_id", "strategies", "SET NULL"),
        foreign_key_on_delete("trades", "position_id", "positions", "SET NULL"),
    ]
