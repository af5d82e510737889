"""Headers every page gets: no caching of a signed-in visitor's pages, a Content-Security-Policy."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sync.models import Team
from tests.sync.jobs import make_job

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["progress", "staff", "staff-team"])
def test_it_keeps_pages_with_team_data_out_of_caches(
    client: Client, bob: User, sam: User, team: Team, page: str
) -> None:
    job = make_job(team)
    client.force_login(sam if page.startswith("staff") else bob)
    path = {
        "progress": f"/onboarding/sync/{job.pk}/",
        "staff": "/staff/syncs/",
        "staff-team": f"/staff/syncs/teams/{team.pk}/",
    }[page]

    response = client.get(path)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_it_lets_caches_keep_static_files(client: Client, bob: User) -> None:
    client.force_login(bob)

    response = client.get("/static/css/app.css")

    assert "no-store" not in response.get("Cache-Control", "")


def test_it_sends_a_content_security_policy(client: Client) -> None:
    policy = client.get("/onboarding/start/")["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
