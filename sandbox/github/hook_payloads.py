"""Webhook payloads in GitHub's shapes, built from the sandbox world.

GitHub: https://docs.github.com/webhooks/webhook-events-and-payloads. Every payload of an org
hook carries ``organization``, ``repository`` (where there is one) and ``sender``; the objects
inside have the REST shapes (``pull_request`` is the full pull request, ``review`` a review
with a lower-case ``state`` as webhooks send it).
"""

from __future__ import annotations

from typing import Any

from sandbox.github.payloads import (
    fake_sha,
    iso,
    org_simple,
    pull_full,
    repo_full,
    review_body,
    simple_user,
)
from sandbox.github.rest import Context
from sandbox.github.world import Account, Commit, Org, PullRequest, Repo, Review

Payload = dict[str, Any]


def _common(ctx: Context, org: Org, sender: Account, repo: Repo | None = None) -> Payload:
    body: Payload = {"organization": org_simple(ctx, org), "sender": simple_user(ctx, sender)}
    if repo is not None:
        body["repository"] = repo_full(ctx, repo)
    return body


def _org(ctx: Context, repo: Repo) -> Org:
    org = ctx.world.org(repo.owner.login)
    assert org is not None
    return org


def pull_request(
    ctx: Context, repo: Repo, pr: PullRequest, action: str, sender: Account
) -> Payload:
    """``pull_request``: opened, edited, closed (merged or not), synchronize, ..."""
    return {
        "action": action,
        "number": pr.number,
        "pull_request": pull_full(ctx, repo, pr),
        **_common(ctx, _org(ctx, repo), sender, repo),
    }


def pull_request_review(ctx: Context, repo: Repo, pr: PullRequest, review: Review) -> Payload:
    """``pull_request_review`` submitted (``review.state`` lower-case, as webhooks send it)."""
    body = review_body(ctx, repo, pr, review)
    body["state"] = str(body["state"]).lower()
    return {
        "action": "submitted",
        "review": body,
        "pull_request": pull_full(ctx, repo, pr),
        **_common(ctx, _org(ctx, repo), review.author, repo),
    }


def push(
    ctx: Context, repo: Repo, pr: PullRequest, before: str, added: list[Commit], sender: Account
) -> Payload:
    """``push`` to a pull request's head branch (``forced`` when history was rewritten)."""
    after = pr.commits[-1].sha if pr.commits else fake_sha(pr.id, "empty")
    commits = [_push_commit(ctx, repo, commit) for commit in added]
    return {
        "ref": f"refs/heads/{pr.head_ref}",
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": True,
        "base_ref": None,
        "compare": f"{ctx.site}/{repo.full_name}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "pusher": {"name": sender.login, "email": sender.email},
        **_common(ctx, _org(ctx, repo), sender, repo),
    }


def _push_commit(ctx: Context, repo: Repo, commit: Commit) -> Payload:
    author = {"name": commit.author_name, "email": commit.author_email}
    if commit.author is not None:
        author["username"] = commit.author.login
    return {
        "id": commit.sha,
        "tree_id": fake_sha(commit.sha, "tree"),
        "distinct": True,
        "message": commit.message,
        "timestamp": iso(commit.authored_at),
        "url": f"{ctx.site}/{repo.full_name}/commit/{commit.sha}",
        "author": author,
        "committer": author,
        "added": [],
        "removed": [],
        "modified": [],
    }


def organization_member(
    ctx: Context, org: Org, member: Account, action: str, sender: Account
) -> Payload:
    """``organization`` member_added / member_removed, with the ``membership``."""
    base = f"{ctx.api}/orgs/{org.account.login}"
    return {
        "action": action,
        "membership": {
            "url": f"{base}/memberships/{member.login}",
            "state": "active",
            "role": org.members.get(member.login, "member"),
            "organization_url": base,
            "user": simple_user(ctx, member),
        },
        **_common(ctx, org, sender),
    }


def repository(
    ctx: Context, repo: Repo, action: str, sender: Account, changes: Payload | None = None
) -> Payload:
    """``repository``: renamed, archived, unarchived, deleted, transferred, ..."""
    body: Payload = {"action": action, **_common(ctx, _org(ctx, repo), sender, repo)}
    if changes:
        body["changes"] = changes
    return body


def ping(ctx: Context, org: Org, hook: dict[str, object], sender: Account) -> Payload:
    """``ping``: sent once when a hook is created."""
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": hook["id"],
        "hook": hook,
        **_common(ctx, org, sender),
    }
