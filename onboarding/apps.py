from __future__ import annotations

from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"

    def ready(self) -> None:
        from onboarding import states
        from sync import progress

        # The pages draw what the sync publishes of a job (sync never imports the pages).
        progress.register_renderer("job", states.render_page)
        progress.register_renderer("team", states.render_team)
