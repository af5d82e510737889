"""Ground truth of a recent window rebuilt from the database, as the sandbox computes it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sandbox.github.world import truth_lines
from sync.models import PullRequest, Team


def recent_truth_from_db(
    team: Team, *, since: datetime, seen_by: datetime | None = None
) -> dict[str, Any]:
    """Return the truth of the team's PRs updated at or after ``since`` (the sandbox's
    ``truth(since=...)``), counting only those stored by ``seen_by`` when it is given."""
    pulls = PullRequest.objects.filter(
        repository__team=team, deleted_at__isnull=True, updated_at__gte=since
    )
    if seen_by is not None:
        pulls = pulls.filter(seen_at__lte=seen_by)
    rows = [
        (
            pr.repository.github_id,
            pr.github_id,
            pr.number,
            pr.state.upper(),
            pr.merged_at,
            pr.updated_at,
            pr.additions,
            pr.deletions,
            pr.author_login,
            [(r.github_id, r.state, r.submitted_at, r.author_login) for r in pr.reviews.all()],
            [(c.sha, c.author_login or None) for c in pr.commits.all()],
        )
        for pr in pulls.select_related("repository").prefetch_related("reviews", "commits")
    ]
    return {
        "pull_requests": len(rows),
        "reviews": sum(len(row[9]) for row in rows),
        "commits": sum(len(row[10]) for row in rows),
        "checksum": hashlib.sha256("\n".join(truth_lines(rows)).encode()).hexdigest(),
    }
