"""The sandbox Jira's state: sites and projects from the seed, and Atlassian's OAuth 2.0 (3LO)
grants, codes and rotating refresh tokens.

Atlassian: https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/ and
https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens/. One Atlassian
user (the sandbox has no sign-in); the app is granted site by site on the consent page, and
every token of that user sees every granted site. All state sits behind one lock.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass, field

from sandbox.github.limits import Clock
from sandbox.standin import StandInWorld

ACCESS_TTL_S = 3600  # Atlassian: access tokens expire after one hour
# Atlassian: a used refresh token may be used again within a 10-minute leeway; reuse after that
# invalidates the whole family. Refresh tokens expire after 90 days unused, 365 days in all.
REUSE_LEEWAY_S = 600
INACTIVITY_S = 90 * 86400
ABSOLUTE_S = 365 * 86400
KNOWN_SCOPES = (
    "read:jira-work",
    "read:jira-user",
    "write:jira-work",
    "manage:jira-project",
    "manage:jira-configuration",
    "offline_access",
    "read:me",
)
PROJECT_NAMES = (
    ("PLAT", "Platform"), ("WEB", "Web App"), ("MOB", "Mobile"), ("BILL", "Billing"),
    ("INFRA", "Infrastructure"), ("SUP", "Support"), ("DATA", "Data Pipeline"),
    ("SEC", "Security"), ("GROW", "Growth"), ("DOCS", "Documentation"),
)  # fmt: skip
AVATAR = "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    key: str
    name: str
    type_key: str  # "software" | "business"
    simplified: bool  # team-managed ("next-gen") projects
    private: bool


@dataclass(frozen=True, slots=True)
class Site:
    id: str  # the cloud id
    name: str
    url: str
    projects: tuple[Project, ...]


@dataclass(slots=True)
class Family:
    """The tokens descended from one authorization code."""

    id: int
    scopes: tuple[str, ...]
    created_at: float
    revoked: bool = False


@dataclass(slots=True)
class Refresh:
    family: int
    issued_at: float
    used_at: float | None = None
    replaced_by: str | None = None


@dataclass(slots=True)
class Access:
    family: int
    expires_at: float


@dataclass(slots=True)
class Answer:
    """A token endpoint answer: the status and the JSON body, as Atlassian sends them."""

    status: int
    body: dict[str, object] = field(default_factory=dict)


def _error(status: int, error: str, description: str) -> Answer:
    return Answer(status, {"error": error, "error_description": description})


class Jira(StandInWorld):
    """Sites, projects and the OAuth state of one sandbox Jira."""

    def __init__(self, *, seed: int, clock: Clock, client_id: str, client_secret: str) -> None:
        super().__init__(clock=clock, client_id=client_id, client_secret=client_secret)
        self.sites = _build_sites(seed)
        self.granted: dict[str, tuple[str, ...]] = {}  # site id -> scopes granted on it
        self.families: dict[int, Family] = {}
        self.refresh_tokens: dict[str, Refresh] = {}
        self.access_tokens: dict[str, Access] = {}

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)

    # -- consent and codes -------------------------------------------------------------------

    def grant(
        self, *, site_id: str, client_id: str, redirect_uri: str, scopes: tuple[str, ...]
    ) -> str:
        """Record the user's consent for ``site_id`` and return a single-use code."""
        with self.lock:
            self.granted[site_id] = scopes
        return self.issue_code(client_id=client_id, redirect_uri=redirect_uri, scopes=scopes)

    def exchange(self, *, code: str, redirect_uri: str | None) -> Answer:
        """Trade a code for the first access and refresh tokens."""
        with self.lock:
            found, problem = self.take_code(code, redirect_uri)
            if found is None:
                described = (
                    "Invalid redirect_uri"
                    if problem == "redirect_uri"
                    else "Invalid authorization code"
                )
                return _error(403, "invalid_grant", described)
            now = self.clock.now()
            family = Family(len(self.families) + 1, found.scopes, now)
            self.families[family.id] = family
            return Answer(200, self._issue(family, now))

    def refresh(self, *, refresh_token: str) -> Answer:
        """Rotate a refresh token: a new access and refresh token, the old one invalidated."""
        invalid = _error(403, "invalid_grant", "Unknown or invalid refresh token.")
        with self.lock:
            now = self.clock.now()
            found = self.refresh_tokens.get(refresh_token)
            if found is None:
                return invalid
            family = self.families[found.family]
            if family.revoked or now - family.created_at > ABSOLUTE_S:
                return invalid
            if found.used_at is None and now - found.issued_at > INACTIVITY_S:
                return invalid
            if found.used_at is not None and now - found.used_at > REUSE_LEEWAY_S:
                family.revoked = True  # reuse outside the leeway: the user must consent again
                return invalid
            found.used_at = found.used_at or now
            return Answer(200, self._issue(family, now))

    def _issue(self, family: Family, now: float) -> dict[str, object]:
        access = secrets.token_urlsafe(48)
        self.access_tokens[access] = Access(family.id, now + ACCESS_TTL_S)
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": ACCESS_TTL_S,
            "token_type": "Bearer",
            "scope": " ".join(family.scopes),
        }
        if "offline_access" in family.scopes:
            value = secrets.token_urlsafe(48)
            self.refresh_tokens[value] = Refresh(family.id, now)
            body["refresh_token"] = value
        return body

    # -- access -----------------------------------------------------------------------------

    def scopes_for(self, access_token: str) -> tuple[str, ...] | None:
        """Return the scopes of a live access token; None when unknown, expired or revoked."""
        with self.lock:
            found = self.access_tokens.get(access_token)
            if found is None or self.clock.now() >= found.expires_at:
                return None
            family = self.families[found.family]
            return None if family.revoked else family.scopes

    def accessible_sites(self) -> list[tuple[Site, tuple[str, ...]]]:
        with self.lock:
            return [(s, self.granted[s.id]) for s in self.sites if s.id in self.granted]

    def remove_site(self, site_id: str) -> None:
        """Withdraw the app's grant on one site (a site admin removed the app); tokens live on."""
        with self.lock:
            if self.granted.pop(site_id, None) is None:
                raise KeyError(f"the app is not granted on site {site_id}")

    def revoke(self, access_or_refresh: str | None = None) -> int:
        """Revoke one token's family, or (None) remove the app's access altogether."""
        with self.lock:
            if access_or_refresh is None:
                self.granted.clear()
                families = list(self.families.values())
            else:
                found = self.access_tokens.get(access_or_refresh) or self.refresh_tokens.get(
                    access_or_refresh
                )
                if found is None:
                    raise KeyError("no such Jira token")
                families = [self.families[found.family]]
            for family in families:
                family.revoked = True
            return len(families)


def _build_sites(seed: int) -> list[Site]:
    rng = random.Random(f"jira:{seed}")
    names = list(PROJECT_NAMES)
    rng.shuffle(names)
    main = names[:6]
    labs = names[6:8]
    next_id = 10000
    sites = []
    for site_name, chosen in (("acme", main), ("acme-labs", labs)):
        projects = []
        for key, name in sorted(chosen):
            projects.append(
                Project(
                    id=str(next_id),
                    key=key,
                    name=name,
                    type_key="business" if key in ("SUP", "DOCS") else "software",
                    simplified=rng.random() < 0.4,
                    private=rng.random() < 0.2,
                )
            )
            next_id += 1
        cloud_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        sites.append(
            Site(cloud_id, site_name, f"https://{site_name}.atlassian.net", tuple(projects))
        )
    return sites
