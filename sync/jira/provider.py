"""Jira's step: connect a site with Atlassian's OAuth 2.0 (3LO), choose its projects.

Atlassian's access tokens last an hour and rotate with their refresh token
(``refreshes = True``); the projects page shows one granted site at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.access import Action
from sync.jira import client as jira
from sync.providers.base import Chosen, Grant, Provider, WithToken
from sync.providers.errors import NothingOffered, UnknownChoice


@dataclass(frozen=True)
class JiraChoices:
    """What the projects page offers: the granted sites, one site's projects, the saved pick."""

    sites: list[jira.Site]
    site: jira.Site | None
    projects: list[jira.Project]
    chosen_keys: frozenset[str]


class JiraProvider(Provider):
    name = "jira"
    label = "Jira"
    action = Action.JIRA
    refreshes = True

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        return jira.make_client().authorize_url(redirect_uri=redirect_uri, state=state)

    def exchange(self, *, code: str, redirect_uri: str) -> Grant:
        return jira.make_client().exchange_code(code=code, redirect_uri=redirect_uri)

    def refresh(self, *, refresh_token: str) -> Grant:
        return jira.make_client().refresh(refresh_token=refresh_token)

    def choices(
        self, *, with_token: WithToken, config: Mapping[str, Any], pick: Mapping[str, Any]
    ) -> JiraChoices:
        """Return the granted sites and the projects of the picked, saved or only site."""
        client = jira.make_client()
        sites = with_token(lambda token: client.accessible_sites(access_token=token))
        if not sites:
            raise NothingOffered("Atlassian grants this connection no Jira site.")
        site_id = str(pick.get("site") or "")
        saved = config.get("site") or {}
        wanted = site_id or saved.get("id") or (sites[0].id if len(sites) == 1 else None)
        site = next((s for s in sites if s.id == wanted), None)
        if site_id and site is None:
            raise UnknownChoice("That Jira site is not one you granted access to.")
        projects: list[jira.Project] = []
        if site is not None:
            cloud_id = site.id
            projects = with_token(
                lambda token: client.list_projects(access_token=token, cloud_id=cloud_id)
            )
        same_site = site is not None and saved.get("id") == site.id
        chosen = {p["key"] for p in config.get("projects", [])} if same_site else set()
        return JiraChoices(sites, site, projects, frozenset(chosen))

    def choose(
        self,
        *,
        with_token: WithToken,
        config: Mapping[str, Any],
        pick: Mapping[str, Any],
        org: str,
    ) -> Chosen:
        """Save the site and projects, checked against what Jira lists now."""
        choices = self.choices(with_token=with_token, config=config, pick=pick)
        keys: list[str] = list(pick.get("projects") or [])
        by_key = {project.key: project for project in choices.projects}
        if choices.site is None or not keys or any(key not in by_key for key in keys):
            raise UnknownChoice("Choose projects from the list Jira shows for this site.")
        site = choices.site
        projects = [
            {"id": by_key[k].id, "key": k, "name": by_key[k].name} for k in dict.fromkeys(keys)
        ]
        return Chosen(
            config={
                "site": {"id": site.id, "name": site.name, "url": site.url},
                "projects": projects,
            },
            external_id=site.id,
            detail=f"{len(projects)} project(s) on {site.name}.",
        )
