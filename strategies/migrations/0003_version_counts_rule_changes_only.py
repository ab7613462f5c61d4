"""strategies.version is the database's alone: raised by one when the rules change, kept otherwise.

The spec's function leaves NEW.version as the UPDATE set it when the rules are unchanged, so an
UPDATE from a stale copy (Model.save() writes every column) could lower it. This keeps OLD.version
in that case, which is what the spec means by a version counter.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION increment_strategy_version()
RETURNS TRIGGER AS $$
BEGIN
    IF (OLD.entry_rules IS DISTINCT FROM NEW.entry_rules) OR
       (OLD.exit_rules IS DISTINCT FROM NEW.exit_rules) THEN
        NEW.version = OLD.version + 1;
    ELSE
        NEW.version = OLD.version;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

REVERSE = """
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
"""


class Migration(migrations.Migration):
    dependencies = [("strategies", "0002_database_rules")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=REVERSE)]
