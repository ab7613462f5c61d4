"""Input serializers that refuse what a client may not set (OWASP API3, mass assignment): a body
naming a read-only field (owner, status, results, balances, version, timestamps ...) or a field the
endpoint does not know is a 400 naming that field, never silently dropped."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

READ_ONLY_MESSAGE = "This field is read-only: it cannot be set."


class StrictFieldsMixin:
    """Put before `serializers.Serializer`. Keys of the body that are not writable fields of the
    serializer are errors on their own key, reported with the fields' own errors.
    `read_only_names` lists the resource's fields a client sees but cannot write (for the
    message); any other unexpected key is an unknown field."""

    read_only_names: tuple[str, ...] = ()

    def _refused_keys(self, data: Mapping) -> dict[str, list[str]]:
        writable = [name for name, field in self.fields.items() if not field.read_only]
        read_only = set(self.read_only_names) | {
            name for name, field in self.fields.items() if field.read_only
        }
        unknown = f"Unknown field. The fields you can set here: {', '.join(sorted(writable))}."
        return {
            str(key): [READ_ONLY_MESSAGE if key in read_only else unknown]
            for key in data
            if key not in writable
        }

    def to_internal_value(self, data: Any) -> Any:
        refused = self._refused_keys(data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if refused and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **refused}) from error
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value


class EmptyBodySerializer(StrictFieldsMixin, serializers.Serializer):
    """For actions that take no body (cancel, ...): any key sent is refused."""

    def __init__(self, *args: Any, read_only_names: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_only_names = read_only_names


def refuse_body_fields(data: Any, *, read_only_names: tuple[str, ...] = ()) -> None:
    """Raise a 400 when a body that should be empty sets anything."""
    EmptyBodySerializer(data=data or {}, read_only_names=read_only_names).is_valid(
        raise_exception=True
    )
