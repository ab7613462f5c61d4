"""Cursor pagination for the API's lists: DRF's, except that a cursor whose position does not fit
the ordering field (a hand-made `?cursor=`, say `p=notadate`) is refused like any malformed
cursor (404 "Invalid cursor"); DRF passes such a position on to the query, which fails (a 500)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination


class CheckedCursorPagination(CursorPagination):
    def paginate_queryset(
        self, queryset: models.QuerySet, request: Any, view: Any = None
    ) -> list | None:
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Any) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            if "\x00" in cursor.position:
                raise ValidationError("NUL")
            field.to_python(cursor.position)
        except ValidationError as error:
            raise NotFound(self.invalid_cursor_message) from error
        return cursor


class NewestFirst(CheckedCursorPagination):
    """The API's lists: newest first unless the client asks for an `ordering` the view offers."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
