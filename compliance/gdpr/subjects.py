"""The person a GDPR request is about, and their rows in each declared model (both databases)."""

import functools
import operator
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q

from compliance.registry import ModelPolicy, registry


def resolve_user(identifier: str) -> Any:
    """The user whose email (any case) or id is `identifier`; ObjectDoesNotExist if none."""
    user_model = get_user_model()
    identifier = identifier.strip()
    try:
        try:
            return user_model.objects.get(pk=uuid.UUID(identifier))
        except ValueError:
            return user_model.objects.get_by_natural_key(identifier)
    except user_model.DoesNotExist as error:
        raise ObjectDoesNotExist(f"No user with the email or id {identifier!r}.") from error


def model_for(policy: ModelPolicy) -> type[models.Model]:
    from django.apps import apps

    return apps.get_model(policy.label)


def rows_of(policy: ModelPolicy, user: Any) -> models.QuerySet:
    """The user's rows of a declared model: through its owner path, or through the ids of the
    user's rows of another declared model (a table in the other database)."""
    model = model_for(policy)
    if policy.owner:
        paths = (policy.owner,) if isinstance(policy.owner, str) else policy.owner
        return model._default_manager.filter(
            functools.reduce(operator.or_, (Q(**{path: user.pk}) for path in paths))
        )
    if policy.via:
        column, label = policy.via
        target = registry.policy(label)
        ids = list(rows_of(target, user).values_list("pk", flat=True))
        return model._default_manager.filter(**{f"{column}__in": ids})
    return model._default_manager.none()


def exported_columns(policy: ModelPolicy) -> list[str]:
    """The columns an export shows: every concrete field but the declared secrets."""
    model = model_for(policy)
    return [
        field.attname
        for field in model._meta.concrete_fields
        if field.name not in policy.secret_fields and field.attname not in policy.secret_fields
    ]
