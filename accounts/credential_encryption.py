"""Encryption of secrets at rest: broker credentials (api_keys.*_encrypted, BYTEA) and the TOTP
secret (users.mfa_secret, VARCHAR holding the token's ASCII).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, behind MultiFernet so keys rotate: the
first key of settings.FIELD_ENCRYPTION_KEYS encrypts, every listed key decrypts.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialDecryptionError(Exception):
    """The stored bytes do not decrypt with any configured key."""


def _cipher() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid key: {exc}") from exc


def encrypt_credential(clear_text: str) -> bytes:
    return _cipher().encrypt(clear_text.encode())


def decrypt_credential(token: bytes | memoryview) -> str:
    try:
        return _cipher().decrypt(bytes(token)).decode()
    except InvalidToken as exc:
        raise CredentialDecryptionError("The credential cannot be decrypted.") from exc


def rotate_credential(token: bytes | memoryview) -> bytes:
    """Re-encrypt under the current first key."""
    try:
        return _cipher().rotate(bytes(token))
    except InvalidToken as exc:
        raise CredentialDecryptionError("The credential cannot be decrypted.") from exc


def is_under_first_key(token: bytes | memoryview) -> bool:
    """Whether the token decrypts with the first (encrypting) key, i.e. needs no rotation."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(bytes(token))
    except InvalidToken:
        return False
    return True


def encrypt_text_secret(clear_text: str) -> str:
    """A secret kept in a text column (users.mfa_secret): the Fernet token as ASCII."""
    return encrypt_credential(clear_text).decode("ascii")


def decrypt_text_secret(token: str) -> str:
    return decrypt_credential(token.encode("ascii"))
