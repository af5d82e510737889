"""The optional providers' steps as the pages show them: words, problems and the picker.

One entry a provider. :mod:`onboarding.views.providers` serves every step from it (connect,
callback, pick, change, disconnect) with the shared templates ``onboarding/provider_*.html``;
the domain side is ``sync.integrations`` and the provider's class in ``sync/<name>/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from onboarding.forms import JiraProjectsForm, JiraSiteForm, SlackChannelForm
from sync.jira.provider import JiraChoices
from sync.models import Integration
from sync.slack.provider import SlackChoices

Problem = tuple[str, str, int]  # title, message, HTTP status


@dataclass(frozen=True)
class Option:
    """One row of the picker: a checkbox or radio with its label and a note."""

    value: str
    label: str
    testid: str
    checked: bool = False
    tag: str = ""
    note: str = ""


@dataclass(frozen=True)
class Offer:
    """What the pick page shows, built from the provider's choices."""

    legend: SafeString
    options: list[Option]
    empty: str
    hidden: dict[str, str] = field(default_factory=dict)
    # A first choice that scopes the list (a Jira site); the list waits for it when unset.
    scopes: list[Option] = field(default_factory=list)
    scope_chosen: bool = True


@dataclass(frozen=True)
class Step:
    name: str  # the provider's name in sync.integrations and in the URLs
    label: str
    vendor: str  # who runs the consent page: "Atlassian"
    pick_path: str  # the pick page's URL segment and URL name: jira/projects/ -> jira_projects
    next_url: str  # where the step leads: the next step's URL name
    purpose: str  # the step page's paragraph, with {org}
    revoked_how: str  # how a grant gets revoked there
    pick_title: str  # "Choose Jira projects"
    choose_label: str  # the step page's button before a choice: "Choose projects"
    change_label: str  # and after it: "Change projects"
    chosen_key: str  # the config key a saved choice sets
    loading: str  # what the pick page says while the list loads
    form: type[forms.Form]
    multiple: bool  # checkboxes (several) or radios (one)
    pick_field: str  # the picked field's name
    offer: Callable[[Any], Offer]
    status: Callable[[Integration], SafeString]
    pick_intro: str = ""  # may hold markup: a SafeString
    scope_form: type[forms.Form] | None = None  # the GET form that scopes the list
    scope_label: str = ""
    scope_waiting: str = ""
    problems: Mapping[str, Problem] = field(default_factory=dict)  # overrides and extras

    @property
    def url_name(self) -> str:
        return f"onboarding:{self.name}"

    @property
    def connect_url_name(self) -> str:
        return f"onboarding:{self.name}_connect"

    @property
    def disconnect_url_name(self) -> str:
        return f"onboarding:{self.name}_disconnect"

    @property
    def pick_url_name(self) -> str:
        return f"onboarding:{self.name}_{self.pick_path}"

    def problem(self, code: str) -> Problem:
        """Return the title, message and status of the page that explains ``code``."""
        if code in self.problems:
            return self.problems[code]
        title, message, status = COMMON_PROBLEMS[code]
        return title.format(**self.words()), message.format(**self.words()), status

    def words(self) -> dict[str, str]:
        return {"label": self.label, "vendor": self.vendor, "name": self.name,
                "setting": self.name.upper(), "revoked_how": self.revoked_how}  # fmt: skip

    def scope(self, query: QueryDict) -> dict[str, str]:
        """Read the list's scope (a Jira site) from the query; empty when none or invalid."""
        if self.scope_form is None:
            return {}
        form = self.scope_form(query)
        return {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}


COMMON_PROBLEMS: dict[str, Problem] = {
    "state_mismatch": (
        "This {label} link is no longer valid",
        "The answer from {vendor} did not match a connection started here: it was already "
        "used, it expired, or it was started in another browser. Nothing was connected.",
        400,
    ),
    "access_denied": (
        "{label} was not connected",
        "You cancelled on {vendor}'s page, so nothing was connected. Connect {label} again, or "
        "skip this step: the import does not need it.",
        403,
    ),
    "bad_code": (
        "{vendor} did not accept the connection code",
        "The code {vendor} sent back was wrong, already used or expired (codes last ten "
        "minutes). Nothing was connected.",
        400,
    ),
    "misconfigured": (
        "This service's {label} app is misconfigured",
        "{vendor} refused our app's client id, secret or redirect URL. An administrator must "
        "set {setting}_CLIENT_ID and {setting}_CLIENT_SECRET to the app's values, and add this "
        "site's /onboarding/{name}/callback/ to the app's redirect URLs.",
        502,
    ),
    "oauth_error": (
        "{vendor} refused the request",
        "{vendor} answered with an error we did not expect. Nothing was changed.",
        400,
    ),
    "unavailable": (
        "{label} did not answer",
        "{vendor} could not be reached or answered with an error. Nothing was lost: try again "
        "in a moment.",
        502,
    ),
    "revoked": (
        "{label} access was revoked",
        "{label} no longer accepts this team's connection: {revoked_how} Connect it again.",
        403,
    ),
    "unknown_choice": (
        "That choice cannot be used",
        "It is not among the ones {label} lists now. Nothing was saved.",
        400,
    ),
    "nothing_offered": (
        "{label} offers nothing to choose",
        "{vendor} lists nothing this connection may use. Connect again.",
        400,
    ),
    "not_admin": (
        "Only the team's admins connect {label}",
        "You are a member of this team, not an admin, so the team's {label} connection is "
        "theirs to set up.",
        403,
    ),
}
# Failures on the pick page that reloading it (or choosing again) can get past.
RETRYABLE = ("unavailable", "unknown_choice", "not_in_channel")
# Failures that connecting again cannot fix.
NOT_BY_CONNECTING = ("not_admin", "misconfigured", "unknown_choice", "not_in_channel")


# -- Jira ------------------------------------------------------------------------------------


def _jira_offer(choices: JiraChoices) -> Offer:
    site = choices.site
    return Offer(
        legend=format_html("Projects on <strong>{}</strong> ({})", site.name, site.url)
        if site
        else SafeString(""),
        options=[
            Option(p.key, p.name, f"project-{p.key}", p.key in choices.chosen_keys, tag=p.key)
            for p in choices.projects
        ],
        empty=f"Jira shows no projects on {site.name} that your account can browse."
        if site
        else "",
        hidden={"site": site.id} if site else {},
        scopes=[
            Option(
                s.id, f"{s.name} ({s.url})", f"site-{s.name}", site is not None and s.id == site.id
            )
            for s in choices.sites
        ]
        if len(choices.sites) > 1
        else [],
        scope_chosen=site is not None,
    )


def _jira_status(integration: Integration) -> SafeString:
    site = integration.config.get("site")
    if not site:
        return format_html("Jira is connected: choose the site and the projects to use.")
    projects = format_html_join(
        ", ", "{} ({})", ((p["name"], p["key"]) for p in integration.config.get("projects", []))
    )
    return format_html(
        "Connected to <strong>{}</strong> ({}): {}.", site["name"], site["url"], projects
    )


JIRA = Step(
    name="jira",
    label="Jira",
    vendor="Atlassian",
    pick_path="projects",
    next_url="onboarding:slack",
    purpose="Link {org}'s pull requests to the Jira issues they mention. PR Insights reads "
    "your Jira projects; it never changes anything in Jira.",
    revoked_how="it was removed from the Atlassian account, or has expired.",
    pick_title="Choose Jira projects",
    choose_label="Choose projects",
    change_label="Change projects",
    chosen_key="site",
    loading="Loading your Jira sites and projects from Atlassian…",
    form=JiraProjectsForm,
    multiple=True,
    pick_field="projects",
    offer=_jira_offer,
    status=_jira_status,
    scope_form=JiraSiteForm,
    scope_label="Jira site",
    scope_waiting="Your Atlassian account granted several Jira sites: choose the one this "
    "team uses.",
    problems={
        "unknown_choice": (
            "That is not one of your Jira projects",
            "The site or projects sent are not among the ones Jira lists for your account now. "
            "Nothing was saved.",
            400,
        ),
        "nothing_offered": (
            "No Jira site to use",
            "Atlassian says this connection may use no Jira site. Connect again and choose "
            "your site on Atlassian's page under \u201cUse app on\u201d.",
            400,
        ),
    },
)


# -- Slack -----------------------------------------------------------------------------------


def _slack_offer(choices: SlackChoices) -> Offer:
    return Offer(
        legend=SafeString("Public channels"),
        options=[
            Option(
                c.id,
                f"#{c.name}",
                f"channel-{c.name}",
                c.id == choices.chosen_id,
                tag="PR Insights is in it" if c.is_member else "",
                note="" if c.is_member else "invite the app first",
            )
            for c in choices.channels
        ],
        empty="The workspace has no open public channels.",
    )


def _slack_status(integration: Integration) -> SafeString:
    config = integration.config
    workspace = config.get("workspace")
    if not config.get("channel_id"):
        where = format_html(" to the {} workspace", workspace) if workspace else ""
        return format_html("Slack is connected{}: choose the channel for notices.", where)
    where = format_html(" in the {} workspace", workspace) if workspace else ""
    problem = (
        format_html(' <span class="banner-bad">{}</span>', integration.status_detail)
        if integration.status == Integration.Status.ERROR
        else ""
    )
    return format_html(
        "Posting to <strong>#{}</strong>{}.{}", config.get("channel_name"), where, problem
    )


SLACK = Step(
    name="slack",
    label="Slack",
    vendor="Slack",
    pick_path="channel",
    next_url="onboarding:complete",
    purpose="Hear in a Slack channel when an import of {org} finishes or fails, even after "
    "you close this tab.",
    revoked_how="the app was removed from the workspace, or its token was revoked.",
    pick_title="Choose a Slack channel",
    choose_label="Choose a channel",
    change_label="Change channel",
    chosen_key="channel_id",
    loading="Loading the workspace's channels from Slack…",
    form=SlackChannelForm,
    multiple=False,
    pick_field="channel",
    offer=_slack_offer,
    status=_slack_status,
    pick_intro=SafeString(
        "PR Insights posts there when an import finishes or fails. It can post only in "
        "channels it was invited to: in Slack, type <code>/invite @PR Insights</code> in a "
        "channel to add it."
    ),
    problems={
        "unknown_choice": (
            "That channel cannot be used",
            "The channel sent is not one of the workspace's open public channels now. Nothing "
            "was saved.",
            400,
        ),
        "not_in_channel": (
            "PR Insights is not in that channel yet",
            "Slack only lets the app post in channels it was invited to.",
            409,
        ),
    },
)

STEPS: dict[str, Step] = {step.name: step for step in (JIRA, SLACK)}
