"""Encryption of secrets at rest with Fernet keys from settings.

The first key in ``settings.ENCRYPTION_KEYS`` encrypts; every listed key decrypts, so keys
rotate by prepending a new one and running ``manage.py rotate_encryption_keys``.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored secret could not be decrypted: wrong keys, or the ciphertext was altered."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise DecryptionError("No ENCRYPTION_KEYS configured; tokens cannot be read or stored.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """Encrypt ``plaintext`` with the first configured key."""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Decrypt ``ciphertext`` with any configured key, or raise DecryptionError."""
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError) as error:
        raise DecryptionError(
            "A stored secret could not be decrypted: it was encrypted with a key that is not "
            "in ENCRYPTION_KEYS, or it was altered."
        ) from error


def rotate(ciphertext: str) -> str:
    """Re-encrypt ``ciphertext`` with the first configured key."""
    try:
        return _current().rotate(ciphertext.encode()).decode()
    except (InvalidToken, ValueError) as error:
        raise DecryptionError("A stored secret could not be decrypted for rotation.") from error
