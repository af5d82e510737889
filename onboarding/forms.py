"""Forms that validate what the onboarding pages receive."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

# GitHub: logins are alphanumeric with single hyphens, at most 39 characters.
github_login = RegexValidator(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$", "Not a GitHub name.")

MAX_REPOSITORIES = 5000


class OAuthCallbackForm(forms.Form):
    """What GitHub sends back to the callback: a code and our state, or an error."""

    state = forms.CharField(required=False, max_length=200)
    code = forms.CharField(required=False, max_length=200)
    error = forms.CharField(required=False, max_length=100)


class OrganizationPageForm(forms.Form):
    page = forms.IntegerField(required=False, min_value=1, max_value=1000)

    def clean_page(self) -> int:
        return self.cleaned_data.get("page") or 1


class ChooseOrganizationForm(forms.Form):
    org = forms.CharField(max_length=39, validators=[github_login])


class RepositoryIdsField(forms.Field):
    """A list of GitHub repository ids, sent as repeated ``repos`` values (checkboxes)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Choose at least one repository.",
        "invalid": "That is not a repository id.",
        "too_many": f"Choose at most {MAX_REPOSITORIES} repositories.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            ids = [int(item) for item in value]
        except (TypeError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if any(i <= 0 or i >= 2**63 for i in ids):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return list(dict.fromkeys(ids))

    def validate(self, value: list[int]) -> None:
        super().validate(value)
        if len(value) > MAX_REPOSITORIES:
            raise forms.ValidationError(self.error_messages["too_many"], code="too_many")


class RepositorySelectionForm(forms.Form):
    repos = RepositoryIdsField()


# -- Jira and Slack ------------------------------------------------------------------------------

# Jira: project keys are uppercase letters, digits and underscores, starting with a letter.
jira_key = RegexValidator(r"^[A-Z][A-Z0-9_]{0,254}$", "Not a Jira project key.")


class JiraSiteForm(forms.Form):
    """Which granted Jira site's projects to show (a cloud id)."""

    site = forms.CharField(required=False, max_length=100)


class JiraProjectKeysField(forms.Field):
    """Jira project keys, sent as repeated ``projects`` values (checkboxes)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Choose at least one project, or skip this step.",
        "invalid": "That is not a Jira project.",
    }

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        if not isinstance(value, list | tuple) or len(value) > 1000:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        for key in value:
            jira_key(key)
        return list(dict.fromkeys(value))


class JiraProjectsForm(forms.Form):
    site = forms.CharField(max_length=100)
    projects = JiraProjectKeysField()


CHOOSE_A_CHANNEL = "Choose a channel, or skip this step."


class SlackChannelForm(forms.Form):
    # Slack: conversation ids are uppercase letters and digits (C0123ABCD).
    channel = forms.RegexField(
        regex=r"^[A-Z0-9]{2,30}$",
        max_length=30,
        error_messages={k: CHOOSE_A_CHANNEL for k in ("required", "invalid", "max_length")},
    )
