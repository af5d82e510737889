"""A model field that keeps text encrypted in the database and decrypts on attribute access."""

from __future__ import annotations

from typing import Any

from django.db import models

from sync import crypto


class Ciphertext(str):
    """Text as stored: passed through to the database as is, never encrypted twice."""


class Secret(str):
    """A decrypted secret whose repr never shows the value (safe in logs and tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('********')"


class _DecryptOnAccess:
    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: models.Model | None, owner: type) -> Any:
        if instance is None:
            return self
        value = instance.__dict__.get(self.name)
        if isinstance(value, Ciphertext):
            value = Secret(crypto.decrypt(value))
            instance.__dict__[self.name] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        if value is not None and not isinstance(value, Ciphertext):
            value = Secret(value)
        instance.__dict__[self.name] = value


class EncryptedTextField(models.TextField):
    """Store text Fernet-encrypted; reading the attribute gives the plaintext.

    Rows load with the ciphertext and decrypt on first access, so listing rows never needs
    the keys and an altered ciphertext fails loudly (``crypto.DecryptionError``) where it is
    read, never returning garbage.
    """

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        setattr(cls, self.attname, _DecryptOnAccess(self.attname))

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # The stored value as is: an unread ciphertext is written back untouched.
        return model_instance.__dict__.get(self.attname)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else Ciphertext(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, Ciphertext):
            return value
        return crypto.encrypt(str(value))

    def to_python(self, value: Any) -> Any:
        return value
