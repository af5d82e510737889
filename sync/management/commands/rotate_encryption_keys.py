"""Re-encrypt every stored secret with the first key in ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from sync import crypto
from sync.fields import Ciphertext, EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the first key of ENCRYPTION_KEYS. "
        "Prepend the new key, run this, then drop the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.fields if isinstance(f, EncryptedTextField)]
            if fields:
                total += _rotate_model(model, [f.attname for f in fields])
        self.stdout.write(f"Re-encrypted {total} secrets with the current key.")


@transaction.atomic
def _rotate_model(model: Any, names: list[str]) -> int:
    count = 0
    for row in model.objects.select_for_update().only("pk", *names).iterator():
        changes = {}
        for name in names:
            stored = row.__dict__.get(name)
            if stored:
                changes[name] = Ciphertext(crypto.rotate(stored))
        if changes:
            model.objects.filter(pk=row.pk).update(**changes)
            count += len(changes)
    return count
