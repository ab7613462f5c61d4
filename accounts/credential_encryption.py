"""Encryption of broker credentials at rest (api_keys.*_encrypted, BYTEA).

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
    return _cipher().rotate(bytes(token))
