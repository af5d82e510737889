"""The environment child processes (worker, Daphne) get: this run's database, password included."""

from __future__ import annotations

import dj_database_url
import pytest
from django.db import connection

from tests.processes import child_env


@pytest.mark.django_db
def test_it_passes_the_database_password_to_child_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if connection.vendor == "postgresql":
        monkeypatch.setitem(connection.settings_dict, "PASSWORD", "s3cret:/@?#")
        monkeypatch.setitem(connection.settings_dict, "USER", "ci user")

    parsed = dj_database_url.parse(child_env()["DATABASE_URL"])

    assert parsed["NAME"] == str(connection.settings_dict["NAME"])
    assert parsed["PASSWORD"] == connection.settings_dict["PASSWORD"]
    assert parsed["USER"] == connection.settings_dict["USER"]
