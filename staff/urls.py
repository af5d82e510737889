from __future__ import annotations

from django.urls import path

from staff import views

app_name = "staff"
urlpatterns = [
    path("", views.sync_list, name="syncs"),
    path("audit/", views.audit_log, name="audit"),
    path("teams/<int:team_id>/", views.team_detail, name="team"),
    path("teams/<int:team_id>/sync/", views.sync_now, name="sync_now"),
    path("teams/<int:team_id>/full-resync/", views.full_resync, name="full_resync"),
    path("teams/<int:team_id>/extend/", views.extend_history, name="extend_history"),
    path(
        "repositories/<int:repository_id>/resync/",
        views.resync_repository,
        name="resync_repository",
    ),
    path("jobs/<int:job_id>/retry/", views.retry_failed, name="retry_failed"),
    path("jobs/<int:job_id>/cancel/", views.cancel_job, name="cancel_job"),
    path("jobs/<int:job_id>/run-now/", views.run_now, name="run_now"),
]
