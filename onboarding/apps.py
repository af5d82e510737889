from __future__ import annotations

from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"

    def ready(self) -> None:
        from onboarding import overview, states
        from sync import consumers, progress

        # The pages draw what the sync publishes of a job (sync never imports the pages).
        progress.register_renderer("job", states.render_page)
        progress.register_renderer("team", states.render_team)
        consumers.register_overview_renderer("data", overview.render_data)
        consumers.register_overview_renderer("sync", overview.render_sync)
