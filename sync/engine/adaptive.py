"""Adaptive page sizes: a GraphQL timeout retries the same page smaller, then grows back.

GitHub stops a query after 10 s and advises asking for fewer nodes
(https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api).
A timeout, in any of its shapes, halves the repository's page size and the nested sizes with
it, down to ``FLOOR``; after ``GROW_AFTER`` pages answered at a size the size doubles back
toward the default. Only a timeout at the floor counts as a failed attempt. A timed-out query
is charged by GitHub, so its cost is added to the job's points.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sync import progress
from sync.engine import state
from sync.engine.steps import SendPage, Step
from sync.github import queries
from sync.github.errors import Timeout
from sync.models import RepoSync

logger = logging.getLogger(__name__)

FLOOR = 10
GROW_AFTER = 3
NESTED_FLOOR = 5
SLOW = "GitHub is slow; fetching smaller pages"


def capped(repo_sync: RepoSync, first: int) -> int:
    """Return the page size to ask for: ``first``, under the repository's cap if it has one."""
    return min(first, repo_sync.page_cap) if repo_sync.page_cap else first


def nested_sizes(repo_sync: RepoSync, default_page: int) -> tuple[int, int]:
    """Return the nested (reviews, commits) page sizes, scaled down with the page cap."""
    if not repo_sync.page_cap:
        return queries.NESTED_REVIEWS, queries.NESTED_COMMITS
    scale = repo_sync.page_cap / default_page
    return (
        max(NESTED_FLOOR, int(queries.NESTED_REVIEWS * scale)),
        max(NESTED_FLOOR, int(queries.NESTED_COMMITS * scale)),
    )


@transaction.atomic
def timed_out(repo_sync_id: int, *, page: int, first: int, error: Timeout) -> list[Step]:
    """Retry ``page`` at half the size, or count a failed attempt when already at the floor."""
    locked = state.lock_repo(repo_sync_id)
    if locked is None or locked.pages_done != page:
        return []
    state.bump_job(locked.job_id, github_points=F("github_points") + queries.page_cost(first))
    if first <= FLOOR:
        return state.repo_retrying(repo_sync_id, page=page, error=error)
    smaller = max(FLOOR, first // 2)
    state.bump_repo(
        repo_sync_id,
        status=RepoSync.Status.RETRYING,
        page_cap=smaller,
        pages_at_cap=0,
        retry_at=timezone.now(),
        error_code="github_slow",
        error_message=f"{SLOW} ({smaller} pull requests a page)",
    )
    progress.job_changed(locked.job_id, urgent=True)
    logger.info(
        "graphql timeout job=%s repo_sync=%s page=%s size=%s -> %s",
        locked.job_id,
        repo_sync_id,
        page,
        first,
        smaller,
    )
    return [SendPage(repo_sync_id, page)]


def after_success(repo_sync: RepoSync, default_page: int) -> dict[str, object]:
    """Return the fields to write after a page answered: the cap grows back after successes."""
    if not repo_sync.page_cap:
        return {}
    answered = repo_sync.pages_at_cap + 1
    if answered < GROW_AFTER:
        message = f"{SLOW} ({repo_sync.page_cap} pull requests a page)"
        return {"pages_at_cap": answered, "error_code": "github_slow", "error_message": message}
    bigger = repo_sync.page_cap * 2
    if bigger >= default_page:
        return {"page_cap": 0, "pages_at_cap": 0}
    message = f"{SLOW} ({bigger} pull requests a page)"
    return {
        "page_cap": bigger,
        "pages_at_cap": 0,
        "error_code": "github_slow",
        "error_message": message,
    }
