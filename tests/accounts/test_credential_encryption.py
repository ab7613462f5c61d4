import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.credential_encryption import (
    CredentialDecryptionError,
    decrypt_credential,
    encrypt_credential,
    rotate_credential,
)

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_a_credential_round_trips_and_is_not_stored_in_clear():
    token = encrypt_credential("s3cret")
    assert b"s3cret" not in token
    assert decrypt_credential(memoryview(token)) == "s3cret"


def test_each_encryption_is_different_for_the_same_text():
    assert encrypt_credential("same") != encrypt_credential("same")


def test_rotation_keeps_old_tokens_readable_and_moves_them_to_the_new_key():
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        token = encrypt_credential("rotate me")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert decrypt_credential(token) == "rotate me"
        rotated = rotate_credential(token)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert decrypt_credential(rotated) == "rotate me"
        with pytest.raises(CredentialDecryptionError):
            decrypt_credential(token)


def test_missing_or_invalid_keys_are_a_configuration_error():
    with override_settings(FIELD_ENCRYPTION_KEYS=[]), pytest.raises(ImproperlyConfigured):
        encrypt_credential("x")
    with override_settings(FIELD_ENCRYPTION_KEYS=["short"]), pytest.raises(ImproperlyConfigured):
        encrypt_credential("x")
