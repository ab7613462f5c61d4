"""Query-string filters shared by the API's lists."""

import datetime as dt

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, turned to UTC: PostgreSQL refuses offsets past ±15:59 (a 500 from the
    query); a moment that leaves the calendar in UTC is a 400."""

    def to_python(self, value: object) -> dt.datetime | None:
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError as error:
            raise forms.ValidationError("Enter a date and time within years 1-9999.") from error


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
