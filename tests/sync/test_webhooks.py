"""The webhook endpoint: signed deliveries from the sandbox's org hook (real HTTP to a live
server) are recorded once and applied through the import's write path; unsigned, wrongly
signed, replayed and oversize deliveries change nothing and are recorded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.testing import RunningSandbox
from sync import memberships
from sync.models import (
    AuditEvent,
    IntegrationCredential,
    Membership,
    PullRequest,
    Review,
    Team,
    TeamMember,
    TrackedRepository,
    WebhookDelivery,
)
from sync.webhooks import health
from sync.webhooks.health import HookCondition
from tests.sync.importing import truth_from_db
from tests.sync.webhooking import apply_queued, hooked_team, post, register, secret_of

pytestmark = pytest.mark.django_db(transaction=True)

Status = WebhookDelivery.Status


@pytest.fixture
def acme(github: RunningSandbox, alice: User, live_server: Any) -> Team:
    team = hooked_team(github, alice)
    register(team, live_server.url)
    github.control.wait_for_deliveries()  # GitHub's ping
    return team


def _repo(team: Team) -> TrackedRepository:
    return TrackedRepository.objects.filter(team=team).order_by("full_name").first()  # type: ignore[return-value]


def _state() -> tuple[object, ...]:
    return (
        list(PullRequest.objects.order_by("pk").values_list("pk", "title", "updated_at")),
        Review.objects.count(),
        list(TeamMember.objects.order_by("pk").values_list("pk", "role")),
        list(Membership.objects.order_by("pk").values_list("pk", flat=True)),
        list(TrackedRepository.objects.order_by("pk").values_list("full_name", "archived")),
    )


def _pr_payload(team: Team, repository: TrackedRepository, number: int = 1) -> dict[str, Any]:
    return {
        "action": "edited",
        "number": number,
        "pull_request": {"id": 1, "number": number, "updated_at": "2030-01-01T00:00:00Z"},
        "repository": {"id": repository.github_id, "full_name": repository.full_name},
        "organization": {"id": team.github_org_id, "login": team.github_org_login},
    }


def test_it_registers_the_hook_and_records_githubs_ping(acme: Team) -> None:
    ping = WebhookDelivery.objects.get(event="ping")
    assert ping.team == acme and ping.status == Status.IGNORED and ping.status_code == 200
    state = health(acme)
    assert state.registered and state.condition == HookCondition.HEALTHY
    assert state.deliveries_24h == 1 and state.failures_24h == 0


def test_it_applies_pr_review_and_push_changes_from_githubs_deliveries(
    acme: Team, github: RunningSandbox
) -> None:
    repository = _repo(acme)
    name = repository.full_name.split("/")[1]
    control = github.control
    control.update_pull("acme", name, 1, title="Fresh from a webhook")
    control.review_pull("acme", name, 2, by="walter", state="APPROVED")
    first_open, second_open = _open_numbers(github, name)[:2]
    control.force_push("acme", name, first_open, keep=1, add=2)
    control.merge_pull("acme", name, second_open, by="mona")
    control.wait_for_deliveries()

    assert apply_queued() == 5  # edited, review, push + synchronize, closed
    pulls = {p.number: p for p in PullRequest.objects.filter(repository=repository)}
    assert pulls[1].title == "Fresh from a webhook"
    assert pulls[2].reviews.filter(author_login="walter", state="APPROVED").exists()
    assert pulls[first_open].commits.count() == 3
    assert pulls[second_open].state == PullRequest.State.MERGED
    assert truth_from_db(acme)["pull_requests"] == 4
    # Each applied PR equals GitHub's: rebuilt one at a time against the sandbox.
    for number, pull in pulls.items():
        assert pull.commits.count() == len(_sandbox_pull_commits(github, name, number))
    refreshed = Team.objects.get(pk=acme.pk)
    assert refreshed.refreshed_by == "webhook" and refreshed.refreshed_at is not None
    statuses = set(WebhookDelivery.objects.exclude(event="ping").values_list("status", flat=True))
    assert statuses <= {Status.APPLIED, Status.IGNORED}


def test_it_follows_members_and_repositories(
    acme: Team, github: RunningSandbox, alice: User
) -> None:
    repository = _repo(acme)
    name = repository.full_name.split("/")[1]
    control = github.control
    control.add_member("acme", "dave")
    control.rename_repo("acme", name, f"{name}-next")
    control.archive_repo("acme", f"{name}-next")
    control.remove_member("acme", "mona")
    control.wait_for_deliveries()
    apply_queued()

    dave = TeamMember.objects.get(team=acme, login="dave")
    assert dave.role == "member"
    repository.refresh_from_db()
    assert repository.full_name == f"acme/{name}-next" and repository.archived
    # mona left on GitHub: alice, signed in as mona, loses the team.
    assert not Membership.objects.filter(team=acme, user=alice).exists()
    assert AuditEvent.objects.get(team=acme, action=memberships.REMOVED).params["user"] == "alice"


def test_it_refuses_an_unsigned_delivery_and_changes_nothing(acme: Team, client: Client) -> None:
    before = _state()
    answer = post(client, _pr_payload(acme, _repo(acme)))
    assert answer.status_code == 401 and "unsigned" in answer.json()["outcome"]
    assert _state() == before
    refused = WebhookDelivery.objects.get(status=Status.REFUSED)
    assert refused.team == acme and refused.status_code == 401 and refused.payload is None


def test_it_refuses_a_wrongly_signed_delivery_and_changes_nothing(
    acme: Team, client: Client, github: RunningSandbox
) -> None:
    before = _state()
    answer = post(client, _pr_payload(acme, _repo(acme)), secret="not the hook's secret")
    assert answer.status_code == 401 and "wrongly signed" in answer.json()["outcome"]
    # The sandbox GitHub signing with the wrong secret meets the same refusal.
    github.control.set_hook_faults(bad_signature=1.0)
    github.control.update_pull("acme", _repo(acme).full_name.split("/")[1], 1, title="Forged")
    github.control.wait_for_deliveries()
    assert github.control.hook_deliveries("acme")[0]["status_code"] == 401
    assert apply_queued() == 0 and _state() == before
    assert WebhookDelivery.objects.filter(status=Status.REFUSED, status_code=401).count() == 2
    assert health(acme).condition == HookCondition.FAILING


def test_it_ignores_a_replayed_delivery(acme: Team, client: Client) -> None:
    repository = _repo(acme)
    guid = str(uuid.uuid4())
    payload = _pr_payload(acme, repository)
    first = post(client, payload, secret=secret_of(acme), guid=guid)
    assert first.status_code == 202
    assert apply_queued() == 1
    before = _state()
    replayed = post(client, payload, secret=secret_of(acme), guid=guid)
    assert replayed.status_code == 200 and "duplicate" in replayed.json()["outcome"]
    assert apply_queued() == 0 and _state() == before
    delivery = WebhookDelivery.objects.get(guid=guid)
    assert delivery.status == Status.APPLIED and delivery.duplicates == 1


def test_it_refuses_an_oversize_delivery_unread(acme: Team, client: Client, settings: Any) -> None:
    settings.WEBHOOK_MAX_BYTES = 4096
    before = _state()
    payload = _pr_payload(acme, _repo(acme)) | {"padding": "x" * 5000}
    answer = post(client, payload, secret=secret_of(acme))
    assert answer.status_code == 413
    assert apply_queued() == 0 and _state() == before
    refused = WebhookDelivery.objects.get(status=Status.REFUSED)
    assert refused.status_code == 413 and refused.size > 4096


def test_it_refuses_a_delivery_for_an_organization_no_team_connected(
    acme: Team, client: Client
) -> None:
    payload = _pr_payload(acme, _repo(acme)) | {"organization": {"id": 999_999}}
    answer = post(client, payload, secret=secret_of(acme))
    assert answer.status_code == 404
    assert WebhookDelivery.objects.get(status=Status.REFUSED).team is None


def _open_numbers(github: RunningSandbox, name: str) -> list[int]:
    import requests

    token = github.control.issue_token("mona", ["repo", "read:org"])
    answer = requests.get(
        f"{github.api_url}/repos/acme/{name}/pulls",
        headers={"Authorization": f"token {token}"},
        params={"state": "open", "per_page": "10"},
        timeout=10,
    )
    return [pull["number"] for pull in answer.json()]


def _sandbox_pull_commits(github: RunningSandbox, name: str, number: int) -> list[Any]:
    import requests

    token = github.control.issue_token("mona", ["repo", "read:org"])
    answer = requests.get(
        f"{github.api_url}/repos/acme/{name}/pulls/{number}/commits",
        headers={"Authorization": f"token {token}"},
        params={"per_page": 100},
        timeout=10,
    )
    return answer.json()  # type: ignore[no-any-return]


def test_it_records_why_a_delivery_could_not_be_applied(
    acme: Team, client: Client, github: RunningSandbox
) -> None:
    from sync.actors import apply_webhook_delivery

    answer = post(client, _pr_payload(acme, _repo(acme)), secret=secret_of(acme))
    assert answer.status_code == 202
    delivery = WebhookDelivery.objects.get(status=Status.QUEUED)
    credential = IntegrationCredential.objects.get(user__membership__team=acme)
    github.control.revoke_token(str(credential.access_token))
    apply_webhook_delivery.fn(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED and "BadCredentials" in delivery.reason
    assert health(acme).condition == HookCondition.FAILING
