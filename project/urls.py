from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from project import health
from sync.webhooks import views as webhooks

urlpatterns = [
    path("", RedirectView.as_view(url="/onboarding/start/", permanent=False)),
    path("onboarding/", include("onboarding.urls")),
    path("staff/syncs/", include("staff.urls")),
    path("admin/", admin.site.urls),
    path("webhooks/github/", webhooks.github_webhook, name="github_webhook"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler500 = "project.errors.server_error"
