from __future__ import annotations

from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "staff"

    def ready(self) -> None:
        from staff import directory
        from sync import progress

        progress.register_renderer("staff", directory.render_staff)
        progress.register_list_renderer("staff", directory.render_staff_jobs)
