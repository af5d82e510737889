from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from sandbox.testing import RunningSandbox
from sync.actors import verify_github_integration
from sync.models import Integration, IntegrationCredential, Team
from tests.processes import Process, wait_for


def _integration(team: Team, user: User, token: str) -> Integration:
    credential = IntegrationCredential.objects.create(
        user=user, provider="github", access_token=token, scopes="read:org,repo"
    )
    return Integration.objects.create(
        team=team, provider="github", credential=credential, status=Integration.Status.ERROR
    )


def _settled(integration: Integration) -> Integration | None:
    integration.refresh_from_db()
    return integration if integration.status != Integration.Status.ERROR else None


@pytest.mark.django_db(transaction=True)
def test_it_decrypts_a_stored_token_in_a_real_worker_process(
    team: Team, alice: User, github: RunningSandbox, worker: Process
) -> None:
    token = github.control.issue_token("mona", ["read:org", "repo"])
    integration = _integration(team, alice, token)

    verify_github_integration.send(integration.pk)

    wait_for(lambda: _settled(integration), timeout=30)
    assert integration.status == Integration.Status.ACTIVE
    assert integration.status_detail == "Verified as mona (read:org, repo)."
    # The worker reached GitHub with the decrypted token, not with the ciphertext.
    assert github.control.counters()["by_token"][token] >= 1
    assert token not in worker.output()


@pytest.mark.django_db(transaction=True)
def test_it_records_a_revoked_token_without_retrying(
    team: Team, alice: User, github: RunningSandbox, worker: Process
) -> None:
    token = github.control.issue_token("mona")
    github.control.revoke_token(token)
    integration = _integration(team, alice, token)

    verify_github_integration.send(integration.pk)

    wait_for(lambda: _settled(integration), timeout=30)
    assert integration.status == Integration.Status.REVOKED
    assert integration.status_detail == "GitHub access was revoked: reconnect."
