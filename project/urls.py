from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from project import health

urlpatterns = [
    path("", RedirectView.as_view(url="/onboarding/start/", permanent=False)),
    path("onboarding/", include("onboarding.urls")),
    path("staff/syncs/", include("staff.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler500 = "project.errors.server_error"
