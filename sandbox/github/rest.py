"""The sandbox GitHub's REST API (``/api/v3``): routes, visibility, pagination and handlers.

GitHub: https://docs.github.com/rest. Bodies (``sandbox.github.payloads``) follow the schemas
of GitHub's OpenAPI description: list items carry what GitHub lists carry and nothing more, so
a client that needs more pays for it with another request. Every URL is built from the caller's
host, so a client that follows them stays in the sandbox.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar
from urllib.parse import urlencode

from sandbox.github.hooks import Hooks
from sandbox.github.payloads import (
    authenticated_user,
    commit_body,
    fake_sha,
    is_member,
    membership_body,
    org_full,
    org_simple,
    pull_full,
    pull_simple,
    repo_full,
    repo_summary,
    review_body,
    scopes,
    simple_user,
)
from sandbox.github.world import (
    Account,
    Commit,
    Org,
    PullRequest,
    Repo,
    Token,
    World,
    is_public_member,
)

T = TypeVar("T")
DOCS = "https://docs.github.com/rest"
ORG_SCOPES = frozenset({"read:org", "write:org", "admin:org", "user"})
ORG_SCOPE_MISSING = "You need the read:org scope to list your organizations."
PR_COMMITS_CAP = 250
_EPOCH = datetime.min.replace(tzinfo=UTC)  # GitHub: this list "returns a maximum of 250 commits"


@dataclass(slots=True)
class Context:
    """What a REST handler knows about the request it answers."""

    world: World
    token: Token | None
    api: str  # http://host:port/api/v3
    site: str  # http://host:port
    args: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    hooks: Hooks | None = None

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


def can_see(ctx: Context, repo: Repo) -> bool:
    """Tell whether the caller may see ``repo``: public, or a member's with the ``repo`` scope."""
    if repo.deleted:
        return False
    if not repo.private:
        return True
    org = ctx.world.org(repo.owner.login)
    return org is not None and is_member(ctx, org) and "repo" in scopes(ctx)


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


# -- handlers --------------------------------------------------------------------------------


def _get_user(ctx: Context, params: dict[str, str]) -> Answer:
    assert ctx.viewer is not None
    return Answer(200, authenticated_user(ctx, ctx.viewer), 1)


def _list_user_orgs(ctx: Context, params: dict[str, str]) -> Answer:
    assert ctx.token is not None
    login = ctx.token.login
    if not scopes(ctx) & ORG_SCOPES:
        # GitHub's description of this endpoint: 403 Forbidden without `read:org` (or `user`).
        return error(403, ORG_SCOPE_MISSING, params["docs"])
    orgs = sorted(ctx.world.orgs_of(login), key=lambda o: o.account.id)
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


def _get_user_membership(ctx: Context, params: dict[str, str]) -> Answer:
    # GitHub: only a member of the organization may ask; 404 for a user who is not one.
    org = _find_org(ctx, params)
    viewer = ctx.viewer
    account = ctx.world.account(params["username"])
    if org is None or viewer is None or viewer.login not in org.members:
        return not_found(params["docs"])
    if account is None or account.login not in org.members:
        return not_found(params["docs"])
    return Answer(200, membership_body(ctx, org, account), 1)


def _list_members(ctx: Context, params: dict[str, str]) -> Answer:
    org = _find_org(ctx, params)
    if org is None:
        return not_found(params["docs"])
    role = ctx.arg("role", "all")
    if role not in ("all", "admin", "member"):
        return validation_failed("Organization", "role", params["docs"])
    logins = [m for m, r in org.members.items() if role in ("all", r)]
    if not (is_member(ctx, org) and scopes(ctx) & ORG_SCOPES):
        # GitHub: outsiders see public members only.
        logins = [m for m in logins if is_public_member(org, m)]
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
    if sort == "created":
        return repo.created_at, repo.id
    # Never pushed: GitHub lists it last when sorting by push (descending).
    return (repo.pushed_at or _EPOCH) if sort == "pushed" else repo.updated_at, repo.id


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
    pulls = [pr for pr in world.pulls(repo) if not pr.deleted]
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
    first_parent = fake_sha(repo.id, pr.base_ref, pr.number)
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
        "GET /orgs/{org}/memberships/{username}",
        _ORG + "/memberships/(?P<username>[^/]+)",
        _get_user_membership,
        "orgs/members#get-organization-membership-for-a-user",
        auth=True,
        scopes=_ORG_READ,
    ),
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
    wanted = "GET" if method == "HEAD" else method
    for route in (*ROUTES, *hook_routes.ROUTES):
        found = route.pattern.match(path)
        if found and route.name.split(" ", 1)[0] == wanted:
            params = {k: v for k, v in found.groupdict().items() if v is not None}
            return route, params | {"docs": route.docs}
    return None


def answer(ctx: Context, route: Route, params: dict[str, str]) -> Answer:
    """Run the route's handler under the world lock."""
    with ctx.world.lock:
        return route.handler(ctx, params)


from sandbox.github import hook_routes  # noqa: E402  (its routes use this module's Route)
