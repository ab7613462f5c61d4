"""Reads of the accounts domain, scoped to the user who asks."""

from django.db.models import QuerySet

from accounts.credential_encryption import CredentialDecryptionError, decrypt_credential
from accounts.models import AccessToken, Alert, ApiKey, User


def api_keys_for(user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).defer(
        "api_key_encrypted", "api_secret_encrypted", "passphrase_encrypted"
    )


def alerts_for(user: User) -> QuerySet[Alert]:
    return Alert.objects.filter(user=user).order_by("-created_at")


def api_key_listing_for(user: User) -> QuerySet[ApiKey]:
    """The user's broker keys for display: the encrypted key itself is read (its last four
    characters are shown), never the secret or the passphrase."""
    return (
        ApiKey.objects.filter(user=user)
        .defer("api_secret_encrypted", "passphrase_encrypted")
        .order_by("-created_at")
    )


def api_key_last_four(key: ApiKey) -> str | None:
    """The last four characters of the broker API key (not the secret), to tell keys apart;
    None when it cannot be decrypted with the configured keys."""
    try:
        return decrypt_credential(key.api_key_encrypted)[-4:]
    except CredentialDecryptionError:
        return None


def access_tokens_for(user: User) -> QuerySet[AccessToken]:
    """The user's personal access tokens, newest first."""
    return AccessToken.objects.filter(user=user).order_by("-created_at", "-id")
