"""Spec §3.2–3.4, §5.2 in the database: updated_at and version triggers, ON DELETE CASCADE."""

from django.db import migrations

from apextrade.schema_sql import foreign_key_on_delete, updated_at_trigger

INCREMENT_VERSION = """
CREATE OR REPLACE FUNCTION increment_strategy_version()
RETURNS TRIGGER AS $$
BEGIN
    IF (OLD.entry_rules IS DISTINCT FROM NEW.entry_rules) OR
       (OLD.exit_rules IS DISTINCT FROM NEW.exit_rules) THEN
        NEW.version = OLD.version + 1;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER strategies_version
    BEFORE UPDATE ON strategies
    FOR EACH ROW
    EXECUTE FUNCTION increment_strategy_version();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("strategies", "0001_initial"),
        ("accounts", "0002_database_rules"),
    ]

    operations = [
        updated_at_trigger("strategies"),
        migrations.RunSQL(
            INCREMENT_VERSION,
            reverse_sql="DROP TRIGGER IF EXISTS strategies_version ON strategies;"
            "DROP FUNCTION IF EXISTS increment_strategy_version();",
        ),
        foreign_key_on_delete("strategies", "user_id", "users", "CASCADE"),
        foreign_key_on_delete("backtests", "strategy_id", "strategies", "CASCADE"),
        foreign_key_on_delete("backtests", "user_id", "users", "CASCADE"),
        foreign_key_on_delete("backtest_trades", "backtest_id", "backtests", "CASCADE"),
    ]
