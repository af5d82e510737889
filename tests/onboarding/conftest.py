from __future__ import annotations

from tests.onboarding.personas import (  # noqa: F401
    acme,
    alice_github,
    big_org,
    bob_github,
    charlie_github,
    gh,
    many_orgs,
    mona,
)
