"""The sandbox GitHub's REST API (``/api/v3``): routes, visibility, pagination and bodies.

GitHub: https://docs.github.com/rest. Bodies follow the schemas of GitHub's OpenAPI description
(``simple-user``, ``pull-request-simple``, ``pull-request``, ...): list items carry what GitHub
lists carry and nothing more, so a client that needs more pays for it with another request.
Every URL is built from the caller's host, so a client that follows them stays in the sandbox.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar
from urllib.parse import urlencode

from sandbox.github.world import Account, Commit, Org, PullRequest, Repo, Review, Token, World

T = TypeVar("T")
DOCS = "https://docs.github.com/rest"
ORG_SCOPES = frozenset({"read:org", "write:org", "admin:org", "user"})
PR_COMMITS_CAP = 250  # GitHub: this list "returns a maximum of 250 commits"


@dataclass(slots=True)
class Context:
    """What a REST handler knows about the request it answers."""

    world: World
    token: Token | None
    api: str  # http://host:port/api/v3
    site: str  # http://host:port
    args: list[tuple[str, str]] = field(default_factory=list)

    @property
    def viewer(self) -> Account | None:
        return self.world.account(self.token.login) if self.token else None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = [v for k, v in self.args if k == name]
        return values[-1] if values else default


@dataclass(slots=True)
class Answer:
    status: int
    data: object
    nodes: int = 0
    link: str | None = None


Handler = Callable[[Context, dict[str, str]], Answer]


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # endpoint pattern as GitHub documents it, used by the counters
    pattern: re.Pattern[str]
    handler: Handler
    docs: str
    needs_auth: bool = False
    accepted_scopes: str = ""


def error(status: int, message: str, docs: str = DOCS) -> Answer:
    """Return GitHub's error body (``basic-error``)."""
    return Answer(status, {"message": message, "documentation_url": docs, "status": str(status)})


def not_found(docs: str = DOCS) -> Answer:
    return error(404, "Not Found", docs)


def validation_failed(resource: str, name: str, docs: str) -> Answer:
    body = {
        "message": "Validation Failed",
        "errors": [{"resource": resource, "field": name, "code": "invalid"}],
        "documentation_url": docs,
        "status": "422",
    }
    return Answer(422, body)


# -- timestamps, ids, visibility ---------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _fake_sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def _is_public_member(org: Org, login: str) -> bool:
    # GitHub hides concealed memberships from outsiders; which ones are public is seeded.
    return hashlib.sha256(f"{org.account.login}:{login}".encode()).digest()[0] % 2 == 0


def _scopes(ctx: Context) -> frozenset[str]:
    return frozenset(ctx.token.scopes) if ctx.token else frozenset()


def _is_member(ctx: Context, org: Org) -> bool:
    return ctx.token is not None and ctx.token.login in org.members


def can_see(ctx: Context, repo: Repo) -> bool:
    """Tell whether the caller may see ``repo``: public, or a member's with the ``repo`` scope."""
    if repo.deleted:
        return False
    if not repo.private:
        return True
    org = ctx.world.org(repo.owner.login)
    return org is not None and _is_member(ctx, org) and "repo" in _scopes(ctx)


# -- pagination ----------------------------------------------------------------------------


def _int_arg(ctx: Context, name: str, default: int) -> int:
    try:
        value = int(ctx.arg(name) or default)
    except ValueError:
        return default
    return value if value >= 1 else default


def paginate(ctx: Context, items: Sequence[T], path: str, shape: Callable[[T], object]) -> Answer:
    """Answer one page of ``items`` with GitHub's Link header (per_page default 30, max 100)."""
    per_page = min(_int_arg(ctx, "per_page", 30), 100)
    page = _int_arg(ctx, "page", 1)
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    return Answer(200, [shape(item) for item in chunk], len(chunk), _link(ctx, path, page, last))


def _link(ctx: Context, path: str, page: int, last: int) -> str | None:
    # GitHub writes prev, next, last, first in this order and omits the header on a lone page.
    if page == 1 and last == 1:
        return None
    kept = [(k, v) for k, v in ctx.args if k != "page"]

    def url(number: int) -> str:
        return f"{ctx.api}{path}?{urlencode([*kept, ('page', str(number))])}"

    rels = []
    if page > 1:
        rels.append(f'<{url(page - 1)}>; rel="prev"')
    if page < last:
        rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        rels.append(f'<{url(1)}>; rel="first"')
    return ", ".join(rels)


# -- bodies --------------------------------------------------------------------------------


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
    if "user" not in _scopes(ctx):
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
        # GitHub's description types these as non-null strings.
        "company": f"{org.account.login.title()} Inc.",
        "blog": f"https://{org.account.login}.example.com",
        "location": "Remote",
        "email": f"engineering@{org.account.login}.example.com",
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
    if not _is_member(ctx, org):
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
    counts = int(_fake_sha(repo.id)[:4], 16)
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
        "updated_at": iso(repo.pushed_at),
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
    counts = int(_fake_sha(repo.id, "network")[:4], 16)
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


def _association(account: Account, org: Org | None) -> str:
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
    head_sha = pr.commits[-1].sha if pr.commits else _fake_sha(pr.id, "head")
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
        "user": simple_user(ctx, pr.author),
        "body": pr.body,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": iso(pr.closed_at),
        "merged_at": iso(pr.merged_at),
        "merge_commit_sha": _fake_sha(pr.id, "merge"),
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
        "base": _branch(ctx, repo, pr.base_ref, _fake_sha(repo.id, pr.base_ref, pr.number)),
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
                "sha": _fake_sha(commit.sha, "tree"),
                "url": f"{base}/git/trees/{_fake_sha(commit.sha, 'tree')}",
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


# -- handlers --------------------------------------------------------------------------------


def _get_user(ctx: Context, params: dict[str, str]) -> Answer:
    assert ctx.viewer is not None
    return Answer(200, authenticated_user(ctx, ctx.viewer), 1)


def _list_user_orgs(ctx: Context, params: dict[str, str]) -> Answer:
    assert ctx.token is not None
    login = ctx.token.login
    orgs = sorted(ctx.world.orgs_of(login), key=lambda o: o.account.id)
    if not _scopes(ctx) & ORG_SCOPES:
        # GitHub: without an org scope only publicized memberships are listed.
        orgs = [o for o in orgs if _is_public_member(o, login)]
    return paginate(ctx, orgs, "/user/orgs", lambda o: org_simple(ctx, o))


def _find_org(ctx: Context, params: dict[str, str]) -> Org | None:
    if "org" in params:
        return ctx.world.org(params["org"])
    wanted = int(params["org_id"])
    return next((o for o in ctx.world.orgs.values() if o.account.id == wanted), None)


def _get_org(ctx: Context, params: dict[str, str]) -> Answer:
    org = _find_org(ctx, params)
    return Answer(200, org_full(ctx, org), 1) if org else not_found(params["docs"])


def _get_membership(ctx: Context, params: dict[str, str]) -> Answer:
    org = _find_org(ctx, params)
    viewer = ctx.viewer
    if org is None or viewer is None or viewer.login not in org.members:
        return not_found(params["docs"])
    return Answer(200, membership_body(ctx, org, viewer), 1)


def _list_members(ctx: Context, params: dict[str, str]) -> Answer:
    org = _find_org(ctx, params)
    if org is None:
        return not_found(params["docs"])
    role = ctx.arg("role", "all")
    if role not in ("all", "admin", "member"):
        return validation_failed("Organization", "role", params["docs"])
    logins = [m for m, r in org.members.items() if role in ("all", r)]
    if not (_is_member(ctx, org) and _scopes(ctx) & ORG_SCOPES):
        # GitHub: outsiders see public members only.
        logins = [m for m in logins if _is_public_member(org, m)]
    if ctx.arg("filter", "all") != "all":
        logins = []  # every sandbox member has two-factor authentication enabled
    people = sorted((ctx.world.accounts[m.lower()] for m in logins), key=lambda a: a.id)
    path = f"/organizations/{org.account.id}/members"
    return paginate(ctx, people, path, lambda a: simple_user(ctx, a))


def _list_org_repos(ctx: Context, params: dict[str, str]) -> Answer:
    org = _find_org(ctx, params)
    if org is None:
        return not_found(params["docs"])
    kind = ctx.arg("type", "all")
    sort = ctx.arg("sort", "created")
    # GitHub: direction defaults to asc for full_name, otherwise desc.
    direction = ctx.arg("direction") or ("asc" if sort == "full_name" else "desc")
    checks = (
        ("type", kind, ("all", "public", "private", "forks", "sources", "member")),
        ("sort", sort, ("created", "updated", "pushed", "full_name")),
        ("direction", direction, ("asc", "desc")),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            return validation_failed("Repository", name, params["docs"])
    repos = [r for r in org.repos if can_see(ctx, r) and _repo_kind(r, str(kind))]
    repos.sort(key=lambda r: _repo_sort_key(r, str(sort)), reverse=direction == "desc")
    path = f"/organizations/{org.account.id}/repos"
    return paginate(ctx, repos, path, lambda r: repo_summary(ctx, r))


def _repo_sort_key(repo: Repo, sort: str) -> tuple[Any, int]:
    # The sandbox has no separate "updated" time for a repository: a push updates it.
    if sort == "full_name":
        return repo.full_name.lower(), repo.id
    return (repo.created_at if sort == "created" else repo.pushed_at), repo.id


def _repo_kind(repo: Repo, kind: str) -> bool:
    return {
        "public": not repo.private,
        "private": repo.private,
        "forks": repo.fork,
        "sources": not repo.fork,
    }.get(kind, True)


def _find_repo(ctx: Context, params: dict[str, str]) -> Repo | None:
    if "repo_id" in params:
        repo = ctx.world.repos_by_id.get(int(params["repo_id"]))
    else:
        repo = ctx.world.repo(params["owner"], params["repo"])
    return repo if repo is not None and can_see(ctx, repo) else None


def _get_repo(ctx: Context, params: dict[str, str]) -> Answer:
    repo = _find_repo(ctx, params)
    return Answer(200, repo_full(ctx, repo), 1) if repo else not_found(params["docs"])


def _list_pulls(ctx: Context, params: dict[str, str]) -> Answer:
    repo = _find_repo(ctx, params)
    if repo is None:
        return not_found(params["docs"])
    state = ctx.arg("state", "open")
    sort = ctx.arg("sort", "created")
    # GitHub: direction defaults to desc when sort is created (or absent), otherwise asc.
    direction = ctx.arg("direction") or ("desc" if sort == "created" else "asc")
    checks = (
        ("state", state, ("open", "closed", "all")),
        ("sort", sort, ("created", "updated", "popularity", "long-running")),
        ("direction", direction, ("asc", "desc")),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            return validation_failed("PullRequest", name, params["docs"])
    pulls = _sorted_pulls(ctx.world, repo, str(sort), direction == "desc")
    pulls = [pr for pr in pulls if state in ("all", pr.state) and _branch_match(ctx, repo, pr)]
    path = f"/repositories/{repo.id}/pulls"
    return paginate(ctx, pulls, path, lambda pr: pull_simple(ctx, repo, pr))


def _sorted_pulls(world: World, repo: Repo, sort: str, descending: bool) -> list[PullRequest]:
    if sort in ("created", "updated"):
        return world.sorted_pulls(repo, sort, descending)
    pulls = world.pulls(repo)
    if sort == "popularity":
        # GitHub sorts by comment count; the sandbox counts reviews as its comments.
        return sorted(pulls, key=lambda pr: (len(pr.reviews), pr.number), reverse=descending)
    # long-running: open for more than a month, with activity within the past month.
    month = timedelta(days=30)
    pulls = [
        pr
        for pr in world.sorted_pulls(repo, "created", descending)
        if pr.closed_at is None
        and pr.created_at < world.now - month
        and pr.updated_at >= world.now - month
    ]
    return pulls


def _branch_match(ctx: Context, repo: Repo, pr: PullRequest) -> bool:
    base, head = ctx.arg("base"), ctx.arg("head")
    if base and pr.base_ref != base:
        return False
    return not head or head == f"{repo.owner.login}:{pr.head_ref}"


def _find_pull(ctx: Context, params: dict[str, str]) -> tuple[Repo, PullRequest] | None:
    repo = _find_repo(ctx, params)
    if repo is None:
        return None
    pr = ctx.world.pull(repo, int(params["number"]))
    return (repo, pr) if pr else None


def _get_pull(ctx: Context, params: dict[str, str]) -> Answer:
    found = _find_pull(ctx, params)
    if found is None:
        return not_found(params["docs"])
    return Answer(200, pull_full(ctx, *found), 1)


def _list_reviews(ctx: Context, params: dict[str, str]) -> Answer:
    found = _find_pull(ctx, params)
    if found is None:
        return not_found(params["docs"])
    repo, pr = found
    reviews = sorted(pr.reviews, key=lambda r: (r.submitted_at, r.id))  # chronological
    path = f"/repositories/{repo.id}/pulls/{pr.number}/reviews"
    return paginate(ctx, reviews, path, lambda r: review_body(ctx, repo, pr, r))


def _list_commits(ctx: Context, params: dict[str, str]) -> Answer:
    found = _find_pull(ctx, params)
    if found is None:
        return not_found(params["docs"])
    repo, pr = found
    commits = pr.commits[:PR_COMMITS_CAP]
    parents = {c.sha: p.sha for p, c in pairwise(commits)}
    first_parent = _fake_sha(repo.id, pr.base_ref, pr.number)
    path = f"/repositories/{repo.id}/pulls/{pr.number}/commits"

    def shape(commit: Commit) -> object:
        return commit_body(ctx, repo, commit, parents.get(commit.sha, first_parent))

    return paginate(ctx, commits, path, shape)


def _rate_limit(ctx: Context, params: dict[str, str]) -> Answer:
    raise AssertionError("the gateway answers /rate_limit from the budgets")


# -- routing ---------------------------------------------------------------------------------

_REPO = r"(?:repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)|repositories/(?P<repo_id>\d+))"
_ORG = r"(?:orgs/(?P<org>[^/]+)|organizations/(?P<org_id>\d+))"
_PULL = _REPO + r"/pulls/(?P<number>\d+)"
_REPO_SCOPES = "repo"
_ORG_READ = "admin:org, read:org, repo, user, write:org"


def _route(
    name: str, regex: str, handler: Handler, docs: str, *, auth: bool = False, scopes: str = ""
) -> Route:
    return Route(name, re.compile(f"^/{regex}$"), handler, f"{DOCS}/{docs}", auth, scopes)


ROUTES = (
    _route("GET /user", "user", _get_user, "users/users#get-the-authenticated-user", auth=True),
    _route(
        "GET /user/orgs",
        "user/orgs",
        _list_user_orgs,
        "orgs/orgs#list-organizations-for-the-authenticated-user",
        auth=True,
        scopes=_ORG_READ,
    ),
    _route(
        "GET /user/memberships/orgs/{org}",
        "user/memberships/orgs/(?P<org>[^/]+)",
        _get_membership,
        "orgs/members#get-an-organization-membership-for-the-authenticated-user",
        auth=True,
        scopes=_ORG_READ,
    ),
    _route("GET /orgs/{org}", _ORG, _get_org, "orgs/orgs#get-an-organization"),
    _route(
        "GET /orgs/{org}/members",
        _ORG + "/members",
        _list_members,
        "orgs/members#list-organization-members",
        scopes=_ORG_READ,
    ),
    _route(
        "GET /orgs/{org}/repos",
        _ORG + "/repos",
        _list_org_repos,
        "repos/repos#list-organization-repositories",
    ),
    _route(
        "GET /repos/{owner}/{repo}",
        _REPO,
        _get_repo,
        "repos/repos#get-a-repository",
        scopes=_REPO_SCOPES,
    ),
    _route(
        "GET /repos/{owner}/{repo}/pulls",
        _REPO + "/pulls",
        _list_pulls,
        "pulls/pulls#list-pull-requests",
        scopes=_REPO_SCOPES,
    ),
    _route(
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        _PULL,
        _get_pull,
        "pulls/pulls#get-a-pull-request",
        scopes=_REPO_SCOPES,
    ),
    _route(
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        _PULL + "/reviews",
        _list_reviews,
        "pulls/reviews#list-reviews-for-a-pull-request",
        scopes=_REPO_SCOPES,
    ),
    _route(
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/commits",
        _PULL + "/commits",
        _list_commits,
        "pulls/pulls#list-commits-on-a-pull-request",
        scopes=_REPO_SCOPES,
    ),
    _route(
        "GET /rate_limit",
        "rate_limit",
        _rate_limit,
        "rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user",
    ),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """Find the route for ``method`` and ``path`` (relative to ``/api/v3``)."""
    if method not in ("GET", "HEAD"):
        return None
    for route in ROUTES:
        found = route.pattern.match(path)
        if found:
            params = {k: v for k, v in found.groupdict().items() if v is not None}
            return route, params | {"docs": route.docs}
    return None


def answer(ctx: Context, route: Route, params: dict[str, str]) -> Answer:
    """Run the route's handler under the world lock."""
    with ctx.world.lock:
        return route.handler(ctx, params)
