"""audit_logs is append-only in the database, whoever writes: the admin, the API, QuerySet.update()
or raw SQL. Two changes stay possible, both the spec's: ON DELETE SET NULL of user_id when a user
is erased, and anonymisation (user_id and ip_address set to NULL, spec §7.3). Rows leave only
after the seven years of retention (spec §7.1). TRUNCATE (test teardown, restores) is not row
level and is not affected.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_logs_append_only()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.created_at < NOW() - INTERVAL '7 years' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_logs rows are kept for seven years (row %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.user_id IS NULL OR NEW.user_id IS NOT DISTINCT FROM OLD.user_id)
       AND (NEW.ip_address IS NULL OR NEW.ip_address IS NOT DISTINCT FROM OLD.ip_address)
       AND (NEW.id, NEW.action, NEW.resource_type, NEW.resource_id, NEW.user_agent,
            NEW.old_values, NEW.new_values, NEW.metadata, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.action, OLD.resource_type, OLD.resource_id, OLD.user_agent,
            OLD.old_values, OLD.new_values, OLD.metadata, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_logs rows cannot be changed, only anonymised (row %)', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_logs_append_only
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW
    EXECUTE FUNCTION audit_logs_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs;
DROP FUNCTION IF EXISTS audit_logs_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_timestamps_default_to_transaction_now")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=REVERSE)]
