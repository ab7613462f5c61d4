"""The optimisation tables' ON DELETE rules in the database (Django enforces on_delete in Python
only): a strategy's or user's optimisations, and an optimisation's variants and folds, go with it;
a fold outlives its best variant's row (SET NULL). The SQL is a frozen copy, as in 0002."""

from django.db import migrations

RECREATE = """
DO $$
DECLARE existing text;
BEGIN
    FOR existing IN
        SELECT con.conname FROM pg_constraint con
        JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = ANY (con.conkey)
        WHERE con.contype = 'f' AND con.conrelid = '{table}'::regclass
          AND att.attname = '{column}'
    LOOP
        EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', existing);
    END LOOP;
END $$;
ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey FOREIGN KEY ({column})
    REFERENCES {referenced} (id) ON DELETE {action} DEFERRABLE INITIALLY DEFERRED;
"""

FOREIGN_KEYS = (
    ("optimisations", "strategy_id", "strategies", "CASCADE"),
    ("optimisations", "user_id", "users", "CASCADE"),
    ("optimisation_variants", "optimisation_id", "optimisations", "CASCADE"),
    ("optimisation_folds", "optimisation_id", "optimisations", "CASCADE"),
    ("optimisation_folds", "best_variant_id", "optimisation_variants", "SET NULL"),
)


def on_delete(table: str, column: str, referenced: str, action: str) -> migrations.RunSQL:
    names = {"table": table, "column": column, "referenced": referenced}
    return migrations.RunSQL(
        RECREATE.format(**names, action=action),
        reverse_sql=RECREATE.format(**names, action="NO ACTION"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("strategies", "0006_optimisations"),
    ]

    operations = [on_delete(*foreign_key) for foreign_key in FOREIGN_KEYS]
