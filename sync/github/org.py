"""An organization's members over REST, parsed into typed rows.

Its repositories come from :func:`sync.github.orgs.list_org_repos`, the one listing (and the one
``Repository`` type) that onboarding and the sync share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.github.client import Session
from sync.github.errors import NotFound


@dataclass(frozen=True, slots=True)
class MemberData:
    github_id: int
    login: str
    avatar_url: str
    is_bot: bool
    role: str  # admin or member


def list_members(session: Session, *, org: str) -> list[MemberData]:
    """Return every member of ``org`` with their role (two listings: admins, then everyone)."""
    # GitHub: https://docs.github.com/rest/orgs/members#list-organization-members
    admins = {user["id"] for user in _all(session, f"/orgs/{org}/members", role="admin")}
    return [
        MemberData(
            github_id=int(user["id"]),
            login=str(user["login"]),
            avatar_url=str(user.get("avatar_url") or ""),
            is_bot=user.get("type") == "Bot",
            role="admin" if user["id"] in admins else "member",
        )
        for user in _all(session, f"/orgs/{org}/members", role="all")
    ]


def is_active_member(session: Session, *, org: str) -> bool:
    """Return whether the token's own user is an active member of ``org`` (404: they are not).

    Other failures raise: they say nothing about the membership.
    """
    # GitHub: https://docs.github.com/rest/orgs/members#get-an-organization-membership-for-the-authenticated-user
    try:
        _, data = session.rest_get(f"/user/memberships/orgs/{org}")
    except NotFound:  # the client names every 404 so; here it means "not a member"
        return False
    return isinstance(data, dict) and data.get("state") == "active"


def _all(session: Session, path: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in session.rest_pages(path, params) for item in page]


def member_role(session: Session, *, org: str, login: str) -> str | None:
    """Return ``login``'s role in ``org`` now (admin or member), or None if not an active member.

    The token's user must be a member of ``org`` themselves.
    """
    # GitHub: https://docs.github.com/rest/orgs/members#get-organization-membership-for-a-user
    try:
        _, data = session.rest_get(f"/orgs/{org}/memberships/{login}")
    except NotFound:
        return None
    if not isinstance(data, dict) or data.get("state") != "active":
        return None
    return "admin" if data.get("role") == "admin" else "member"
