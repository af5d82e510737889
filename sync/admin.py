from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from sync import models


class ReadOnlyAdmin(admin.ModelAdmin):
    """Imported data and job state are written by the sync only; editing would corrupt it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["github_org_login", "name", "created_at"]
    search_fields = ["github_org_login", "name"]


@admin.register(models.Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["team", "provider", "status", "updated_at"]
    list_filter = ["provider", "status"]
    exclude = ["credential"]


@admin.register(models.SyncJob)
class SyncJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "team", "kind", "status", "created_at", "finished_at"]
    list_filter = ["status", "kind"]


@admin.register(models.RepoSync)
class RepoSyncAdmin(ReadOnlyAdmin):
    list_display = ["id", "job", "repository", "status", "prs_synced", "error_code"]
    list_filter = ["status"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "team", "action", "outcome"]
    list_filter = ["action"]


for model in (models.TrackedRepository, models.TeamMember, models.PullRequest):
    admin.site.register(model, ReadOnlyAdmin)
