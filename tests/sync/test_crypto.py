from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from sync.crypto import DecryptionError
from sync.models import IntegrationCredential

TOKEN = "gho_alice0000000000000000000000000000000"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _store(user: User, token: str = TOKEN) -> IntegrationCredential:
    return IntegrationCredential.objects.create(
        user=user, provider="github", access_token=token, refresh_token="refresh-1"
    )


def _raw(credential: IntegrationCredential) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM sync_integrationcredential WHERE id = %s",
            [credential.pk],
        )
        return cursor.fetchone()


def test_it_round_trips_a_token(alice: User) -> None:
    credential = _store(alice)

    reloaded = IntegrationCredential.objects.get(pk=credential.pk)

    assert reloaded.access_token == TOKEN
    assert reloaded.refresh_token == "refresh-1"


def test_it_never_stores_the_plaintext(alice: User, settings: object) -> None:
    credential = _store(alice)

    access, refresh = _raw(credential)

    assert TOKEN not in access and "refresh-1" not in refresh
    key = Fernet(settings.ENCRYPTION_KEYS[0].encode())  # type: ignore[attr-defined]
    assert key.decrypt(access.encode()).decode() == TOKEN


def test_it_saves_an_unread_row_without_encrypting_twice(alice: User) -> None:
    credential = _store(alice)
    before = _raw(credential)

    reloaded = IntegrationCredential.objects.get(pk=credential.pk)
    reloaded.scopes = "repo"
    reloaded.save()

    assert _raw(credential) == before
    assert IntegrationCredential.objects.get(pk=credential.pk).access_token == TOKEN


def test_it_keeps_the_token_out_of_reprs(alice: User) -> None:
    credential = IntegrationCredential.objects.get(pk=_store(alice).pk)

    assert TOKEN not in repr(credential.access_token)
    assert TOKEN not in repr(credential)


def test_it_rotates_keys_end_to_end(alice: User, settings: object) -> None:
    settings.ENCRYPTION_KEYS = [OLD_KEY]  # type: ignore[attr-defined]
    credential = _store(alice)
    old_raw = _raw(credential)

    settings.ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]  # type: ignore[attr-defined]
    call_command("rotate_encryption_keys")
    settings.ENCRYPTION_KEYS = [NEW_KEY]  # type: ignore[attr-defined]

    assert _raw(credential) != old_raw
    assert IntegrationCredential.objects.get(pk=credential.pk).access_token == TOKEN
    settings.ENCRYPTION_KEYS = [OLD_KEY]  # type: ignore[attr-defined]
    with pytest.raises(DecryptionError):
        _ = IntegrationCredential.objects.get(pk=credential.pk).access_token


def test_it_refuses_a_tampered_ciphertext(alice: User) -> None:
    credential = _store(alice)
    access, _ = _raw(credential)
    tampered = access[:-6] + ("A" if access[-6] != "A" else "B") + access[-5:]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sync_integrationcredential SET access_token = %s WHERE id = %s",
            [tampered, credential.pk],
        )

    reloaded = IntegrationCredential.objects.get(pk=credential.pk)

    with pytest.raises(DecryptionError, match="could not be decrypted"):
        _ = reloaded.access_token
    assert reloaded.refresh_token == "refresh-1"
