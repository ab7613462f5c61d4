"""Writes of the accounts domain: users, their profile and broker API keys (alerts:
accounts/alert_services.py). Each runs in one transaction with its audit row."""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.credential_encryption import encrypt_credential
from accounts.models import ApiKey, User, default_notification_preferences
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import (
    audited_create,
    audited_delete,
    audited_update,
    record_audit_event,
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


# What the register row records of a new client's account.
REGISTRATION_AUDIT_FIELDS = ["email", "first_name", "last_name"]
# What a row about an account an operator makes or deletes records (never password or MFA secret).
USER_AUDIT_FIELDS = [
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_verified",
    "is_staff",
    "is_superuser",
]
# What an operator changes about an account besides its profile (accounts.admin).
ACCOUNT_FIELDS = ("email", "is_active", "is_verified", "is_staff", "is_superuser")
PRIVILEGE_FIELDS = ("is_staff", "is_superuser")


def _validated_new_user(password: str | None) -> Callable[[User], None]:
    """The `clean` of a new account for audited_create: see _validate_new_user; None: the
    account has no usable password (it signs in once a reset link sets one)."""

    def clean(user: User) -> None:
        if password is None:
            user.set_unusable_password()
            user.full_clean()
        else:
            _validate_new_user(user, password=password)

    return clean


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
    user = User(
        email=User.objects.normalize_email(email), first_name=first_name, last_name=last_name
    )
    audited_create(
        instance=user,
        actor=user,
        action=AuditLog.Action.REGISTER,
        fields=REGISTRATION_AUDIT_FIELDS,
        clean=_validated_new_user(password),
        context=context,
    )
    return user


def create_operator(
    *,
    email: str,
    password: str,
    actor: User | None = None,
    context: AuditContext | None = None,
) -> User:
    """An operator of the admin console (staff and superuser); the password must pass the
    password validators. `actor`: the operator who made it, None for a command or set-up."""
    user = User(
        email=User.objects.normalize_email(email),
        is_staff=True,
        is_superuser=True,
        is_verified=True,
    )
    audited_create(
        instance=user,
        actor=actor,
        fields=USER_AUDIT_FIELDS,
        clean=_validated_new_user(password),
        context=context or AuditContext.system("operator_setup"),
    )
    return user


def add_user(
    *, email: str, password: str | None, actor: User, context: AuditContext | None = None
) -> User:
    """A client account an operator makes (the console's "add user"): the password through the
    validators, or None for an account without a usable password."""
    user = User(email=User.objects.normalize_email(email))
    audited_create(
        instance=user,
        actor=actor,
        fields=USER_AUDIT_FIELDS,
        clean=_validated_new_user(password),
        context=context,
    )
    return user


def _account_errors(user: User, actor: User, changes: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in PRIVILEGE_FIELDS:
        if name in changes and changes[name] != getattr(user, name) and not actor.is_superuser:
            errors[name] = ["Only a superuser gives or takes operator access."]
    if user.pk == actor.pk:
        for name in ("is_active", *PRIVILEGE_FIELDS):
            if changes.get(name) is False and getattr(user, name):
                errors.setdefault(name, []).append(
                    "You cannot take this from your own account; ask another operator."
                )
    return errors


def change_account(
    *, user: User, actor: User, changes: dict[str, Any], context: AuditContext | None = None
) -> User:
    """An operator's change of an account's email, status or operator access (ACCOUNT_FIELDS);
    the profile goes through update_profile. Only a superuser changes operator access; nobody
    deactivates or demotes their own account. Verifying an account stamps verified_at."""
    unknown = set(changes) - set(ACCOUNT_FIELDS)
    if unknown:
        raise ValueError(f"Not account fields: {', '.join(sorted(unknown))}")
    if "email" in changes:
        changes = {**changes, "email": User.objects.normalize_email(changes["email"])}
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if errors := _account_errors(locked, actor, changes):
            raise ValidationError(errors)
        if changes.get("is_verified") and not locked.is_verified and locked.verified_at is None:
            changes = {**changes, "verified_at": timezone.now()}
        audited_update(instance=locked, changes=changes, actor=actor, context=context)
    user.refresh_from_db()
    return user


def delete_user(*, user: User, actor: User, context: AuditContext | None = None) -> None:
    """An operator deletes an account (the console); not their own. GDPR erasure
    (compliance.gdpr) is the path for a person who asks to be forgotten."""
    if user.pk == actor.pk:
        raise ValidationError("You cannot delete your own account; ask another operator.")
    audited_delete(instance=user, actor=actor, fields=USER_AUDIT_FIELDS, context=context)


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
        audited_update(
            instance=locked,
            changes=changes,
            actor=actor,
            action=AuditLog.Action.SETTINGS_CHANGED,
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


API_KEY_EDITABLE_FIELDS = ("name", "is_valid")


def update_api_key(
    *, api_key: ApiKey, actor: User, changes: dict[str, Any], context: AuditContext | None = None
) -> ApiKey:
    """Rename a broker key or mark it valid or invalid (the console); its credentials, exchange
    and network are never changed (store a new key instead). Marking it valid clears the
    exchange's last refusal."""
    unknown = set(changes) - set(API_KEY_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable fields of a broker key: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if changes.get("is_valid") and locked.validation_error:
            changes = {**changes, "validation_error": None}
        audited_update(instance=locked, changes=changes, actor=actor, context=context)
    api_key.refresh_from_db()
    return api_key


def record_sign_in(*, user: User, context: AuditContext | None = None) -> None:
    """A successful sign-in (admin console or API session), for the audit trail: an event, not a
    write of the user (compliance.services.record_audit_event)."""
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
