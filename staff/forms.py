"""Forms that validate what the staff pages receive."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django import forms
from django.utils import timezone

from staff.directory import TeamFilter
from sync.staff.audit import Action


class TeamSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, strip=True, label="Search")
    show = forms.ChoiceField(required=False, choices=TeamFilter.choices, label="Show")
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def clean_page(self) -> int:
        return self.cleaned_data.get("page") or 1


class JobChoiceForm(forms.Form):
    """Which of the team's jobs the team page shows (default: the latest)."""

    job = forms.IntegerField(required=False, min_value=1)


class ConfirmForm(forms.Form):
    """A destructive action runs only once the staff confirmed it on the confirmation page."""

    confirmed = forms.BooleanField(required=False)


class ExtendHistoryForm(forms.Form):
    extend_to = forms.DateField(
        label="Extend history back to", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean_extend_to(self) -> date:
        day: date = self.cleaned_data["extend_to"]
        if day >= timezone.now().date():
            raise forms.ValidationError("Choose a date in the past.")
        return day

    def extend_to_moment(self) -> datetime:
        """The start (UTC) of the chosen day: PRs updated since then are imported."""
        return datetime.combine(self.cleaned_data["extend_to"], time.min, tzinfo=UTC)


class AuditFilterForm(forms.Form):
    team = forms.CharField(required=False, max_length=100, strip=True, label="Team")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *Action.choices], label="Action"
    )
    actor = forms.CharField(required=False, max_length=150, strip=True, label="By")
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def clean_page(self) -> int:
        return self.cleaned_data.get("page") or 1
