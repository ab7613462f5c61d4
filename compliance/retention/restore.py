"""Bringing an archive back: its rows inserted again, parents before children, after the
archive is checked against its manifest. Rows still present are left as they are."""

from typing import Any

from django.apps import apps
from django.db import router, transaction

from compliance.retention.archives import read_rows, verify_archive


def restore_archive(manifest_name: str) -> dict[str, int]:
    """Insert the archive's rows; returns rows restored per model."""
    manifest = verify_archive(manifest_name)
    by_model: dict[str, list[Any]] = {}
    for label, row in read_rows(manifest):
        model = apps.get_model(label)
        fields = {field.attname: field for field in model._meta.concrete_fields}
        by_model.setdefault(label, []).append(
            model(**{name: fields[name].to_python(value) for name, value in row.items()})
        )
    restored: dict[str, int] = {}
    # The root model first: the children refer to it.
    order = [manifest.root_model] + [label for label in by_model if label != manifest.root_model]
    # An archival job's children live in its root's database (ON DELETE CASCADE reaches them).
    with transaction.atomic(using=router.db_for_write(apps.get_model(manifest.root_model))):
        for label in order:
            objects = by_model.get(label, [])
            model = apps.get_model(label)
            existing = set(
                model._default_manager.filter(pk__in=[obj.pk for obj in objects]).values_list(
                    "pk", flat=True
                )
            )
            fresh = [obj for obj in objects if obj.pk not in existing]
            model._default_manager.bulk_create(fresh, batch_size=1000)
            restored[label] = len(fresh)
    return restored
