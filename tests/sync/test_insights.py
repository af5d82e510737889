from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from sync import insights
from sync.models import PullRequest, Review, Team, TrackedRepository

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# The medians the database supports: the window-function one everywhere, percentile_cont on
# PostgreSQL.
METHODS = [False] + ([True] if connection.vendor == "postgresql" else [])


def _repo(team: Team, name: str, **fields: object) -> TrackedRepository:
    github_id = TrackedRepository.objects.count() + 1
    return TrackedRepository.objects.create(
        team=team, github_id=github_id, full_name=name, **fields
    )


def _pull(
    repo: TrackedRepository,
    *,
    opened_days_ago: float,
    review_after_h: float | None = None,
    merge_after_h: float | None = None,
    reviewer: str = "hubot",
    **fields: object,
) -> PullRequest:
    number = PullRequest.objects.count() + 1
    created = NOW - timedelta(days=opened_days_ago)
    merged = created + timedelta(hours=merge_after_h) if merge_after_h is not None else None
    reviewed = created + timedelta(hours=review_after_h) if review_after_h is not None else None
    # As on GitHub, a review or a merge updates the pull request.
    updated = max(moment for moment in (created, merged, reviewed) if moment is not None)
    pr = PullRequest.objects.create(
        repository=repo,
        github_id=number,
        number=number,
        title=f"PR {number}",
        state="merged" if merged else "open",
        author_login="mona",
        created_at=created,
        updated_at=updated,
        merged_at=merged,
        **fields,
    )
    if review_after_h is not None:
        Review.objects.create(
            pull_request=pr,
            github_id=number * 10,
            author_login=reviewer,
            state="APPROVED",
            submitted_at=reviewed,
        )
    return pr


@pytest.fixture
def history(team: Team) -> dict[str, TrackedRepository]:
    api, web = _repo(team, "acme/api"), _repo(team, "acme/web")
    # api: reviews after 1, 2, 7 h (median 2 h); merges after 3, 5, 10, 30 h (median 7.5 h).
    _pull(api, opened_days_ago=3, review_after_h=1, merge_after_h=3)
    _pull(api, opened_days_ago=4, review_after_h=2, merge_after_h=5)
    _pull(api, opened_days_ago=5, review_after_h=7, merge_after_h=10)
    _pull(api, opened_days_ago=6, merge_after_h=30)
    # web: one review after 0.5 h, one merge after 1.25 h.
    _pull(web, opened_days_ago=1, review_after_h=0.5, merge_after_h=1.25)
    return {"api": api, "web": web}


def _expected(hours: list[float]) -> insights.Figure:
    return insights.Figure(statistics.median(hours) * 3600, len(hours))


@pytest.mark.parametrize("percentile", METHODS)
def test_it_computes_median_review_and_merge_times_per_repository_and_team(
    team: Team, history: dict[str, TrackedRepository], percentile: bool
) -> None:
    since = NOW - timedelta(days=30)
    figures = insights.medians(team_id=team.pk, since=since, until=NOW, percentile=percentile)
    api, web = history["api"].pk, history["web"].pk
    assert figures[(insights.REVIEW, api)] == _expected([1, 2, 7])
    assert figures[(insights.MERGE, api)] == _expected([3, 5, 10, 30])
    assert figures[(insights.REVIEW, web)] == _expected([0.5])
    assert figures[(insights.MERGE, web)] == _expected([1.25])
    assert figures[(insights.REVIEW, insights.TEAM)] == _expected([0.5, 1, 2, 7])
    assert figures[(insights.MERGE, insights.TEAM)] == _expected([1.25, 3, 5, 10, 30])


def test_it_names_every_tracked_repository_even_without_figures(
    team: Team, history: dict[str, TrackedRepository]
) -> None:
    _repo(team, "acme/quiet")
    found = insights.team_insights(team_id=team.pk, until=NOW)
    assert [r.full_name for r in found.repositories] == ["acme/api", "acme/quiet", "acme/web"]
    assert found.repositories[1].merge == insights.Figure(None, 0)
    assert found.merge == _expected([1.25, 3, 5, 10, 30])
    assert (found.since, found.until) == (NOW - timedelta(days=30), NOW)


@pytest.mark.parametrize("percentile", METHODS)
def test_it_leaves_out_what_is_outside_the_window_deleted_untracked_or_self_reviewed(
    team: Team, history: dict[str, TrackedRepository], percentile: bool
) -> None:
    api = history["api"]
    _pull(api, opened_days_ago=40, review_after_h=1, merge_after_h=2)  # before the window
    _pull(api, opened_days_ago=2, review_after_h=1, merge_after_h=2, deleted_at=NOW)
    _pull(api, opened_days_ago=2, review_after_h=0.1, reviewer="mona")  # the author's own
    gone = _repo(team, "acme/gone", untracked_at=NOW)
    _pull(gone, opened_days_ago=2, review_after_h=100, merge_after_h=100)
    other = Team.objects.create(name="Other", github_org_id=2002, github_org_login="other")
    _pull(_repo(other, "other/x"), opened_days_ago=2, review_after_h=100, merge_after_h=100)

    since = NOW - timedelta(days=30)
    figures = insights.medians(team_id=team.pk, since=since, until=NOW, percentile=percentile)
    assert figures[(insights.REVIEW, insights.TEAM)] == _expected([0.5, 1, 2, 7])
    assert figures[(insights.MERGE, insights.TEAM)] == _expected([1.25, 3, 5, 10, 30])
    assert (insights.MERGE, gone.pk) not in figures


def test_it_has_no_figures_for_a_team_without_pull_requests(team: Team) -> None:
    found = insights.team_insights(team_id=team.pk, until=NOW)
    assert found.first_review == found.merge == insights.Figure(None, 0)
    assert found.repositories == ()
