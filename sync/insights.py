"""First insights from a team's imported pull requests, computed in SQL on the stored rows.

Two figures over a window (the last 30 days by default), for the team and per repository,
each with the number of pull requests behind it:

- time to first review: from a pull request's creation to the first review submitted by
  someone other than its author, over the pull requests whose first review falls in the window;
- time to merge: from creation to merge, over the pull requests merged in the window.

Deleted pull requests and repositories removed from tracking are left out. The median is
``percentile_cont(0.5)`` on PostgreSQL; elsewhere (SQLite, which ``make run`` uses) the same
median is taken from the middle one or two rows of each group, ranked with window functions
(``ROW_NUMBER`` / ``COUNT`` over a partition), which both databases run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from sync.models import PullRequest, Review, TrackedRepository

WINDOW_DAYS = 30
REVIEW = "review"
MERGE = "merge"
TEAM = 0  # the "repository" id the team-wide figures are grouped under


@dataclass(frozen=True)
class Figure:
    """A median duration in seconds (None: no pull request in the window) and its sample size."""

    median_seconds: float | None
    count: int


NO_FIGURE = Figure(None, 0)


@dataclass(frozen=True)
class RepositoryInsight:
    repository_id: int
    full_name: str
    first_review: Figure
    merge: Figure


@dataclass(frozen=True)
class TeamInsights:
    since: datetime
    until: datetime
    first_review: Figure
    merge: Figure
    repositories: tuple[RepositoryInsight, ...]


def team_insights(
    *, team_id: int, until: datetime | None = None, days: int = WINDOW_DAYS
) -> TeamInsights:
    """Return the team's median times to first review and to merge over the last ``days``."""
    until = until or timezone.now()
    since = until - timedelta(days=days)
    figures = medians(team_id=team_id, since=since, until=until)
    repositories = TrackedRepository.objects.filter(team_id=team_id, untracked_at__isnull=True)
    return TeamInsights(
        since=since,
        until=until,
        first_review=figures.get((REVIEW, TEAM), NO_FIGURE),
        merge=figures.get((MERGE, TEAM), NO_FIGURE),
        repositories=tuple(
            RepositoryInsight(
                repository_id=repo_id,
                full_name=full_name,
                first_review=figures.get((REVIEW, repo_id), NO_FIGURE),
                merge=figures.get((MERGE, repo_id), NO_FIGURE),
            )
            for repo_id, full_name in repositories.order_by("full_name").values_list(
                "pk", "full_name"
            )
        ),
    )


def medians(
    *, team_id: int, since: datetime, until: datetime, percentile: bool | None = None
) -> dict[tuple[str, int], Figure]:
    """Return {(metric, repository id or TEAM): Figure}, computed by the database.

    ``percentile`` picks ``percentile_cont`` (PostgreSQL only) or the window-function median;
    None picks what the database supports.
    """
    postgres = connection.vendor == "postgresql"
    percentile = postgres if percentile is None else percentile
    sql = _samples_sql(postgres) + (_PERCENTILE if percentile else _MIDDLE_ROWS)
    adapt = connection.ops.adapt_datetimefield_value
    window = [adapt(since), adapt(until)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [team_id, window[0], *window, *window])
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return {
        (metric, int(repo)): Figure(float(median), int(count))
        for metric, repo, median, count in rows
    }


def _seconds(start: str, end: str, postgres: bool) -> str:
    if postgres:
        return f"EXTRACT(EPOCH FROM ({end} - {start}))"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


def _samples_sql(postgres: bool) -> str:
    """One row per pull request and metric, then the same rows again under the team.

    Only pull requests updated since the window began can count: on GitHub a review or a merge
    updates its pull request, so ``updated_at`` is at least as late as either (and the
    ``(repository, updated_at)`` index narrows the scan to the window).
    """
    pulls = PullRequest._meta.db_table
    reviews = Review._meta.db_table
    repos = TrackedRepository._meta.db_table
    return f"""
WITH candidates AS (
    SELECT p.id, p.repository_id, p.author_login, p.created_at, p.merged_at
    FROM {pulls} p JOIN {repos} t ON t.id = p.repository_id
    WHERE t.team_id = %s AND t.untracked_at IS NULL AND p.deleted_at IS NULL
      AND p.updated_at >= %s
),
first_review AS (
    SELECT c.id AS pr_id, MIN(r.submitted_at) AS at
    FROM candidates c JOIN {reviews} r ON r.pull_request_id = c.id
    WHERE r.submitted_at IS NOT NULL AND r.author_login <> c.author_login
    GROUP BY c.id
),
samples AS (
    SELECT '{REVIEW}' AS metric, c.repository_id AS repo,
           {_seconds("c.created_at", "f.at", postgres)} AS seconds
    FROM candidates c JOIN first_review f ON f.pr_id = c.id
    WHERE f.at >= %s AND f.at <= %s
    UNION ALL
    SELECT '{MERGE}', c.repository_id, {_seconds("c.created_at", "c.merged_at", postgres)}
    FROM candidates c
    WHERE c.merged_at IS NOT NULL AND c.merged_at >= %s AND c.merged_at <= %s
),
grouped AS (
    SELECT metric, repo, seconds FROM samples
    UNION ALL
    SELECT metric, {TEAM}, seconds FROM samples
)
"""  # noqa: S608 - only table names and this module's constants are interpolated


_PERCENTILE = """
SELECT metric, repo, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds), COUNT(*)
FROM grouped GROUP BY metric, repo
"""

# The median without percentile_cont: the middle row of an odd count, the mean of the middle
# two of an even one ((n + 1) / 2 and (n + 2) / 2 in integer division name both cases).
_MIDDLE_ROWS = """
, ranked AS (
    SELECT metric, repo, seconds,
           ROW_NUMBER() OVER (PARTITION BY metric, repo ORDER BY seconds) AS position,
           COUNT(*) OVER (PARTITION BY metric, repo) AS n
    FROM grouped
)
SELECT metric, repo, AVG(seconds), MAX(n)
FROM ranked WHERE position IN ((n + 1) / 2, (n + 2) / 2)
GROUP BY metric, repo
"""
