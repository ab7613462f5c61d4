"""Building blocks shared by the apps' operator-console pages (their admin.py modules): links
between related rows, and a view-only base for rows that only services or the engine write."""

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

RELATED_ROWS_SHOWN = 10


def change_link(obj: models.Model | None, text: str | None = None) -> SafeString | str:
    """A link to `obj`'s admin change page, or "-" when there is none."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))


def changelist_link(model: type[models.Model], text: str, **filters: object) -> SafeString:
    """A link to `model`'s admin list, filtered by `filters` (field=value)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), text)


def related_rows(queryset: models.QuerySet, *, describe: str, **filters: object) -> SafeString:
    """The first rows of `queryset` as links, then a link to the admin list of all of them
    (`filters` select the same rows there)."""
    total = queryset.count()
    if not total:
        return format_html("<p>No {}.</p>", describe)
    items = format_html_join(
        "", "<li>{}</li>", ((change_link(row),) for row in queryset[:RELATED_ROWS_SHOWN])
    )
    everything = changelist_link(queryset.model, f"All {total} {describe} →", **filters)
    return format_html("<ul>{}</ul><p>{}</p>", items, everything)


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """View-only pages, for rows that services or the engine write and nobody edits by hand.
    Deletion follows the operator's permissions unless a subclass forbids it."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
