"""Reads of the accounts domain, scoped to the user who asks."""

from django.db.models import QuerySet

from accounts.models import AccessToken, Alert, ApiKey, User


def api_keys_for(user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).defer(
        "api_key_encrypted", "api_secret_encrypted", "passphrase_encrypted"
    )


def alerts_for(user: User) -> QuerySet[Alert]:
    return Alert.objects.filter(user=user).order_by("-created_at")


def access_tokens_for(user: User) -> QuerySet[AccessToken]:
    """The user's personal access tokens, newest first."""
    return AccessToken.objects.filter(user=user).order_by("-created_at", "-id")
