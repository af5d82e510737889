"""The onboarding pages, one module per step."""
