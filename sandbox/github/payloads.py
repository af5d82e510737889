"""Bodies of the sandbox GitHub's REST answers, shaped after GitHub's OpenAPI schemas.

``simple-user``, ``organization-simple``, ``repository``, ``pull-request-simple``,
``pull-request``, ``review``, ``commit``, ``org-membership`` and ``rate-limit-overview``: list
items carry what GitHub lists carry and nothing more, and every URL is built from the caller's
host (``sandbox.github.rest`` routes the requests).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sandbox.github.world import Account, Commit, Org, PullRequest, Repo, Review

if TYPE_CHECKING:
    from sandbox.github.rest import Context


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def fake_sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def scopes(ctx: Context) -> frozenset[str]:
    return frozenset(ctx.token.scopes) if ctx.token else frozenset()


def is_member(ctx: Context, org: Org) -> bool:
    return ctx.token is not None and ctx.token.login in org.members


def simple_user(ctx: Context, account: Account) -> dict[str, object]:
    """Return the ``simple-user`` shape of an account."""
    base = f"{ctx.api}/users/{account.login}"
    html = f"{ctx.site}/{account.login}"
    if account.type == "Bot":
        html = f"{ctx.site}/apps/{account.login.removesuffix('[bot]')}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": account.node_id,
        "avatar_url": f"{ctx.site}/avatars/u/{account.id}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": html,
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": account.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def authenticated_user(ctx: Context, account: Account) -> dict[str, object]:
    """Return ``GET /user``: private details only with the ``user`` scope, as GitHub does."""
    repos = [r for o in ctx.world.orgs_of(account.login) for r in o.repos if not r.deleted]
    body = simple_user(ctx, account) | {
        "name": account.name,
        "company": None,
        "blog": "",
        "location": None,
        "email": account.email,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "notification_email": account.email,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.created_at + timedelta(days=30)),
    }
    if "user" not in scopes(ctx):
        return body
    return body | {
        "user_view_type": "private",
        "private_gists": 0,
        "total_private_repos": sum(r.private for r in repos),
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": True,
        "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
    }


def org_simple(ctx: Context, org: Org) -> dict[str, object]:
    """Return the ``organization-simple`` shape."""
    base = f"{ctx.api}/orgs/{org.account.login}"
    return {
        "login": org.account.login,
        "id": org.account.id,
        "node_id": org.account.node_id,
        "url": base,
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events",
        "hooks_url": f"{base}/hooks",
        "issues_url": f"{base}/issues",
        "members_url": f"{base}/members{{/member}}",
        "public_members_url": f"{base}/public_members{{/member}}",
        "avatar_url": f"{ctx.site}/avatars/u/{org.account.id}?v=4",
        "description": org.description,
    }


def org_full(ctx: Context, org: Org) -> dict[str, object]:
    """Return the ``organization-full`` shape; members see their plan and private counts."""
    live = [r for r in org.repos if not r.deleted]
    body = org_simple(ctx, org) | {
        "name": org.account.login.title(),
        # GitHub's description types these as non-null strings, yet GitHub sends null for
        # an organization that never filled them in (sandbox/DEVIATIONS.md).
        "company": org.company,
        "blog": f"https://{org.account.login}.example.com",
        "location": org.location,
        "email": org.email,
        "twitter_username": None,
        "is_verified": False,
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": sum(not r.private for r in live),
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "html_url": f"{ctx.site}/{org.account.login}",
        "created_at": iso(org.account.created_at),
        "updated_at": iso(org.account.created_at + timedelta(days=90)),
        "archived_at": None,
        "type": "Organization",
    }
    if not is_member(ctx, org):
        return body
    return body | {
        "total_private_repos": sum(r.private for r in live),
        "owned_private_repos": sum(r.private for r in live),
        "collaborators": 0,
        "default_repository_permission": "read",
        "members_can_create_repositories": True,
        "two_factor_requirement_enabled": True,
        "members_allowed_repository_creation_type": "all",
        "plan": {"name": "team", "space": 976562499, "private_repos": 999999, "seats": 50},
    }


def _repo_urls(ctx: Context, repo: Repo) -> dict[str, str]:
    base = f"{ctx.api}/repos/{repo.full_name}"
    urls = {
        "url": base,
        "html_url": f"{ctx.site}/{repo.full_name}",
        "forks_url": f"{base}/forks",
        "keys_url": f"{base}/keys{{/key_id}}",
        "collaborators_url": f"{base}/collaborators{{/collaborator}}",
        "teams_url": f"{base}/teams",
        "hooks_url": f"{base}/hooks",
        "issue_events_url": f"{base}/issues/events{{/number}}",
        "events_url": f"{base}/events",
        "assignees_url": f"{base}/assignees{{/user}}",
        "branches_url": f"{base}/branches{{/branch}}",
        "tags_url": f"{base}/tags",
        "blobs_url": f"{base}/git/blobs{{/sha}}",
        "git_tags_url": f"{base}/git/tags{{/sha}}",
        "git_refs_url": f"{base}/git/refs{{/sha}}",
        "trees_url": f"{base}/git/trees{{/sha}}",
        "statuses_url": f"{base}/statuses/{{sha}}",
        "languages_url": f"{base}/languages",
        "stargazers_url": f"{base}/stargazers",
        "contributors_url": f"{base}/contributors",
        "subscribers_url": f"{base}/subscribers",
        "subscription_url": f"{base}/subscription",
        "commits_url": f"{base}/commits{{/sha}}",
        "git_commits_url": f"{base}/git/commits{{/sha}}",
        "comments_url": f"{base}/comments{{/number}}",
        "issue_comment_url": f"{base}/issues/comments{{/number}}",
        "contents_url": f"{base}/contents/{{+path}}",
        "compare_url": f"{base}/compare/{{base}}...{{head}}",
        "merges_url": f"{base}/merges",
        "archive_url": f"{base}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{base}/downloads",
        "issues_url": f"{base}/issues{{/number}}",
        "pulls_url": f"{base}/pulls{{/number}}",
        "milestones_url": f"{base}/milestones{{/number}}",
        "notifications_url": f"{base}/notifications{{?since,all,participating}}",
        "labels_url": f"{base}/labels{{/name}}",
        "releases_url": f"{base}/releases{{/id}}",
        "deployments_url": f"{base}/deployments",
    }
    host = ctx.site.split("://", 1)[-1].split(":", 1)[0]
    urls["git_url"] = f"git://{host}/{repo.full_name}.git"
    urls["ssh_url"] = f"git@{host}:{repo.full_name}.git"
    urls["clone_url"] = f"{ctx.site}/{repo.full_name}.git"
    urls["svn_url"] = f"{ctx.site}/{repo.full_name}"
    return urls


def _permissions(ctx: Context, repo: Repo) -> dict[str, bool]:
    org = ctx.world.org(repo.owner.login)
    role = org.members.get(ctx.token.login) if org and ctx.token else None
    admin = role == "admin"
    member = role is not None
    return {"admin": admin, "maintain": admin, "push": member, "triage": member, "pull": True}


def repo_summary(ctx: Context, repo: Repo) -> dict[str, object]:
    """Return a repository as GitHub lists it (``minimal-repository``, PR ``base.repo``)."""
    counts = int(fake_sha(repo.id)[:4], 16)
    body: dict[str, object] = {
        "id": repo.id,
        "node_id": repo.node_id,
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": simple_user(ctx, repo.owner),
        "description": repo.description,
        "fork": repo.fork,
        **_repo_urls(ctx, repo),
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.updated_at),
        "pushed_at": iso(repo.pushed_at),
        "homepage": None,
        "size": repo.pr_count * 13 + 120,
        "stargazers_count": counts % 97,
        "watchers_count": counts % 97,
        "language": repo.language,
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": counts % 7,
        "mirror_url": None,
        "archived": repo.archived,
        "disabled": False,
        "open_issues_count": counts % 23,
        "license": None,
        "allow_forking": False,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private" if repo.private else "public",
        "forks": counts % 7,
        "open_issues": counts % 23,
        "watchers": counts % 97,
        "default_branch": "main",
    }
    if ctx.token is not None:
        body["permissions"] = _permissions(ctx, repo)
    return body


def repo_full(ctx: Context, repo: Repo) -> dict[str, object]:
    """Return ``GET /repos/{owner}/{repo}`` (``full-repository``)."""
    counts = int(fake_sha(repo.id, "network")[:4], 16)
    return repo_summary(ctx, repo) | {
        "temp_clone_token": None,
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_rebase_merge": True,
        "allow_auto_merge": False,
        "delete_branch_on_merge": True,
        "allow_update_branch": False,
        "use_squash_pr_title_as_default": False,
        "squash_merge_commit_message": "COMMIT_MESSAGES",
        "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
        "merge_commit_message": "PR_TITLE",
        "merge_commit_title": "MERGE_MESSAGE",
        "custom_properties": {},
        "organization": simple_user(ctx, repo.owner),
        "network_count": counts % 7,
        "subscribers_count": counts % 11,
    }


def _association(account: Account | None, org: Org | None) -> str:
    if account is None:  # GitHub: a deleted author has no association left
        return "NONE"
    if account.type == "Bot" or org is None or account.login not in org.members:
        return "CONTRIBUTOR"
    return "MEMBER"


def _branch(ctx: Context, repo: Repo, ref: str, sha: str) -> dict[str, object]:
    return {
        "label": f"{repo.owner.login}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": simple_user(ctx, repo.owner),
        "repo": repo_summary(ctx, repo),
    }


def pull_simple(ctx: Context, repo: Repo, pr: PullRequest) -> dict[str, object]:
    """Return a pull request as ``GET .../pulls`` lists it (``pull-request-simple``)."""
    base = f"{ctx.api}/repos/{repo.full_name}"
    html = f"{ctx.site}/{repo.full_name}/pull/{pr.number}"
    head_sha = pr.commits[-1].sha if pr.commits else fake_sha(pr.id, "head")
    links = {
        "self": f"{base}/pulls/{pr.number}",
        "html": html,
        "issue": f"{base}/issues/{pr.number}",
        "comments": f"{base}/issues/{pr.number}/comments",
        "review_comments": f"{base}/pulls/{pr.number}/comments",
        "review_comment": f"{base}/pulls/comments{{/number}}",
        "commits": f"{base}/pulls/{pr.number}/commits",
        "statuses": f"{base}/statuses/{head_sha}",
    }
    return {
        "url": links["self"],
        "id": pr.id,
        "node_id": pr.node_id,
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": links["issue"],
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": simple_user(ctx, pr.author or ctx.world.ghost),
        "body": pr.body,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": iso(pr.closed_at),
        "merged_at": iso(pr.merged_at),
        "merge_commit_sha": fake_sha(pr.id, "merge"),
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": None,
        "draft": pr.draft,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "head": _branch(ctx, repo, pr.head_ref, head_sha),
        "base": _branch(ctx, repo, pr.base_ref, fake_sha(repo.id, pr.base_ref, pr.number)),
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": _association(pr.author, ctx.world.org(repo.owner.login)),
        "auto_merge": None,
        "active_lock_reason": None,
    }


def pull_full(ctx: Context, repo: Repo, pr: PullRequest) -> dict[str, object]:
    """Return ``GET .../pulls/{n}`` (``pull-request``): adds counts, merge state and sizes."""
    is_open = pr.closed_at is None
    return pull_simple(ctx, repo, pr) | {
        "merged": pr.merged_at is not None,
        "mergeable": True if is_open else None,
        "rebaseable": True if is_open else None,
        "mergeable_state": ("draft" if pr.draft else "clean") if is_open else "unknown",
        "merged_by": simple_user(ctx, pr.merged_by) if pr.merged_by else None,
        "comments": 0,
        "review_comments": sum(1 for r in pr.reviews if r.state == "COMMENTED"),
        "maintainer_can_modify": False,
        "commits": len(pr.commits),
        "additions": pr.additions,
        "deletions": pr.deletions,
        "changed_files": pr.changed_files,
    }


def review_body(ctx: Context, repo: Repo, pr: PullRequest, review: Review) -> dict[str, object]:
    """Return the ``pull-request-review`` shape."""
    html = f"{ctx.site}/{repo.full_name}/pull/{pr.number}#pullrequestreview-{review.id}"
    pr_url = f"{ctx.api}/repos/{repo.full_name}/pulls/{pr.number}"
    return {
        "id": review.id,
        "node_id": review.node_id,
        "user": simple_user(ctx, review.author),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pr_url,
        "author_association": _association(review.author, ctx.world.org(repo.owner.login)),
        "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
        "submitted_at": iso(review.submitted_at),
        "commit_id": review.commit_sha,
    }


def commit_body(ctx: Context, repo: Repo, commit: Commit, parent: str) -> dict[str, object]:
    """Return the ``commit`` shape as ``GET .../pulls/{n}/commits`` lists it."""
    base = f"{ctx.api}/repos/{repo.full_name}"
    person = {"name": commit.author_name, "email": commit.author_email}
    user = simple_user(ctx, commit.author) if commit.author else None
    return {
        "sha": commit.sha,
        "node_id": commit.node_id,
        "commit": {
            "author": person | {"date": iso(commit.authored_at)},
            "committer": person | {"date": iso(commit.committed_at)},
            "message": commit.message,
            "tree": {
                "sha": fake_sha(commit.sha, "tree"),
                "url": f"{base}/git/trees/{fake_sha(commit.sha, 'tree')}",
            },
            "url": f"{base}/git/commits/{commit.sha}",
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "url": f"{base}/commits/{commit.sha}",
        "html_url": f"{ctx.site}/{repo.full_name}/commit/{commit.sha}",
        "comments_url": f"{base}/commits/{commit.sha}/comments",
        "author": user,
        "committer": user,
        "parents": [
            {
                "sha": parent,
                "url": f"{base}/commits/{parent}",
                "html_url": f"{ctx.site}/{repo.full_name}/commit/{parent}",
            }
        ],
    }


def membership_body(ctx: Context, org: Org, account: Account) -> dict[str, object]:
    """Return the ``org-membership`` shape."""
    role = org.members[account.login]
    return {
        "url": f"{ctx.api}/orgs/{org.account.login}/memberships/{account.login}",
        "state": "active",
        "role": role,
        "organization_url": f"{ctx.api}/orgs/{org.account.login}",
        "organization": org_simple(ctx, org),
        "user": simple_user(ctx, account),
        "permissions": {"can_create_repository": role == "admin"},
    }


def rate_limit_body(budgets: dict[str, dict[str, int]]) -> dict[str, object]:
    """Return ``GET /rate_limit`` (``rate-limit-overview``) from the caller's budgets."""
    core = budgets["core"]
    fixed = {"limit": 30, "used": 0, "remaining": 30, "reset": core["reset"]}
    return {
        "resources": {
            "core": core,
            "graphql": budgets["graphql"],
            "search": fixed,
            "code_search": fixed | {"limit": 10, "remaining": 10},
            "integration_manifest": {**core, "limit": 5000, "used": 0, "remaining": 5000},
        },
        "rate": core,
    }
