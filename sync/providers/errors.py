"""Failures of a provider, at two levels, each naming the problem page that explains it.

Clients raise :class:`ProviderError` and its kinds (the provider answered something we cannot
use); the step's services raise :class:`IntegrationError` and its kinds (the step cannot go
on). ``problem`` is the code of the page the onboarding step shows; ``str(error)`` is safe to
show and never holds a token.
"""

from __future__ import annotations


class ProviderError(Exception):
    """The provider refused the call; ``code`` is its own error code, when it sends one."""

    problem = "oauth_error"

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Transient(ProviderError):
    """The provider could not be reached, timed out, failed, rate limited us or sent junk."""

    problem = "unavailable"

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class BadCode(ProviderError):
    """The authorization code was wrong, expired or already used."""

    problem = "bad_code"


class AccessRevoked(ProviderError):
    """The grant is gone: the token was revoked, expired for good, or lacks a needed scope."""

    problem = "revoked"


class Misconfigured(ProviderError):
    """The provider refused our app's client id, secret or redirect URL (settings)."""

    problem = "misconfigured"


class IntegrationError(Exception):
    """A provider step that cannot go on; ``str(error)`` is written for the user."""

    problem = "oauth_error"


class NotConnected(IntegrationError):
    """The team has no working connection to the provider: connect it first."""

    problem = "not_connected"


class Revoked(IntegrationError):
    """The provider no longer accepts the team's access; the integration is marked revoked."""

    problem = "revoked"


class UnknownChoice(IntegrationError):
    """A choice (site, project, channel) that is not among the ones the provider lists now."""

    problem = "unknown_choice"


class NothingOffered(IntegrationError):
    """The provider offers nothing to choose from under this grant (no Jira site)."""

    problem = "nothing_offered"


class NotInChannel(IntegrationError):
    """The Slack app's bot is not in the chosen channel, so it cannot post there."""

    problem = "not_in_channel"

    def __init__(self, channel_name: str) -> None:
        super().__init__(f"The app is not a member of #{channel_name}.")
        self.channel_name = channel_name
