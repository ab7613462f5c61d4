"""SQL for what Django's schema editor has no word for: the spec's triggers and the ON DELETE
rules of its foreign keys (Django 5.2 enforces on_delete in Python only). Used by RunSQL
operations in the apps' migrations, so the guarantees hold for raw SQL and QuerySet.update() too.
"""

from django.db import migrations

UPDATED_AT_FUNCTION = """
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def create_updated_at_function() -> migrations.RunSQL:
    return migrations.RunSQL(
        UPDATED_AT_FUNCTION, reverse_sql="DROP FUNCTION IF EXISTS update_updated_at_column();"
    )


def updated_at_trigger(table: str) -> migrations.RunSQL:
    """`{table}_updated_at`: BEFORE UPDATE, sets updated_at to NOW() (spec §3)."""
    return migrations.RunSQL(
        f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();",
        reverse_sql=f"DROP TRIGGER IF EXISTS {table}_updated_at ON {table};",
    )


def foreign_key_on_delete(
    table: str, column: str, referenced_table: str, action: str, *, deferrable: bool = True
) -> migrations.RunSQL:
    """Recreate the foreign key on `table.column` with `ON DELETE {action}`.

    Django names its constraints with a hash; the DO block finds the existing one by column. The
    constraint stays DEFERRABLE INITIALLY DEFERRED, as Django makes it, unless `deferrable` is
    False: a NO ACTION key that must refuse a delete even when a cascade elsewhere in the same
    statement would remove the referencing rows has to be checked at once, as the spec's plain
    `REFERENCES` is.
    """
    name = f"{table}_{column}_fkey"
    timing = "DEFERRABLE INITIALLY DEFERRED" if deferrable else "NOT DEFERRABLE"

    def recreate(on_delete: str) -> str:
        return f"""
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
ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column})
    REFERENCES {referenced_table} (id) ON DELETE {on_delete} {timing};
"""

    return migrations.RunSQL(recreate(action), reverse_sql=recreate("NO ACTION"))
