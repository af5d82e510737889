"""redeliver_failed: what GitHub could not deliver (dropped, refused for a bad signature) is
sent again through GitHub's deliveries API, once, and then applied; what arrived is left alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from sandbox.testing import RunningSandbox
from sync.models import IntegrationCredential, PullRequest, Team, TrackedRepository, WebhookDelivery
from sync.webhooks import redeliver_failed
from sync.webhooks.registration import HookForbidden, NotRegistered
from tests.sync.webhooking import apply_queued, hooked_team, register

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(github: RunningSandbox, alice: User, live_server: Any) -> Team:
    team = hooked_team(github, alice)
    register(team, live_server.url)
    github.control.wait_for_deliveries()
    return team


def _name(team: Team) -> str:
    repository = TrackedRepository.objects.filter(team=team).order_by("full_name").first()
    assert repository is not None
    return repository.full_name.split("/")[1]


def test_it_redelivers_dropped_and_wrongly_signed_deliveries_once(
    acme: Team, github: RunningSandbox
) -> None:
    control, name = github.control, _name(acme)
    control.set_hook_faults(drop=1.0)
    control.update_pull("acme", name, 1, title="Dropped on the way")
    control.set_hook_faults(drop=0, bad_signature=1.0)
    control.update_pull("acme", name, 2, title="Signed wrongly")
    control.set_hook_faults(bad_signature=0)
    control.update_pull("acme", name, 3, title="Arrived")
    control.wait_for_deliveries()
    assert apply_queued() == 1
    assert not PullRequest.objects.filter(number__in=[1, 2]).exists()

    report = redeliver_failed(acme.pk)
    assert (report.failed, report.redelivered) == (2, 2)
    control.wait_for_deliveries()
    assert apply_queued() == 2
    titles = dict(PullRequest.objects.values_list("number", "title"))
    assert titles == {1: "Dropped on the way", 2: "Signed wrongly", 3: "Arrived"}
    attempts = control.hook_deliveries("acme")
    assert sum(a["redelivery"] for a in attempts) == 2

    again = redeliver_failed(acme.pk)
    assert again.redelivered == 0  # both arrived since
    control.wait_for_deliveries()
    assert apply_queued() == 0
    applied = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.APPLIED)
    assert applied.count() == 3


def test_it_says_why_it_cannot_redeliver(acme: Team, github: RunningSandbox) -> None:
    credential = IntegrationCredential.objects.get(user__membership__team=acme)
    credential.access_token = github.control.issue_token("mona", ["read:org", "repo"])
    credential.save()
    with pytest.raises(HookForbidden, match="admin:org_hook"):
        redeliver_failed(acme.pk)
    other = Team.objects.create(name="Globex", github_org_id=42, github_org_login="globex")
    with pytest.raises(NotRegistered):
        redeliver_failed(other.pk)
