"""Bulk upserts of imported pull requests, reviews and commits, keyed on GitHub's ids.

Writing the same page twice changes nothing: every row is matched on its GitHub key and
updated to the same values. Call inside the page's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from sync.github.pulls import CommitData, PullRequestData, ReviewData
from sync.models import Commit, PullRequest, Review, TeamMember, TrackedRepository

PULL_REQUEST_FIELDS = [
    "repository",
    "number",
    "title",
    "state",
    "draft",
    "author",
    "author_login",
    "created_at",
    "updated_at",
    "closed_at",
    "merged_at",
    "additions",
    "deletions",
    "changed_files",
    "seen_at",
    "deleted_at",
]
REVIEW_FIELDS = ["pull_request", "author", "author_login", "state", "submitted_at"]
COMMIT_FIELDS = ["author", "author_login", "author_name", "authored_at", "additions", "deletions"]


@dataclass(frozen=True)
class Written:
    pull_requests: int
    reviews: int
    commits: int


class MemberIndex:
    """The team's members by login, to link authors and reviewers."""

    def __init__(self, team_id: int) -> None:
        rows = TeamMember.objects.filter(team_id=team_id).values_list("id", "login")
        self._by_key = {_key(login): (member_id, login) for member_id, login in rows}

    def resolve(self, login: str) -> tuple[int | None, str]:
        """Return (member id or None, the login to store) for a login GitHub sent."""
        if not login:
            return None, ""
        found = self._by_key.get(_key(login))
        return found if found else (None, login[:100])


def _key(login: str) -> str:
    # GraphQL names a bot "dependabot" where REST says "dependabot[bot]".
    return login.lower().removesuffix("[bot]")


def save_pulls(
    *, repository: TrackedRepository, pulls: list[PullRequestData], members: MemberIndex
) -> Written:
    """Upsert ``pulls`` with their reviews and commits; return how many rows were written."""
    if not pulls:
        return Written(0, 0, 0)
    unique = list({pull.github_id: pull for pull in pulls}.values())
    rows = [_pull_row(repository, pull, members) for pull in unique]
    PullRequest.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["github_id"],
        update_fields=PULL_REQUEST_FIELDS,
    )
    ids = _ids(rows)
    reviews = {
        review.github_id: _review_row(ids[pull.github_id], review, members)
        for pull in unique
        for review in pull.reviews
    }
    commits = {
        (pull.github_id, commit.sha): _commit_row(ids[pull.github_id], commit, members)
        for pull in unique
        for commit in pull.commits
    }
    Review.objects.bulk_create(
        list(reviews.values()),
        update_conflicts=True,
        unique_fields=["github_id"],
        update_fields=REVIEW_FIELDS,
        batch_size=1000,
    )
    Commit.objects.bulk_create(
        list(commits.values()),
        update_conflicts=True,
        unique_fields=["pull_request", "sha"],
        update_fields=COMMIT_FIELDS,
        batch_size=1000,
    )
    _remove_force_pushed(unique, ids)
    return Written(len(rows), len(reviews), len(commits))


def _remove_force_pushed(pulls: list[PullRequestData], ids: dict[int, int]) -> None:
    """Delete stored commits a PR no longer has (a force-push dropped them from its branch).

    Only for a PR whose commits came back whole: a list cut short proves nothing.
    """
    kept = {
        ids[pull.github_id]: {commit.sha for commit in pull.commits}
        for pull in pulls
        if pull.commits_cursor is None and len({c.sha for c in pull.commits}) >= pull.commits_total
    }
    if not kept:
        return
    stored = Commit.objects.filter(pull_request_id__in=kept).values_list(
        "id", "pull_request_id", "sha"
    )
    gone = [pk for pk, pull_id, sha in stored if sha not in kept[pull_id]]
    if gone:
        Commit.objects.filter(pk__in=gone).delete()


def mark_deleted_pulls(
    *, repository: TrackedRepository, since: datetime | None, seen_from: datetime
) -> int:
    """Mark the repository's PRs a complete import did not see as deleted on GitHub.

    A complete walk of the repository's PRs updated since ``since`` reads every one of them,
    so a stored PR in that range not seen since ``seen_from`` is gone from GitHub.
    """
    missing = PullRequest.objects.filter(repository=repository, deleted_at__isnull=True).exclude(
        seen_at__gte=seen_from
    )
    if since is not None:
        missing = missing.filter(updated_at__gte=since)
    return missing.update(deleted_at=timezone.now())


def mark_repository_deleted(repository_id: int) -> None:
    """Record that GitHub no longer knows the repository (its data stays, marked)."""
    TrackedRepository.objects.filter(pk=repository_id, deleted_at__isnull=True).update(
        deleted_at=timezone.now()
    )


def _ids(rows: list[PullRequest]) -> dict[int, int]:
    """Return GitHub id -> row id (set by the upsert's RETURNING where the backend has it)."""
    if all(row.pk for row in rows):
        return {row.github_id: row.pk for row in rows}
    found = PullRequest.objects.filter(github_id__in=[row.github_id for row in rows])
    return dict(found.values_list("github_id", "id"))


def _pull_row(
    repository: TrackedRepository, pull: PullRequestData, members: MemberIndex
) -> PullRequest:
    author_id, author_login = members.resolve(pull.author_login)
    return PullRequest(
        repository=repository,
        github_id=pull.github_id,
        number=pull.number,
        title=pull.title,
        state=pull.state,
        draft=pull.draft,
        author_id=author_id,
        author_login=author_login,
        created_at=pull.created_at,
        updated_at=pull.updated_at,
        closed_at=pull.closed_at,
        merged_at=pull.merged_at,
        additions=pull.additions,
        deletions=pull.deletions,
        changed_files=pull.changed_files,
        seen_at=timezone.now(),
        deleted_at=None,
    )


def _review_row(pull_request_id: int, review: ReviewData, members: MemberIndex) -> Review:
    author_id, author_login = members.resolve(review.author_login)
    return Review(
        pull_request_id=pull_request_id,
        github_id=review.github_id,
        author_id=author_id,
        author_login=author_login,
        state=review.state[:20],
        submitted_at=review.submitted_at,
    )


def _commit_row(pull_request_id: int, commit: CommitData, members: MemberIndex) -> Commit:
    author_id, author_login = members.resolve(commit.author_login)
    return Commit(
        pull_request_id=pull_request_id,
        sha=commit.sha,
        author_id=author_id,
        author_login=author_login,
        author_name=commit.author_name,
        authored_at=commit.authored_at,
        additions=commit.additions,
        deletions=commit.deletions,
    )
