"""Recent history first: a first import stores every repository's recent pull requests before
any repository goes deeper, records when that is done, and the pages say so. The engine runs in
this process against the sandbox, one step at a time, so every moment can be looked at; the
drill over a real worker is test_engine_recent_drill.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from onboarding import states
from sandbox.testing import RunningSandbox
from sync import engine, progress, services
from sync.engine.steps import SendPage, StartNext
from sync.models import PullRequest, RepoSync, SyncJob, Team
from tests.sync.importing import connect, forget_github_budgets, since_of, track_all, truth_from_db
from tests.sync.recent import recent_truth_from_db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Long enough that the largest repositories need more than one page to reach it.
RECENT_DAYS = 300
IN_FLIGHT = 2


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox, settings: Any) -> Team:
    settings.SYNC_RECENT_DAYS = RECENT_DAYS
    settings.SYNC_REPOS_IN_FLIGHT = IN_FLIGHT
    forget_github_budgets()
    team.token = connect(team, alice, github)  # type: ignore[attr-defined]
    track_all(team, team.token)  # type: ignore[attr-defined]
    return team


def _start(team: Team) -> SyncJob:
    job = services.start_sync(team=team, history_since=timezone.now() - timedelta(days=800))
    assert engine.start_job(job.pk) == [StartNext(job.pk)]
    return SyncJob.objects.get(pk=job.pk)


def _rows(job: SyncJob) -> dict[int, RepoSync]:
    return {row.pk: row for row in RepoSync.objects.filter(job=job)}


def _unclaimed_short(rows: dict[int, RepoSync]) -> bool:
    """Whether a repository waits for its turn without its recent pages stored."""
    return any(
        row.status == RepoSync.Status.QUEUED and row.dispatched_page < 0 and not row.recent_done_at
        for row in rows.values()
    )


def _run(job: SyncJob, at_each: Any) -> None:
    """Send the job's messages one at a time, first in first out, calling ``at_each`` after each."""
    steps: list[engine.Step] = [StartNext(job.pk)]
    while steps:
        step = steps.pop(0)
        if isinstance(step, SendPage):
            sent = engine.sync_page(step.repo_sync_id, page=step.page)
        elif isinstance(step, StartNext):
            sent = engine.start_next_repositories(step.job_id)
        else:
            engine.finish_job(job.pk)
            sent = []
        for next_step in sent:  # as sync.actors.send_steps notes each page it sends
            if isinstance(next_step, SendPage):
                engine.note_dispatched(next_step.repo_sync_id, page=next_step.page)
        steps += sent
        at_each()


def test_it_stores_every_repositorys_recent_pages_before_any_goes_deeper(
    acme: Team, github: RunningSandbox
) -> None:
    job = _start(acme)
    assert job.recent_since is not None
    line: datetime = job.recent_since
    crossed: dict[int, int] = {}  # repository sync -> pages done when it reached the line
    deeper_while_others_waited: list[str] = []
    seen: dict[str, Any] = {"rows": _rows(job), "ready": None}

    def look() -> None:
        before, rows = seen["rows"], _rows(job)
        for pk, row in rows.items():
            if row.recent_done_at and pk not in crossed:
                crossed[pk] = row.pages_done
            went_deeper = pk in crossed and row.pages_done > max(crossed[pk], before[pk].pages_done)
            if went_deeper and _unclaimed_short(before):
                deeper_while_others_waited.append(str(row.repository_id))
        seen["rows"] = rows
        in_flight = [r for r in rows.values() if r.dispatched_page >= 0 and not r.is_finished]
        seen["most_in_flight"] = max(seen.get("most_in_flight", 0), len(in_flight))
        seen["parked"] = seen.get("parked") or any(
            row.status == RepoSync.Status.QUEUED and row.recent_done_at for row in rows.values()
        )
        current = SyncJob.objects.get(pk=job.pk)
        if current.recent_ready_at and seen["ready"] is None:
            seen["ready"] = _at_ready(current, line, github)

    _run(job, look)

    assert deeper_while_others_waited == []
    assert seen["most_in_flight"] == IN_FLIGHT  # a turn given back is taken by the next one
    ready = seen["ready"]
    assert ready is not None, "the job never said its recent activity was ready"
    assert ready["recent"] == ready["truth"]
    assert ready["truth"]["pull_requests"] > 0
    assert ready["synced"] < ready["expected"]  # older pages were still to come
    assert seen["parked"]  # some repository gave its turn back at the line
    assert "Recent activity ready" in ready["page"]
    done = SyncJob.objects.get(pk=job.pk)
    assert done.status == SyncJob.Status.SUCCEEDED and done.percent == 100
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(done))


def _at_ready(job: SyncJob, line: datetime, github: RunningSandbox) -> dict[str, Any]:
    state = progress.snapshot(SyncJob.objects.select_related("team").get(pk=job.pk))
    assert state.recent_ready and state.is_active
    return {
        "recent": recent_truth_from_db(job.team, since=line),
        "truth": github.control.truth("acme", since=line.isoformat()),
        "synced": job.prs_synced,
        "expected": job.prs_total,
        "page": states.render_page(state),
    }


def test_it_says_it_imports_recent_activity_first_until_it_is_ready(acme: Team) -> None:
    job = _start(acme)
    state = progress.snapshot(SyncJob.objects.select_related("team").get(pk=job.pk))

    assert state.recent_pending and not state.recent_ready
    text = states.page_context(state)["recent"]
    assert text == f"Importing the last {RECENT_DAYS} days of every repository first (0 of 6)"
    assert text in states.render_page(state)


def test_it_keeps_a_parked_repository_waiting_for_its_turn_when_its_last_page_comes_again(
    acme: Team, settings: Any
) -> None:
    settings.SYNC_RECENT_DAYS = 30  # the first page of the largest repository reaches it
    job = _start(acme)
    first, second = engine.start_next_repositories(job.pk)
    assert isinstance(first, SendPage) and isinstance(second, SendPage)
    steps = engine.sync_page(first.repo_sync_id, page=0)
    parked = RepoSync.objects.get(pk=first.repo_sync_id)
    assert steps == [StartNext(job.pk)]
    assert (parked.status, parked.dispatched_page) == (RepoSync.Status.QUEUED, -1)

    # The message for the page that reached the line is delivered again: it starts nothing.
    assert engine.sync_page(parked.pk, page=parked.pages_done - 1) == []
    # Its turn comes after every repository still short of its line.
    claimed = [step.repo_sync_id for step in engine.start_next_repositories(job.pk)]  # type: ignore[union-attr]
    assert parked.pk not in claimed and len(claimed) == 1
    stored = PullRequest.objects.filter(repository_id=parked.repository_id).count()
    assert stored == parked.prs_synced  # nothing of it was fetched twice


def test_it_has_a_recent_phase_only_in_a_first_import(acme: Team, settings: Any) -> None:
    first = services.start_sync(team=acme)
    assert first.recent_since is not None
    expected = timezone.now() - timedelta(days=RECENT_DAYS)
    assert abs((first.recent_since - expected).total_seconds()) < 60
    SyncJob.objects.filter(pk=first.pk).update(status=SyncJob.Status.SUCCEEDED)

    full = services.start_sync(team=acme, kind=SyncJob.Kind.FULL)
    assert full.recent_since is None
    SyncJob.objects.filter(pk=full.pk).update(status=SyncJob.Status.SUCCEEDED)

    settings.SYNC_RECENT_DAYS = 0
    plain = services.start_sync(team=acme)
    assert plain.recent_since is None
    state = progress.snapshot(SyncJob.objects.select_related("team").get(pk=plain.pk))
    assert not state.recent_pending and states.page_context(state)["recent"] == ""


def test_it_sizes_each_repositorys_first_page_to_its_recent_pull_requests_and_one_more(
    acme: Team, settings: Any
) -> None:
    settings.SYNC_RECENT_DAYS = 30  # the first page of the largest repository reaches it
    job = _start(acme)
    assert job.recent_since is not None
    line: datetime = job.recent_since
    counted = {row.pk: row.recent_expected for row in RepoSync.objects.filter(job=job)}
    at_line: dict[int, tuple[int, int]] = {}  # repository sync -> (pages, rows stored) at the line

    def look() -> None:
        for pk, row in _rows(job).items():
            if row.recent_done_at and pk not in at_line:
                stored = PullRequest.objects.filter(repository_id=row.repository_id).count()
                at_line[pk] = (row.pages_done, stored)

    _run(job, look)

    done = SyncJob.objects.get(pk=job.pk)
    assert done.status == SyncJob.Status.SUCCEEDED
    shorter = 0
    for row in RepoSync.objects.filter(job=job):
        pulls = PullRequest.objects.filter(repository_id=row.repository_id)
        recent, whole = pulls.filter(updated_at__gte=line).count(), pulls.count()
        assert counted[row.pk] == recent  # counted before any page, as GitHub's search says
        # One page reached the line, holding the recent pull requests and the next older one.
        assert at_line[row.pk] == (1, min(recent + 1, whole))
        shorter += recent + 1 < min(whole, 50)
    assert shorter > 0  # some first page was smaller than the usual 50
