"""Writes of the accounts domain: users, their profile and broker API keys (alerts:
accounts/alert_services.py). Each runs in one transaction with its audit row."""

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.credential_encryption import encrypt_credential
from accounts.models import ApiKey, User, default_notification_preferences
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import (
    audit_snapshot,
    audited_create,
    audited_delete,
    record_audit_event,
    save_audited_changes,
)
from core.currencies import validate_iso_4217

API_KEY_AUDIT_FIELDS = ["name", "exchange", "is_testnet", "permissions"]
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "timezone",
    "preferred_currency",
    "notification_preferences",
)


def _validate_new_user(user: User, *, password: str) -> None:
    """Check a new account against the password validators (AUTH_PASSWORD_VALIDATORS, which
    compare the password with the user's email and names, so the caller sets those first) and
    the model's rules, and set its password hash. Every problem is raised at once, as a
    ValidationError with field keys, before anything is written."""
    errors: dict[str, list[str]] = {}
    try:
        validate_password(password, user)
    except ValidationError as error:
        errors["password"] = list(error.messages)
    user.set_password(password)
    try:
        user.full_clean()
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def register_user(
    *,
    email: str,
    password: str,
    first_name: str | None = None,
    last_name: str | None = None,
    context: AuditContext | None = None,
) -> User:
    """A new client account. The password must pass the password validators and is hashed with
    Argon2; validation errors are raised as ValidationError with field keys."""
    with transaction.atomic():
        user = User(
            email=User.objects.normalize_email(email), first_name=first_name, last_name=last_name
        )
        _validate_new_user(user, password=password)
        user.save()
        record_audit_event(
            actor=user,
            action=AuditLog.Action.REGISTER,
            resource_type="user",
            resource_id=user.pk,
            new_values=audit_snapshot(user, ["email", "first_name", "last_name"]),
            context=context,
        )
    return user


def create_operator(*, email: str, password: str, context: AuditContext | None = None) -> User:
    """An operator of the admin console (staff and superuser); the password must pass the
    password validators."""
    with transaction.atomic():
        user = User(
            email=User.objects.normalize_email(email),
            is_staff=True,
            is_superuser=True,
            is_verified=True,
        )
        _validate_new_user(user, password=password)
        user.save()
        record_audit_event(
            actor=None,
            action=AuditLog.Action.CREATE,
            resource_type="user",
            resource_id=user.pk,
            new_values=audit_snapshot(user, ["email", "is_staff", "is_superuser"]),
            context=context or AuditContext.system("operator_setup"),
        )
    return user


NOTIFICATION_KEYS = tuple(default_notification_preferences())


def _profile_errors(changes: dict[str, Any]) -> dict[str, list[str]]:
    """What the columns' own checks do not cover: a real ISO 4217 currency, and notification
    preferences holding known keys with boolean values."""
    errors: dict[str, list[str]] = {}
    currency = changes.get("preferred_currency")
    if currency is not None:
        try:
            validate_iso_4217(currency)
        except ValidationError as error:
            errors["preferred_currency"] = error.messages
    if "notification_preferences" in changes:
        preferences = changes["notification_preferences"]
        problems = []
        if not isinstance(preferences, dict):
            problems.append("Must be an object of preference name to true or false.")
        else:
            known = ", ".join(NOTIFICATION_KEYS)
            problems += [
                f"{key}: unknown preference; the preferences are {known}."
                for key in preferences
                if key not in NOTIFICATION_KEYS
            ]
            problems += [
                f"{key}: must be true or false."
                for key, value in preferences.items()
                if key in NOTIFICATION_KEYS and not isinstance(value, bool)
            ]
        if problems:
            errors["notification_preferences"] = problems
    return errors


def update_profile(
    *, user: User, actor: User, changes: dict[str, Any], context: AuditContext | None = None
) -> User:
    """Change profile fields (see PROFILE_FIELDS); other keys are refused. Notification
    preferences merge: the keys given replace theirs, the others keep their values."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"Not profile fields: {', '.join(sorted(unknown))}")
    if errors := _profile_errors(changes):
        raise ValidationError(errors)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if "notification_preferences" in changes:
            merged = {
                **default_notification_preferences(),
                **(locked.notification_preferences or {}),
            }
            changes = {
                **changes,
                "notification_preferences": {**merged, **changes["notification_preferences"]},
            }
        save_audited_changes(
            instance=locked,
            changes=changes,
            actor=actor,
            action=AuditLog.Action.SETTINGS_CHANGED,
            resource_type="user",
            context=context,
        )
    user.refresh_from_db()
    return user


def create_api_key(
    *,
    user: User,
    name: str,
    exchange: str,
    api_key: str,
    api_secret: str,
    passphrase: str | None = None,
    is_testnet: bool = True,
    permissions: list[str] | None = None,
    context: AuditContext | None = None,
) -> ApiKey:
    """Store a user's broker credentials encrypted. The clear text is never logged or audited."""
    with transaction.atomic():
        key = ApiKey(
            user=user,
            name=name,
            exchange=exchange,
            is_testnet=is_testnet,
            api_key_encrypted=encrypt_credential(api_key),
            api_secret_encrypted=encrypt_credential(api_secret),
            passphrase_encrypted=encrypt_credential(passphrase) if passphrase else None,
            permissions=permissions if permissions is not None else ["read"],
        )
        try:
            with transaction.atomic():
                audited_create(
                    instance=key,
                    actor=user,
                    action=AuditLog.Action.API_KEY_CREATED,
                    fields=API_KEY_AUDIT_FIELDS,
                    context=context,
                )
        except IntegrityError as error:
            # Another request stored the same exchange and network between the check and here.
            raise ValidationError(
                "You already have a key for this exchange and network (testnet or live)."
            ) from error
    return key


def delete_api_key(*, api_key: ApiKey, actor: User, context: AuditContext | None = None) -> None:
    audited_delete(
        instance=api_key,
        actor=actor,
        action=AuditLog.Action.API_KEY_DELETED,
        fields=API_KEY_AUDIT_FIELDS,
        context=context,
    )


def record_sign_in(*, user: User, context: AuditContext | None = None) -> None:
    """A successful sign-in (admin console or API session), for the audit trail."""
    record_audit_event(
        actor=user,
        action=AuditLog.Action.LOGIN,
        resource_type="user",
        resource_id=user.pk,
        context=context,
    )


def record_sign_out(*, user: User, context: AuditContext | None = None) -> None:
    record_audit_event(
        actor=user,
        action=AuditLog.Action.LOGOUT,
        resource_type="user",
        resource_id=user.pk,
        context=context,
    )
