"""audit_logs stays append-only, but personal data in it can now be erased (spec §7.3; audit_logs
is classed "anonymise" in compliance/data_classification.py): besides user_id and ip_address,
user_agent may be set to NULL, and old_values/new_values may be set to NULL or have values
replaced by the marker "[erased]" (or keys dropped). Nothing else of a row may change: not its
action, resource, metadata or time, not a value to anything but the marker, and no key may be
added. compliance.services.anonymise_audit_rows does the erasing. The seven-year DELETE rule is
unchanged.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_logs_values_only_erased(old_value jsonb, new_value jsonb)
RETURNS boolean AS $$
    SELECT new_value IS NULL
        OR new_value IS NOT DISTINCT FROM old_value
        OR (jsonb_typeof(old_value) = 'object'
            AND jsonb_typeof(new_value) = 'object'
            AND NOT EXISTS (
                SELECT 1
                FROM jsonb_each(new_value) AS entry(key, value)
                WHERE NOT (old_value ? entry.key)
                   OR (entry.value IS DISTINCT FROM old_value -> entry.key
                       AND entry.value IS DISTINCT FROM '"[erased]"'::jsonb)
            ));
$$ LANGUAGE sql IMMUTABLE;

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
    IF (NEW.id, NEW.action, NEW.resource_type, NEW.resource_id, NEW.metadata, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.action, OLD.resource_type, OLD.resource_id, OLD.metadata, OLD.created_at)
       AND (NEW.user_id IS NULL OR NEW.user_id IS NOT DISTINCT FROM OLD.user_id)
       AND (NEW.ip_address IS NULL OR NEW.ip_address IS NOT DISTINCT FROM OLD.ip_address)
       AND (NEW.user_agent IS NULL OR NEW.user_agent IS NOT DISTINCT FROM OLD.user_agent)
       AND audit_logs_values_only_erased(OLD.old_values, NEW.old_values)
       AND audit_logs_values_only_erased(OLD.new_values, NEW.new_values) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_logs rows cannot be changed, only anonymised (row %)', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""

# The function as 0004_audit_logs_append_only made it.
REVERSE = """
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

DROP FUNCTION IF EXISTS audit_logs_values_only_erased(jsonb, jsonb);
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0004_audit_logs_append_only")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=REVERSE)]
