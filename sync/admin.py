"""The Django admin: every model, read-only where editing by hand would corrupt state.

Teams, memberships and integrations are support's to fix (a wrong role, an integration to mark
revoked). Job state is written by the sync alone: jobs are started, retried and cancelled from
the staff page (``/staff/syncs/``), which goes through the services and the audit log. Imported
data is keyed on GitHub ids and re-imported, never edited. The audit log is append-only.
Tokens are never shown.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import BadRequest
from django.http import HttpRequest

from sync import models


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the sync only: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError) as error:
            # The date hierarchy at the calendar's end (year 9999, December) computes a bound past
            # Python's last date; Django catches only the bad values it parses itself.
            raise BadRequest("date filter out of range") from error


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["github_org_login", "name", "github_org_id", "created_at"]
    search_fields = ["github_org_login", "name"]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["team", "user"]
    search_fields = ["team__github_org_login", "user__username"]
    raw_id_fields = ["team", "user"]


@admin.register(models.Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["team", "provider", "status", "status_detail", "updated_at"]
    list_filter = ["provider", "status"]
    list_select_related = ["team"]
    search_fields = ["team__github_org_login"]
    exclude = ["credential"]
    raw_id_fields = ["team"]


@admin.register(models.IntegrationCredential)
class IntegrationCredentialAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "provider", "scopes", "expires_at", "updated_at"]
    list_filter = ["provider"]
    fields = ["user", "provider", "scopes", "expires_at", "created_at", "updated_at"]


@admin.register(models.GitHubAccount)
class GitHubAccountAdmin(ReadOnlyAdmin):
    list_display = ["login", "user", "github_id"]
    search_fields = ["login", "user__username"]
    exclude = ["credential"]


@admin.register(models.SyncJob)
class SyncJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "team", "kind", "status", "requested_by", "created_at", "finished_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["team", "requested_by"]
    search_fields = ["team__github_org_login"]
    date_hierarchy = "created_at"


@admin.register(models.RepoSync)
class RepoSyncAdmin(ReadOnlyAdmin):
    list_display = ["id", "job", "repository", "status", "prs_synced", "error_code"]
    list_filter = ["status", "error_code"]
    list_select_related = ["job", "repository"]
    search_fields = ["repository__full_name"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "team", "action", "outcome"]
    list_filter = ["action"]
    list_select_related = ["actor", "team"]
    search_fields = ["team__github_org_login", "actor__username", "outcome"]
    date_hierarchy = "created_at"


@admin.register(models.SyncNotice)
class SyncNoticeAdmin(ReadOnlyAdmin):
    list_display = ["job", "channel_id", "status", "error_code", "created_at", "sent_at"]
    list_filter = ["status"]


@admin.register(models.TrackedRepository)
class TrackedRepositoryAdmin(ReadOnlyAdmin):
    list_display = ["full_name", "team", "archived", "synced_until", "high_water_mark"]
    list_filter = ["archived"]
    list_select_related = ["team"]
    search_fields = ["full_name"]


@admin.register(models.TeamMember)
class TeamMemberAdmin(ReadOnlyAdmin):
    list_display = ["login", "team", "is_bot", "role"]
    list_select_related = ["team"]
    search_fields = ["login"]


@admin.register(models.PullRequest)
class PullRequestAdmin(ReadOnlyAdmin):
    list_display = ["repository", "number", "state", "author", "updated_at", "deleted_at"]
    list_filter = ["state"]
    list_select_related = ["repository"]
    search_fields = ["repository__full_name", "title"]

    @admin.display(description="author", ordering="author_login")
    def author(self, pull: models.PullRequest) -> str:
        return pull.author_display


for model in (models.Review, models.Commit):
    admin.site.register(model, ReadOnlyAdmin)
