"""What changed on GitHub since the last sync, asked as cheaply as GitHub allows.

Repositories: one GraphQL query per ``CHANGES_BATCH`` repositories asks each one's last push
(``pushedAt``) and the update time of its most recently updated pull request, through aliased
``repository(owner:, name:)`` fields. A pull request's ``updatedAt`` moves on every edit,
review, comment, push, close and merge, so it is the exact signal; ``pushedAt`` also catches
a push to a branch no pull request shows yet. GitHub charges connection requests / 100, so a
batch of 100 repositories (one ``pullRequests(first: 1)`` each) costs 1 point.
``Repository.updatedAt`` is left out: it moves on stars and settings, never on pull requests.

Members: the REST listing of an organization's members, asked with the ETags of its last
answer (one request per 100 members and role); GitHub answers 304 for free when nothing moved.

GitHub: https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
and https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.github import queries
from sync.github.client import Session, parse_time
from sync.github.errors import Transient
from sync.github.org import MemberData

# GitHub: at most 100 aliased objects is what a query of 1 point can ask for (100 requests).
CHANGES_BATCH = 100
MEMBERS_PER_PAGE = 100  # GitHub's maximum
ROLES = ("admin", "all")

REPOSITORY_CHANGE_FIELDS = """
fragment RepositoryChange on Repository {
  pushedAt
  pullRequests(first: 1, orderBy: {field: UPDATED_AT, direction: DESC}) { nodes { updatedAt } }
}
"""


def changes_query(repositories: int) -> str:
    """Return a query of ``repositories`` aliased repositories (``$o0``/``$n0`` …)."""
    variables = ", ".join(f"$o{i}: String!, $n{i}: String!" for i in range(repositories))
    aliases = "\n".join(
        f"  r{i}: repository(owner: $o{i}, name: $n{i}) {{ ...RepositoryChange }}"
        for i in range(repositories)
    )
    return (
        f"query RepositoryChanges({variables}) {{\n  {queries.RATE_LIMIT_FIELDS}\n{aliases}\n}}\n"
        + REPOSITORY_CHANGE_FIELDS
    )


REPOSITORY_CHANGES_QUERY = changes_query(CHANGES_BATCH)


@dataclass(frozen=True)
class RepositoryState:
    """What GitHub says of one repository now (``found`` False: gone or no longer visible)."""

    full_name: str
    found: bool
    pushed_at: datetime | None = None
    newest_pull_at: datetime | None = None


def repository_states(session: Session, full_names: list[str]) -> list[RepositoryState]:
    """Return each repository's last push and newest pull-request update, in order."""
    states: list[RepositoryState] = []
    for start in range(0, len(full_names), CHANGES_BATCH):
        batch = full_names[start : start + CHANGES_BATCH]
        variables: dict[str, Any] = {}
        for i, full_name in enumerate(batch):
            variables[f"o{i}"], _, variables[f"n{i}"] = full_name.partition("/")
        data = session.graphql(changes_query(len(batch)), variables, partial=True)
        states += [_state(name, data.get(f"r{i}")) for i, name in enumerate(batch)]
    return states


def _state(full_name: str, found: object) -> RepositoryState:
    if not isinstance(found, dict):
        return RepositoryState(full_name, found=False)
    nodes = (found.get("pullRequests") or {}).get("nodes") or []
    newest = nodes[0].get("updatedAt") if nodes and isinstance(nodes[0], dict) else None
    try:
        return RepositoryState(
            full_name, True, parse_time(found.get("pushedAt")), parse_time(newest)
        )
    except ValueError as error:
        raise Transient(f"GitHub sent a malformed time for {full_name}") from error


# -- members ---------------------------------------------------------------------------------


@dataclass
class MemberListing:
    """The organization's members, with the ETag of every page of the listing (per role)."""

    members: list[MemberData]
    etags: dict[str, list[str]] = field(default_factory=dict)


def members_if_changed(
    session: Session, *, org: str, etags: dict[str, list[str]]
) -> MemberListing | None:
    """Return the members of ``org`` if GitHub's listing changed since ``etags``, else None.

    An unchanged listing costs one conditional request per page and role, each a free 304.
    The last page of a listing is never full (a full one is followed by the next, empty
    page), so a member added past it changes that page's ETag too.
    """
    if all(etags.get(role) for role in ROLES) and not any(
        _changed(session, org, role, etags[role]) for role in ROLES
    ):
        return None
    return list_members(session, org=org)


def list_members(session: Session, *, org: str) -> MemberListing:
    """Return every member of ``org`` with their role, and the ETags of the listing's pages."""
    # GitHub: https://docs.github.com/rest/orgs/members#list-organization-members
    listed: dict[str, list[dict[str, Any]]] = {}
    etags: dict[str, list[str]] = {}
    for role in ROLES:
        listed[role], etags[role] = _listing(session, org, role)
    admins = {user["id"] for user in listed["admin"]}
    members = [
        MemberData(
            github_id=int(user["id"]),
            login=str(user["login"]),
            avatar_url=str(user.get("avatar_url") or ""),
            is_bot=user.get("type") == "Bot",
            role="admin" if user["id"] in admins else "member",
        )
        for user in listed["all"]
    ]
    return MemberListing(members, etags)


def _changed(session: Session, org: str, role: str, etags: list[str]) -> bool:
    for page, etag in enumerate(etags, start=1):
        if session.rest_get_if_changed(_path(org), _params(role, page), etag=etag) is not None:
            return True
    return False


def _listing(session: Session, org: str, role: str) -> tuple[list[dict[str, Any]], list[str]]:
    users: list[dict[str, Any]] = []
    etags: list[str] = []
    page = 1
    while True:
        answer = session.rest_get_if_changed(_path(org), _params(role, page), etag="")
        if answer is None or not isinstance(answer[1], list):
            raise Transient(f"GitHub sent a member page of {org} that is not a list.")
        etags.append(answer[0])
        users += answer[1]
        if len(answer[1]) < MEMBERS_PER_PAGE:
            return users, etags
        page += 1


def _path(org: str) -> str:
    return f"/orgs/{org}/members"


def _params(role: str, page: int) -> dict[str, Any]:
    return {"role": role, "per_page": MEMBERS_PER_PAGE, "page": page}
