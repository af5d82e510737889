from __future__ import annotations

from typing import Any

import pytest

from sync.models import Team
from tests.staff.teams import make_team


@pytest.fixture
def globex(db: None) -> Team:
    return make_team("globex", 2002, "Globex Corporation")


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """The personas' passwords are hashed with a fast hasher: these tests are not about them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
