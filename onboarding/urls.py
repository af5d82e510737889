from __future__ import annotations

from django.urls import path

from onboarding.views import start

app_name = "onboarding"
urlpatterns = [
    path("start/", start.start, name="start"),
]
