"""A real worker's JSON log lines: every line written while a page message is handled carries
the job, team and repository ids as fields of their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.contrib.auth.models import User

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import SyncJob, Team
from tests.sync.importing import (
    connect,
    forget_github_budgets,
    start_sync_worker,
    track_all,
    wait_finished,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"ts"')]


def test_it_tags_every_line_of_a_page_with_its_job_team_and_repository(
    team: Team, alice: User, github: RunningSandbox, tmp_path: Path
) -> None:
    forget_github_budgets()
    repositories = track_all(team, connect(team, alice, github))
    worker = start_sync_worker(
        tmp_path / "worker.log",
        threads=2,
        GITHUB_API_URL=github.api_url,
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    )
    try:
        job = wait_finished(services.start_sync(team=team), timeout=120)
    finally:
        worker.stop()
        dramatiq.get_broker().flush_all()

    assert job.status == SyncJob.Status.SUCCEEDED
    lines = _json_lines(worker.output())
    pages = [line for line in lines if line.get("actor") == "sync_repository_page"]
    # The pages' GitHub requests, as urllib3 logs them, are among them.
    assert any(
        line["logger"] == "urllib3.connectionpool" and "/api/graphql" in line["message"]
        for line in pages
    ), worker.output()[-2000:]
    assert all(line["message_id"] for line in pages)
    assert {(line.get("job_id"), line.get("team_id")) for line in pages} == {(job.pk, team.pk)}
    assert {line.get("repository_id") for line in pages} == {repo.pk for repo in repositories}
