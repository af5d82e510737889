"""How far a job is, and how long it still takes: the numbers the progress bar and ETA show.

Each repository's size is the number of pull requests in its window, counted before the
import starts (``sync.github.counts``); a page that finds more than the count raises it. A
repository whose count GitHub did not give is sized from its first page (its ``totalCount``,
narrowed to the window by how far back in time the pages reached); until then the job has no
percent at all, rather than a guess.

The percent never promises more than is done: it stays under ``LAST_STRETCH`` while any
repository has pages left, and only the job's finish writes 100. The time left is the work left
at the throughput measured since the pages began (so the waits it already had are in it), plus
the wait for GitHub's reset when the budget left cannot cover the work, smoothed against the
previous estimate counted down, so that one fast or slow page does not swing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.github import queries
from sync.github.ratelimit import reserve
from sync.models import RepoSync, SyncJob

# The percent shown while a repository still has pages left stays below this.
LAST_STRETCH = 95
# The weight of a new estimate against the previous one counted down.
SMOOTHING = 0.3

_ROW_FIELDS = (
    "status",
    "prs_total",
    "prs_expected",
    "prs_synced",
    "since",
    "newest_seen",
    "oldest_seen",
)


@dataclass(frozen=True)
class Estimate:
    prs_expected: int  # pull requests the job will have imported once it is done
    prs_left: int
    sized: bool  # every unfinished repository has a size
    percent: int  # 0 while not sized; below LAST_STRETCH while pages are left
    seconds: int | None  # None before there is a throughput to measure


def estimate(
    *, job: SyncJob, now: datetime, page_size: int, budget: tuple[int, datetime] | None
) -> Estimate:
    """Return how far ``job`` is and how long it still takes, from its repositories' rows."""
    rows = list(RepoSync.objects.filter(job_id=job.pk).values(*_ROW_FIELDS))
    synced = sum(row["prs_synced"] for row in rows)
    sizes = [_size(row) for row in rows]
    sized = all(size is not None for size in sizes)
    expected = sum(size for size in sizes if size is not None)
    left = max(0, expected - synced)
    unfinished = any(row["status"] not in RepoSync.FINISHED for row in rows)
    percent = 0
    if sized and expected:
        percent = min(99, math.floor(100 * synced / expected))  # 100 is the finish's to write
    if sized and unfinished:
        percent = min(percent, LAST_STRETCH - 1)
    seconds = None
    if sized:
        seconds = _seconds(
            job=job, done=synced, left=left, now=now, page_size=page_size, budget=budget
        )
    return Estimate(expected, left, sized, percent, seconds)


def prs_left(repo_sync: RepoSync) -> float:
    """Estimate how many pull requests of one repository's window are still to come."""
    row = {field: getattr(repo_sync, field) for field in _ROW_FIELDS}
    size = _size({**row, "status": RepoSync.Status.RUNNING})
    return float("inf") if size is None else max(0.0, size - repo_sync.prs_synced)


def _size(row: dict[str, Any]) -> int | None:
    """Return a repository's pull requests in its window, or None while nothing says."""
    synced = row["prs_synced"]
    if row["status"] in RepoSync.FINISHED:
        return synced  # what is left of a failed or cancelled one is not work left
    if row["prs_expected"] is not None:
        return max(row["prs_expected"], synced)
    if row["prs_total"] is None:
        return None
    return max(math.ceil(_extrapolated(row)), synced)


def _extrapolated(row: dict[str, Any]) -> float:
    """Estimate a repository's window from its totalCount and the time its pages covered."""
    total = float(row["prs_total"])
    synced = float(row["prs_synced"])
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


def _seconds(
    *,
    job: SyncJob,
    done: int,
    left: int,
    now: datetime,
    page_size: int,
    budget: tuple[int, datetime] | None,
) -> int | None:
    began = job.counted_at or job.started_at
    if began is None or done <= 0:
        return None
    elapsed = max((now - began).total_seconds(), 0.001)
    seconds = left / (done / elapsed)
    if budget is not None:
        remaining, reset_at = budget
        points = math.ceil(left / page_size) * queries.page_cost(page_size)
        if points > remaining - reserve("graphql"):
            seconds += max(0.0, (reset_at - now).total_seconds())
    return _smoothed(job, seconds, now)


def _smoothed(job: SyncJob, seconds: float, now: datetime) -> int:
    if job.eta_seconds is None or job.eta_at is None:
        return int(seconds + 0.5)
    counted_down = max(0.0, job.eta_seconds - (now - job.eta_at).total_seconds())
    return int(SMOOTHING * seconds + (1 - SMOOTHING) * counted_down + 0.5)
