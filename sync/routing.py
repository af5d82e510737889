"""WebSocket routes for live sync progress."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from sync import consumers

websocket_urlpatterns: list[URLPattern] = [
    path("ws/sync/staff/", consumers.StaffProgressConsumer.as_asgi()),
    path("ws/sync/<int:job_id>/", consumers.JobProgressConsumer.as_asgi()),
    path("ws/team/<int:team_id>/", consumers.TeamOverviewConsumer.as_asgi()),
    re_path(r"", consumers.UnknownSocketConsumer.as_asgi()),
]
