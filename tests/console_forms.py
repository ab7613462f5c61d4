"""Console forms as a browser posts them, for tests that drive the admin through its pages."""

import json

from accounts.models import User


def user_change_form(user: User, **changes: object) -> dict[str, object]:
    """The console's user change form for `user` as stored, with `changes` applied (None leaves a
    field out, as the browser does with an unticked checkbox)."""
    data: dict[str, object] = {
        "email": user.email,
        "first_name": user.first_name or "",
        "last_name": user.last_name or "",
        "timezone": user.timezone,
        "preferred_currency": user.preferred_currency,
        "notification_preferences": json.dumps(user.notification_preferences),
        # Nullable flags: a yes/no/unknown select.
        "is_active": json.dumps(user.is_active),
        "is_verified": json.dumps(user.is_verified),
        "is_staff": "on" if user.is_staff else None,
        "is_superuser": "on" if user.is_superuser else None,
        "groups": [group.pk for group in user.groups.all()],
        "user_permissions": [permission.pk for permission in user.user_permissions.all()],
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def inline_management_data(response) -> dict[str, object]:
    """The management forms of the inlines on an admin add or change page (`response` is its
    GET), as a browser posts them back with nothing added or changed."""
    data: dict[str, object] = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name, field in management.fields.items():
            data[management.add_prefix(name)] = management[name].value() or field.initial or 0
    return data
