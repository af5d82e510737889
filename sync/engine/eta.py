"""The job's ETA: pull requests left, observed throughput, and the rate-limit budget left.

Pull requests left per repository come from its PR totalCount, narrowed to the history
window by how far back in time the pages read so far reached. Throughput is measured over the
job's whole run, so the waits it already had are in it; a budget too small for what is left
adds the time until GitHub's reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sync.github import queries
from sync.github.ratelimit import reserve
from sync.models import RepoSync, SyncJob


@dataclass(frozen=True)
class Forecast:
    prs_left: int  # pull requests still expected in the job's windows
    seconds: int | None  # None before there is a throughput to measure


def forecast(
    *,
    job: SyncJob,
    prs_synced: int,
    now: datetime,
    page_size: int,
    budget: tuple[int, datetime] | None,
) -> Forecast:
    """Return what the job still has to import and how long that will take."""
    left = _prs_left(job.pk)
    return Forecast(
        math.ceil(left),
        _seconds(
            job=job, left=left, prs_synced=prs_synced, now=now, page_size=page_size, budget=budget
        ),
    )


def _seconds(
    *,
    job: SyncJob,
    left: float,
    prs_synced: int,
    now: datetime,
    page_size: int,
    budget: tuple[int, datetime] | None,
) -> int | None:
    if job.started_at is None or prs_synced <= 0:
        return None
    elapsed = max((now - job.started_at).total_seconds(), 0.001)
    seconds = left / (prs_synced / elapsed)
    if budget is not None:
        remaining, reset_at = budget
        points = math.ceil(left / page_size) * queries.page_cost(page_size)
        if points > remaining - reserve("graphql"):
            seconds += max(0.0, (reset_at - now).total_seconds())
    return int(seconds + 0.5)


def _prs_left(job_id: int) -> float:
    rows = list(
        RepoSync.objects.filter(job_id=job_id)
        .exclude(status__in=RepoSync.FINISHED)
        .values("prs_total", "prs_synced", "since", "newest_seen", "oldest_seen")
    )
    known = [_expected(row) for row in rows if row["prs_total"] is not None]
    average = sum(known) / len(known) if known else 0.0
    return sum(
        max(0.0, (_expected(row) if row["prs_total"] is not None else average) - row["prs_synced"])
        for row in rows
    )


def prs_left(repo_sync: RepoSync) -> float:
    """Estimate how many pull requests of one repository's window are still to come."""
    if repo_sync.prs_total is None:
        return float("inf")
    row = {
        "prs_total": repo_sync.prs_total,
        "prs_synced": repo_sync.prs_synced,
        "since": repo_sync.since,
        "newest_seen": repo_sync.newest_seen,
        "oldest_seen": repo_sync.oldest_seen,
    }
    return max(0.0, _expected(row) - repo_sync.prs_synced)


def _expected(row: dict[str, object]) -> float:
    """Estimate how many pull requests of a repository fall in its window."""
    total = float(row["prs_total"])  # type: ignore[arg-type]
    synced = float(row["prs_synced"])  # type: ignore[arg-type]
    since, newest, oldest = row["since"], row["newest_seen"], row["oldest_seen"]
    if not (
        isinstance(since, datetime)
        and isinstance(newest, datetime)
        and isinstance(oldest, datetime)
    ):
        return total
    covered = (newest - oldest).total_seconds()
    wanted = (newest - since).total_seconds()
    if covered <= 0 or oldest <= since:
        return min(total, synced)
    return min(total, synced * wanted / covered)
